"""HTTP server: a FastAPI app factory (`ferkit.server.app.create_app`); needs `ferkit[serve]`.

Nothing here is imported by `import ferkit`, so fastapi stays an optional extra.
"""
