"""Training configuration: YAML defaults, command-line overrides, and the resolved copy."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from ferkit.errors import FerkitError
from ferkit.pixels import DEFAULT_COLOR, DEFAULT_SIZE, check_input

#: Each class's loss weight ~ its frequency ** -power, in training and in `ferkit head`: 0 keeps
#: the data's balance, 1 weighs every class alike.
CLASS_WEIGHT_POWER = 0.3

DEFAULTS: dict[str, Any] = {
    "data": {
        "sources": [],
        "label_set": "ferplus",
        "cache_dir": ".cache/ferkit",
        "val_fold": 0,
        "limit": 0,             # >0: use only this many training items (quick runs, tests)
        "prepared": None,       # a `ferkit data pack` file: used instead of the sources
        # The faces the model sees: side in pixels (a multiple of 16 from 32 to 128; 48 is
        # FER2013's own) and "gray" or "bgr" (gray sources become three equal channels).
        "input_size": 48,
        "color": "gray",
    },
    "model": {"name": "fernet_s", "dropout": 0.3},
    "train": {
        "epochs": 40,
        "batch_size": 64,
        "optimizer": "adamw",        # or "sgd"
        "lr": 0.002,
        "momentum": 0.9,             # sgd only
        "weight_decay": 0.05,
        "label_smoothing": 0.1,
        "class_weight_power": CLASS_WEIGHT_POWER,
        "head_weights": {"fer2013": 1.0, "ferplus": 1.0, "posed": 0.5},
        # How a head's label loss is averaged: over the whole batch ("batch"), so that every
        # labelled item weighs the same whichever head it trains, or over the items labelled
        # for it ("labelled": how stages 1-4f were trained), which hands a small source's few
        # faces (CK+: 610 of 27,734, one or two per batch) a whole head's weight, slowing training.
        "label_loss_mean": "batch",
        "bf16": "auto",              # auto: where the hardware does bf16 natively; true; false
        "patience": 10,
        "seed": 0,
        "threads": 0,                # 0: let torch decide
        "warmup": 0.15,              # fraction of the schedule spent warming up
        "schedule": "onecycle",      # or "constant": warm up, then hold train.lr
        "swa_start": 0,              # >0: average the weights of this epoch on into swa.pt
        "init_from": None,           # checkpoint whose weights start this run (new schedule)
        "device": "auto",            # auto (a CUDA GPU if there is one), cpu or cuda
        "time_budget": 0,            # >0: seconds; sets epochs from timed steps (then fixed)
        "sized_by": None,            # written by a run that time_budget sized: how
        "stop_after": 0,             # >0: end this run after that epoch (resume it later)
        "mixup_prob": 0.0,           # share of batches blended with a shuffled copy
        "mixup_alpha": 0.2,          # blend weight ~ Beta(alpha, alpha)
        "teachers": [],              # checkpoints whose averaged outputs teach this model
        "teacher_cache": None,       # or `ferkit distill-cache`'s .npz: their outputs, run once
        "distill_weight": 0.5,       # share of the loss from the teachers (the rest: labels)
        "distill_temperature": 2.0,
    },
    "augment": {},
}


def data_input(config: dict) -> tuple[int, str]:
    """The (input_size, color) a resolved config trains at, checked; configs saved before the
    options existed trained at 48 px gray."""
    data = config.get("data") or {}
    return check_input(data.get("input_size", DEFAULT_SIZE), data.get("color", DEFAULT_COLOR))


def check_class_weight_power(power: float) -> float:
    """`power` if it is a number in [0, 2] (beyond 2 the rarest class swamps the rest), else
    a one-line error."""
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 <= power <= 2:
        raise FerkitError(f"class weight power must lie in [0, 2], got {power}")
    return float(power)


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(config: dict, assignment: str) -> None:
    """Apply one `section.key=value` override; the value is parsed as YAML."""
    key, sep, raw = assignment.partition("=")
    if not sep:
        raise FerkitError(f"override {assignment!r} must look like section.key=value")
    *parents, leaf = key.strip().split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise FerkitError(f"override {assignment!r}: {part} is not a section")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise FerkitError(f"override {assignment!r}: not a YAML value "
                          f"({str(exc).splitlines()[0]})") from None
    if isinstance(value, str):
        # YAML 1.1 reads "1e-4" (no dot) as a string; users mean the number.
        try:
            value = float(value)
        except ValueError:
            pass
    node[leaf] = value


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """One config file, with the file its `base:` key names (relative to it) merged beneath."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise FerkitError(f"{path}: config files name each other as base ({chain})")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FerkitError(f"{path}: cannot read config ({exc})") from None
    if not isinstance(loaded, dict):
        raise FerkitError(f"{path}: a config must be a YAML mapping of sections")
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    return _merge(_read_yaml(path.parent / str(base), (*seen, path)), loaded)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict:
    """Defaults, updated by the YAML file at `path`, then by each `key=value` override.

    A file may start from another with `base: other.yaml` (a path relative to the file): it
    then lists only what it changes. Lists are replaced, not extended.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        config = _merge(config, _read_yaml(Path(path)))
    for assignment in overrides:
        set_dotted(config, assignment)
    check_keys(config)  # a misspelt key would train hours with the default instead
    check_class_weight_power(config["train"]["class_weight_power"])  # before any data loads
    return config


def check_keys(config: dict) -> None:
    """FerkitError naming the first section or key of `config` that no part of training
    reads (with the nearest known name): `DEFAULTS`' keys, and `AugmentConfig`'s fields."""
    from dataclasses import fields

    from ferkit.train.augment import AugmentConfig

    known = {section: set(keys) for section, keys in DEFAULTS.items()}
    known["augment"] = {field.name for field in fields(AugmentConfig)}
    for section, values in config.items():
        if section not in known:
            raise FerkitError(f"config: unknown section {section!r}{_nearest(section, known)} "
                              f"(sections: {', '.join(known)})")
        if not isinstance(values, dict):
            raise FerkitError(f"config: {section} must be a mapping of keys, got {values!r}")
        for key in values:
            if key not in known[section]:
                raise FerkitError(f"config: unknown key {section}.{key}"
                                  f"{_nearest(key, known[section], section + '.')}")


def _nearest(name: str, choices: Collection[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


def save_config(config: dict, path: Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from ferkit.outputs import atomic_write_bytes

    atomic_write_bytes(path, yaml.safe_dump(config, sort_keys=False).encode())
