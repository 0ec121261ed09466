"""Apply lab/README.md's rule for shipping a candidate model, written before its results.

The candidate replaces the shipped model if, on every one of RAF-DB, FER2013, FER+ and CK+,
its default-path accuracy (the reports `tools/evaluate_shipped.sh` writes) is no more than one
standard error, sqrt(p(1-p)/n) of the shipped model's accuracy p on n faces, below the
shipped model's. Macro recall is printed beside it, not part of the rule.

    python lab/tools/ship_rule.py runs/scratch30-bgr-occlude/eval [docs/eval/shipped]

Exit status 0: ship it; 1: keep the shipped model; 2: a report is missing or unreadable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

#: The four reports the rule reads: each set with the label set the card's table reports.
REPORTS = {"RAF-DB": "rafdb-fer2013", "FER2013": "fer2013-fer2013",
           "FER+": "ferplus-ferplus", "CK+": "ckplus-ferplus"}


@dataclass(frozen=True)
class Comparison:
    """One validation set: shipped and candidate accuracy, and the rule's verdict on it."""

    name: str
    faces: int
    shipped: float
    candidate: float
    shipped_macro: float
    candidate_macro: float

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.shipped * (1 - self.shipped) / self.faces)

    @property
    def passes(self) -> bool:
        return self.candidate >= self.shipped - self.standard_error


def _report(folder: Path, name: str) -> dict:
    path = folder / f"eval-{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"ship_rule: cannot read {path}: {exc}") from None


def compare(candidate: Path, shipped: Path) -> list[Comparison]:
    """The rule's four comparisons, from two folders of `ferkit evaluate --out` reports."""
    rows = []
    for name, report in REPORTS.items():
        old, new = _report(shipped, report), _report(candidate, report)
        if old["samples"]["evaluated"] != new["samples"]["evaluated"]:
            raise SystemExit(f"ship_rule: {report} scored {old['samples']['evaluated']} faces "
                             f"for the shipped model, {new['samples']['evaluated']} for the "
                             "candidate: not the same validation faces")
        rows.append(Comparison(name, old["samples"]["evaluated"], old["accuracy"],
                               new["accuracy"], old["macro_recall"], new["macro_recall"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", type=Path, help="the candidate's evaluate_shipped.sh folder")
    parser.add_argument("shipped", type=Path, nargs="?", default=Path("docs/eval/shipped"))
    args = parser.parse_args(argv)
    try:
        rows = compare(args.candidate, args.shipped)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    print("| set | faces | shipped | candidate | 1 SE | macro recall: shipped → candidate | "
          "within 1 SE |")
    print("|---|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.faces} | {100 * r.shipped:.1f} % | {100 * r.candidate:.1f} % "
              f"| {100 * r.standard_error:.1f} | {100 * r.shipped_macro:.1f} → "
              f"{100 * r.candidate_macro:.1f} % | {'yes' if r.passes else 'no'} |")
    ship = all(r.passes for r in rows)
    print("\nverdict:", "ship the candidate" if ship else "keep the shipped model")
    return 0 if ship else 1


if __name__ == "__main__":
    sys.exit(main())
