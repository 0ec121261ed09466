"""Seconds per training step of fernet_s (batch 64, AdamW, 4 heads) in fp32 and bf16 autocast.

    python lab/tools/step_time.py        # on an idle machine; output: lab/eval/step-time.txt

Measured once to choose `train.bf16: auto` (fp32 where the CPU has no native bf16).
"""

from __future__ import annotations

import time

import torch

from ferkit.train.models import create_model


def main() -> None:
    torch.set_num_threads(2)
    net = create_model("fernet_s", heads=("fer2013", "ferplus", "posed", "rafdb"))
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.randn(64, 1, 48, 48).to(memory_format=torch.channels_last)
    y = torch.randint(0, 8, (64,))
    for bf16, steps in ((False, 10), (True, 3)):
        def step(bf16: bool = bf16) -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = net(x)
                loss = sum(torch.nn.functional.cross_entropy(o.float(), y)
                           for o in out.values())
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = (time.perf_counter() - start) / steps
        print(f"{'bf16' if bf16 else 'fp32'} {seconds:.2f} s/step")


if __name__ == "__main__":
    main()
