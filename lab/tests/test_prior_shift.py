"""lab/tools/prior_shift.py: the per-class constant search finds a shift that a biased model
needs."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "prior_shift", Path(__file__).parents[1] / "tools" / "prior_shift.py")
prior_shift = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prior_shift)


def test_fit_shift_undoes_a_constant_bias():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logp = rng.normal(0, 0.1, (600, 3))
    logp[np.arange(600), y] += 0.5
    logp[:, 2] += 0.7  # a prior that pulls most faces to class 2
    assert prior_shift.accuracy(logp, y, np.zeros(3)) < 0.5
    shift = prior_shift.fit_shift(logp, y)
    assert prior_shift.accuracy(logp, y, shift) > 0.95
    assert shift[2] - shift[:2].mean() < -0.4
