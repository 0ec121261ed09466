"""Calibration: expected calibration error, reliability bins, and temperature scaling."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError

#: Equal-width confidence bins for ECE and the reliability diagram (Guo et al. 2017 use 15).
ECE_BINS = 15
#: The range a fitted temperature is searched in; a fit that ends on a bound says so.
T_RANGE = (0.05, 20.0)
#: Fewer faces than this on the fitting half give a temperature too noisy to ship.
MIN_FIT_FACES = 200
#: The smallest float32 probability taken as-is; exact zeros become this before the log.
_TINY = float(np.finfo(np.float32).tiny)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale softmax outputs as if their logits were divided by `temperature`.

    The graph outputs probabilities, not logits; softmax(log p / T) = p^(1/T) renormalised is
    the same as softmax(z / T) for the logits z the network had, so T acts exactly as it would
    on logits. T = 1 returns `probs` unchanged (not a copy). Renormalising before or after
    projecting onto a smaller label set gives the same result, so one T serves every set.
    """
    if temperature == 1.0:
        return probs
    if not (math.isfinite(temperature) and temperature > 0):
        raise FerkitError(f"temperature must be a positive number, got {temperature!r}")
    scaled = np.log(np.maximum(np.asarray(probs, np.float64), _TINY)) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    out = np.exp(scaled)
    out /= out.sum(axis=-1, keepdims=True)
    return out.astype(np.float32)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (natural log)."""
    p = np.asarray(probs, np.float64)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.maximum(p, _TINY)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T in `T_RANGE` minimising the NLL of `apply_temperature(probs, T)`.

    With b = 1/T the NLL is convex in b (a log-sum-exp of linear functions minus a linear
    one), so the zero of its derivative, E_b[log p] - log p_true averaged over faces, is found
    by bisection; the result is exact to about 1e-6 relative.
    """
    labels = np.asarray(labels, np.int64)
    log_p = np.log(np.maximum(np.asarray(probs, np.float64), _TINY))
    if log_p.ndim != 2 or len(log_p) != len(labels) or not len(labels):
        raise FerkitError(f"need probabilities (N, K) and N labels, got {log_p.shape} and "
                          f"{labels.shape}")
    true = log_p[np.arange(len(labels)), labels]

    def slope(b: float) -> float:  # d NLL / d b
        z = b * log_p
        z -= z.max(axis=1, keepdims=True)
        w = np.exp(z)
        w /= w.sum(axis=1, keepdims=True)
        return float(((w * log_p).sum(axis=1) - true).mean())

    lo, hi = 1 / T_RANGE[1], 1 / T_RANGE[0]  # in b = 1/T; the slope rises with b
    if slope(lo) >= 0:
        return T_RANGE[1]
    if slope(hi) <= 0:
        return T_RANGE[0]
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if slope(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 1 / math.sqrt(lo * hi)


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> dict:
    """Expected calibration error of the top-1 confidence, with the bins it comes from.

    Bin i holds the faces whose top probability lies in (i/n, (i+1)/n] (the first bin also
    takes 0). ECE = sum over bins of (faces in bin / all faces) * |accuracy - mean confidence|.
    """
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.int64)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise FerkitError(f"need probabilities (N, K) and N labels, got {probs.shape} and "
                          f"{labels.shape}")
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = probs.argmax(axis=1) == labels if len(probs) else np.zeros(0, bool)
    index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    bins, ece = [], 0.0
    for i in range(n_bins):
        members = index == i
        count = int(members.sum())
        acc = float(correct[members].mean()) if count else None
        conf = float(confidence[members].mean()) if count else None
        if count:
            ece += count / len(labels) * abs(acc - conf)
        bins.append({"lower": i / n_bins, "upper": (i + 1) / n_bins, "count": count,
                     "accuracy": acc, "confidence": conf})
    return {"ece": ece, "mean_confidence": float(confidence.mean()) if len(probs) else 0.0,
            "nll": nll(probs, labels) if len(probs) else 0.0, "bins": bins}


def calibration_half(name: str) -> int:
    """0 (the half temperatures are fitted on) or 1 (the half they are judged on).

    A fixed hash of the file name, so the halves are the same on every machine and run.
    """
    return hashlib.sha1(name.encode()).digest()[0] & 1


def fit_on_halves(probs: np.ndarray, labels: np.ndarray, names: list[str], *,
                  temperature_before: float = 1.0, min_faces: int = MIN_FIT_FACES,
                  what: str = "data") -> dict:
    """Fit a temperature on one half of labelled faces and judge it on the other half.

    `probs` are a head's uncalibrated probabilities (projected onto the label set the labels
    index) and `names` the faces' file names, which `calibration_half` splits. The report
    compares, on the held-out half only, the probabilities with `temperature_before` (what
    the model gave so far) and with the fitted temperature; accuracy is the same for both,
    since a temperature never changes which class is most probable.
    """
    probs, labels = np.asarray(probs), np.asarray(labels, np.int64)
    half = np.array([calibration_half(Path(n).name) for n in names], dtype=np.int64)
    fit, check = half == 0, half == 1
    if fit.sum() < min_faces or not check.any():
        raise FerkitError(f"{what}: {int(fit.sum())} faces in the fitting half and "
                          f"{int(check.sum())} in the held-out half; a temperature needs at "
                          f"least {min_faces} to fit (leave this head at its temperature)")
    temperature = fit_temperature(probs[fit], labels[fit])
    before = reliability(apply_temperature(probs[check], temperature_before), labels[check])
    after = reliability(apply_temperature(probs[check], temperature), labels[check])
    return {
        "temperature_before": temperature_before, "temperature": temperature,
        "at_search_bound": temperature in T_RANGE,
        "faces_fit": int(fit.sum()), "faces_held_out": int(check.sum()),
        "accuracy_held_out": float((probs[check].argmax(axis=1) == labels[check]).mean()),
        "ece_before": before["ece"], "ece_after": after["ece"],
        "nll_before": before["nll"], "nll_after": after["nll"],
        "mean_confidence_before": before["mean_confidence"],
        "mean_confidence_after": after["mean_confidence"],
        "reliability_bins_before": before["bins"], "reliability_bins_after": after["bins"],
    }


def write_temperatures(src: Path, out: Path, temperatures: Mapping[str, float]) -> Path:
    """Copy the ONNX model `src` to `out` (atomically) with its `temperatures` metadata set.

    Heads not named keep the temperature `src` has; every other byte of the graph is kept.
    `out` may be `src` only when the caller means to replace it.
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("writing model metadata needs the onnx package "
                          "(pip install 'ferkit[train]' or pip install onnx)") from None
    from ferkit.outputs import atomic_write_bytes

    proto = onnx.load(str(src))
    meta = {p.key: p.value for p in proto.metadata_props}
    heads = json.loads(meta.get("heads", "[]"))
    unknown = sorted(set(temperatures) - set(heads))
    if unknown:
        raise FerkitError(f"{src}: no head {', '.join(unknown)} (heads: {', '.join(heads)})")
    merged = {h: 1.0 for h in heads} | json.loads(meta.get("temperatures", "{}"))
    merged |= {h: float(t) for h, t in temperatures.items()}
    meta["temperatures"] = json.dumps(merged)
    onnx.helper.set_model_props(proto, meta)
    atomic_write_bytes(Path(out), proto.SerializeToString())
    return Path(out)
