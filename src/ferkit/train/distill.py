"""Knowledge distillation: an ensemble of trained checkpoints whose soft outputs teach a student."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ferkit.errors import FerkitError
from ferkit.train.models import create_model


def load_checkpoint_model(path: Path, device: torch.device) -> nn.Module:
    """The network saved in a `ferkit train` checkpoint, in eval mode on `device`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        mc = state["config"]["model"]
        model = create_model(mc["name"], heads=state["heads"], dropout=mc.get("dropout", 0.0))
        model.load_state_dict(state["model"])
    except (OSError, KeyError, RuntimeError, TypeError, ValueError,
            pickle.UnpicklingError) as exc:
        raise FerkitError(f"{path}: not a usable ferkit checkpoint ({exc})") from None
    return model.to(device, memory_format=torch.channels_last).eval()


class Teachers(nn.Module):
    """Several trained networks averaged: `forward` gives each head's log mean probability.

    The teachers never train: their weights are frozen and they always run in eval mode.
    """

    def __init__(self, paths: Sequence[str | Path], device: torch.device):
        super().__init__()
        if not paths:
            raise FerkitError("train.teachers is empty: name at least one checkpoint")
        self.members = nn.ModuleList(load_checkpoint_model(Path(p), device) for p in paths)
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> Teachers:
        return super().train(False)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, present: dict[str, torch.Tensor],
                      temperature: float) -> dict[str, torch.Tensor]:
        """Mean over the teachers of softmax(logits / T) over each head's `present` classes
        (an index tensor)."""
        probs: dict[str, list[torch.Tensor]] = {}
        for member in self.members:
            for h, logits in member(x).items():
                if h in present:
                    p = F.softmax(logits.float()[:, present[h]] / temperature, dim=1)
                    probs.setdefault(h, []).append(p)
        # A head is averaged over the teachers that have it.
        return {h: sum(ps) / len(ps) for h, ps in probs.items()}

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        probs: dict[str, list[torch.Tensor]] = {}
        for member in self.members:
            for h, logits in member(x).items():
                probs.setdefault(h, []).append(F.softmax(logits.float(), dim=1))
        return {h: torch.log(sum(ps) / len(ps)) for h, ps in probs.items()}


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
