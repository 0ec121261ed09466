"""lab/tools/ship_rule.py: the pre-registered rule ships a candidate only when every set is
within one standard error of the shipped model, and refuses reports on different faces."""

import importlib.util
import json
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "ship_rule", Path(__file__).parents[1] / "tools" / "ship_rule.py")
ship_rule = importlib.util.module_from_spec(_spec)
sys.modules["ship_rule"] = ship_rule  # dataclasses look their module up there
_spec.loader.exec_module(ship_rule)


def _write(folder: Path, accuracies: dict[str, float], faces: int = 400) -> Path:
    folder.mkdir()
    for report, accuracy in zip(ship_rule.REPORTS.values(), accuracies.values(), strict=True):
        (folder / f"eval-{report}.json").write_text(json.dumps({
            "accuracy": accuracy, "macro_recall": accuracy - 0.1,
            "samples": {"evaluated": faces}}))
    return folder


def test_within_one_standard_error_everywhere_ships(tmp_path, capsys):
    # 400 faces at 80 %: one standard error is 2.0 points.
    shipped = _write(tmp_path / "shipped", dict.fromkeys(ship_rule.REPORTS, 0.80))
    candidate = _write(tmp_path / "candidate",
                       {"RAF-DB": 0.785, "FER2013": 0.81, "FER+": 0.80, "CK+": 0.90})
    assert ship_rule.main([str(candidate), str(shipped)]) == 0
    assert "ship the candidate" in capsys.readouterr().out


def test_one_set_beyond_one_standard_error_keeps_the_shipped_model(tmp_path, capsys):
    shipped = _write(tmp_path / "shipped", dict.fromkeys(ship_rule.REPORTS, 0.80))
    candidate = _write(tmp_path / "candidate",
                       {"RAF-DB": 0.90, "FER2013": 0.90, "FER+": 0.775, "CK+": 0.90})
    assert ship_rule.main([str(candidate), str(shipped)]) == 1
    out = capsys.readouterr().out
    assert "| FER+ | 400 | 80.0 % | 77.5 % | 2.0 |" in out
    assert "keep the shipped model" in out


def test_reports_on_different_faces_or_missing_are_refused(tmp_path, capsys):
    shipped = _write(tmp_path / "shipped", dict.fromkeys(ship_rule.REPORTS, 0.80))
    other = _write(tmp_path / "other", dict.fromkeys(ship_rule.REPORTS, 0.80), faces=399)
    assert ship_rule.main([str(other), str(shipped)]) == 2
    assert "not the same validation faces" in capsys.readouterr().err
    assert ship_rule.main([str(tmp_path / "missing"), str(shipped)]) == 2
    assert "cannot read" in capsys.readouterr().err
