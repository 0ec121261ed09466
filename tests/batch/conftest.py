"""tests/batch: every module needs pyarrow (the `batch` extra); skip them where it is absent."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("pyarrow") else ["test_*.py"]
