"""uvicorn's logging for `ferkit serve`, with API keys in URLs (`?api_key=`) masked."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

#: `api_key=...` in a query string, up to the next `&`, space, quote or end.
KEY_IN_URL = re.compile(r"(?i)(\bapi_key=)[^&\s\"']*")
MASK = "***"


def redact(text: str) -> str:
    return KEY_IN_URL.sub(lambda m: m.group(1) + MASK, text)


class RedactKeys(logging.Filter):
    """Masks API keys in a record's arguments (uvicorn passes paths as arguments) and text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's own logging configuration with RedactKeys on each of its handlers; the
    server's own messages (logger "ferkit") go to uvicorn's console handler at `level`."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_keys"] = {"()": RedactKeys}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_keys")
    config["loggers"]["ferkit"] = {"handlers": ["default"], "level": level.upper(),
                                   "propagate": False}
    return config
