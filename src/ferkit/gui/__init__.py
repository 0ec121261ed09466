"""The desktop app (`ferkit gui`): display-free logic in plain modules, Tk widgets in app.py."""
