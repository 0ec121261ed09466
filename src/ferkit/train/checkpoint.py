"""Reading the checkpoints `ferkit train` writes (best.pt, last.pt), with one-line errors."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from ferkit.errors import FerkitError
from ferkit.pixels import CHANNELS
from ferkit.train.config import data_input
from ferkit.train.models import create_model


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at `path`; FerkitError when it is missing, unreadable or foreign."""
    path = Path(path)
    if not path.is_file():
        raise FerkitError(f"{path}: no such checkpoint")
    try:
        # weights_only: tensors and plain data only, so a crafted file cannot run code on load.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise FerkitError(f"{path}: refused: it holds pickled objects beyond tensors and plain "
                          f"data{_unsupported_global(exc)}; ferkit never runs code from a "
                          "checkpoint") from None
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise FerkitError(f"{path}: not a readable torch checkpoint "
                          f"({_first_line(exc)})") from None
    if not isinstance(state, dict) or not {"model", "config", "heads"} <= set(state):
        raise FerkitError(f"{path}: not a ferkit training checkpoint "
                          "(expected the last.pt/best.pt that `ferkit train` writes)")
    return state


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unsupported_global(exc: Exception) -> str:
    """What the file asked to load (e.g. " (posix.system)"), from torch's long message."""
    match = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    return f" ({match.group(1)})" if match else ""


def load_weights(model: nn.Module, state: dict, path: str | Path) -> None:
    """Load the checkpoint `state` (read from `path`) into `model`, or fail in one line."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise FerkitError(f"{path}: weights do not fit {type(model).__name__} "
                          f"with heads {list(state['heads'])} ({exc})") from None


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the model saved by `Trainer.save` in eval mode; return it with the checkpoint."""
    state = read_checkpoint(path)
    mc = state["config"]["model"]
    size, color = data_input(state["config"])
    try:
        model = create_model(mc["name"], heads=state["heads"], dropout=mc.get("dropout", 0.0),
                             input_size=size, in_channels=CHANNELS[color])
    except ValueError as exc:  # a model name this version's registry lacks
        raise FerkitError(f"{path}: {exc}") from None
    load_weights(model, state, path)
    return model.eval(), state
