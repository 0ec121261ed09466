"""Carry an unfinished training run to the next machine through git, in files under 15 MB.

A development machine here lasts one session and keeps nothing but the repository, while the
from-scratch recipe (lab/configs/scratch30-bgr.yaml) needs about three sessions. `pack` turns
a run's last.pt (33 MB for fernet_s: weights and AdamW's two moments in float32) into
weights.pt (float32, exact) and moments.pt (bfloat16: 3 significant digits, ample for running
averages of gradients), plus metrics.csv and, when an earlier epoch scored best, best.pt.
`unpack` rebuilds the run folder, and `ferkit train ... --resume` goes on from there.

    python lab/tools/carry_run.py pack runs/scratch30-bgr lab/carry/scratch30-bgr
    python lab/tools/carry_run.py unpack lab/carry/scratch30-bgr runs/scratch30-bgr
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from ferkit.errors import FerkitError
from ferkit.train.checkpoint import read_checkpoint

MOMENTS = ("exp_avg", "exp_avg_sq")


def pack(run: Path, dest: Path) -> list[Path]:
    """Split `run`/last.pt into `dest`/weights.pt and moments.pt; copy what resuming reads."""
    state = read_checkpoint(run / "last.pt")
    optimizer = state.pop("optimizer")
    if any(set(s) != {"step", *MOMENTS} for s in optimizer["state"].values()):
        raise FerkitError(f"{run / 'last.pt'}: only AdamW runs can be carried (its state "
                          f"holds {', '.join(MOMENTS)} and step per weight)")
    moments = {i: {k: v.to(torch.bfloat16) for k, v in s.items() if k in MOMENTS}
               for i, s in optimizer["state"].items()}
    steps = {i: s["step"] for i, s in optimizer["state"].items()}
    dest.mkdir(parents=True, exist_ok=True)
    torch.save({**state, "optimizer_steps": steps,
                "optimizer_groups": optimizer["param_groups"]}, dest / "weights.pt")
    torch.save(moments, dest / "moments.pt")
    written = [dest / "weights.pt", dest / "moments.pt"]
    for name in ("metrics.csv", "config.yaml"):
        shutil.copy2(run / name, dest / name)
        written.append(dest / name)
    best = dest / "best.pt"
    if state["best_epoch"] < state["epoch"]:
        shutil.copy2(run / "best.pt", best)
        written.append(best)
    elif best.exists():
        best.unlink()
    return written


def unpack(src: Path, run: Path) -> Path:
    """Rebuild `run`/last.pt (moments back in float32), metrics.csv, config.yaml, best.pt."""
    state = read_checkpoint(src / "weights.pt")
    moments = torch.load(src / "moments.pt", map_location="cpu", weights_only=True)
    steps = state.pop("optimizer_steps")
    state["optimizer"] = {
        "state": {i: {"step": steps[i], **{k: v.float() for k, v in m.items()}}
                  for i, m in moments.items()},
        "param_groups": state.pop("optimizer_groups"),
    }
    run.mkdir(parents=True, exist_ok=True)
    if (run / "last.pt").exists():
        raise FerkitError(f"{run / 'last.pt'} exists: unpack into an empty run folder")
    torch.save(state, run / "last.pt")
    for name in ("metrics.csv", "config.yaml"):
        shutil.copy2(src / name, run / name)
    if (src / "best.pt").exists():
        shutil.copy2(src / "best.pt", run / "best.pt")
    else:  # the last epoch was the best: best.pt is its weights alone
        torch.save({k: state[k] for k in ("model", "config", "heads", "epoch", "best_score")},
                   run / "best.pt")
    return run / "last.pt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            for path in pack(args.source, args.dest):
                print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")
        else:
            print(f"{unpack(args.source, args.dest)}: resume with ferkit train --resume")
    except (FerkitError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
