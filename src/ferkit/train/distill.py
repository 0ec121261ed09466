"""Knowledge distillation: an ensemble's soft outputs, run online or cached, teach a student."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ferkit.errors import FerkitError
from ferkit.train.checkpoint import load_checkpoint


class Teachers(nn.Module):
    """Several trained networks averaged: `forward` gives each head's log mean probability.

    The teachers never train: their weights are frozen and they always run in eval mode.
    """

    def __init__(self, paths: Sequence[str | Path], device: torch.device,
                 student_input: tuple[int, int] = (48, 1)):
        """`student_input`: the (side, channels) the student sees, which every teacher must
        see too."""
        super().__init__()
        if not paths:
            raise FerkitError("train.teachers is empty: name at least one checkpoint")
        members = [load_checkpoint(p)[0] for p in paths]
        for path, member in zip(paths, members, strict=True):
            seen = (getattr(member, "input_size", 48), getattr(member, "in_channels", 1))
            if seen != tuple(student_input):
                raise FerkitError(f"teacher {path} takes {seen[0]} px faces with {seen[1]} "
                                  f"channel(s); this run trains on {student_input[0]} px "
                                  f"with {student_input[1]}")
        self.members = nn.ModuleList(
            m.to(device, memory_format=torch.channels_last) for m in members)
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> Teachers:
        return super().train(False)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, present: dict[str, torch.Tensor] | None = None,
                      temperature: float = 1.0) -> dict[str, torch.Tensor]:
        """Mean over the teachers of softmax(logits / T), for the heads in `present` and over
        their classes there (index tensors); every head and class when `present` is None."""
        probs: dict[str, list[torch.Tensor]] = {}
        for member in self.members:
            for h, logits in member(x).items():
                if present is None or h in present:
                    classes = logits.float() if present is None else logits.float()[:, present[h]]
                    probs.setdefault(h, []).append(F.softmax(classes / temperature, dim=1))
        # A head is averaged over the teachers that have it.
        return {h: sum(ps) / len(ps) for h, ps in probs.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {h: torch.log(p) for h, p in self.probabilities(x).items()}


def soften(probs: torch.Tensor, present: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cached ensemble probabilities (N, 8) -> softmax(log p / T) over the classes `present`.

    log p is the ensemble's logits up to a per-row constant, which softmax ignores, so this is
    the ensemble's distribution softened by T (and renormalised over the head's classes).
    `Teachers.probabilities` softens each teacher before averaging; a cache holds the average
    at T = 1, so it is the average that is softened here: the same targets at T = 1 only.
    """
    logp = probs.float()[:, present].clamp_min(torch.finfo(torch.float32).tiny).log()
    return F.softmax(logp / temperature, dim=1)


def distill_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                 present: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, times T^2 so its gradients keep their scale.

    Only the classes a head was trained on (the index tensor `present`) count: the others'
    logits were never trained.
    """
    logq = F.log_softmax(student_logits.float()[:, present] / temperature, dim=1)
    p = teacher_probs
    kl = (p * (p.clamp_min(1e-8).log() - logq)).sum(dim=1)
    return kl.mean() * temperature**2
