"""Where a training step's time goes: torch.profiler over real steps of a `ferkit train` config.

    python lab/tools/profile_steps.py --config lab/configs/stage4b.yaml --set data.prepared=X.npz
    python lab/tools/profile_steps.py --config lab/configs/teacher.yaml \
        --set train.batch_size=512 ...

Prints the wall time per step, then the operators with the most CPU time and, on a GPU, the
most GPU time. On a GPU, a step whose CPU total far exceeds its GPU total is bound by Python,
kernel launches and the JPEG codec, not by arithmetic: larger batches are then nearly free.
The steps change a throwaway copy of the model only; nothing is written.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

from ferkit.train.config import load_config
from ferkit.train.loop import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as `ferkit train --set`")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps (after 5 warm)")
    parser.add_argument("--rows", type=int, default=15, help="operators to list")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out)
        gen = torch.Generator(device=trainer.device).manual_seed(0)
        trainer.probe_steps(5, gen)  # cuDNN autotuning, allocator warm-up
        activities = [ProfilerActivity.CPU]
        if trainer.device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        wall = time.perf_counter()
        with profile(activities=activities) as prof:
            trainer.probe_steps(args.steps, gen, first=5)
        wall = (time.perf_counter() - wall) / args.steps
    bs = config["train"]["batch_size"]
    print(f"{trainer.device}, batch {bs}: {wall * 1000:.1f} ms per step (profiled), "
          f"{wall * trainer.steps_per_epoch:.1f} s per epoch of "
          f"{len(trainer.train_data)} faces without validation")
    averages = prof.key_averages()
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    if trainer.device.type == "cuda":
        print(averages.table(sort_by="self_cuda_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
