"""Training, evaluation and export of ferkit's expression CNN (needs the `train` extra: torch)."""
