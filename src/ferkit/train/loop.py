"""The training loop: epochs of augmented batches, per-head losses, validation, checkpoints."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ferkit.datasets.combine import HEADS, CombinedDataset, load_combined
from ferkit.errors import FerkitError
from ferkit.train.augment import AugmentConfig, augment
from ferkit.train.config import save_config
from ferkit.train.models import create_model

#: Pixel normalisation, stored in the exported model's metadata.
MEAN, STD = 0.5, 0.25


@dataclass
class EpochResult:
    """What one epoch measured."""

    epoch: int
    lr: float
    loss: float
    train_acc: float
    val: dict[str, float]
    seconds: float


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 48, 48) faces -> normalised float tensor (N, 1, 48, 48)."""
    x = torch.as_tensor(images).float().div_(255.0).unsqueeze(1)
    return (x - MEAN) / STD


def class_weights(targets: np.ndarray, power: float) -> torch.Tensor:
    """Per-class loss weights ~ frequency ** -power, mean 1 over the classes present."""
    freq = targets.sum(axis=0)
    weights = np.where(freq > 0, np.maximum(freq, 1) ** -power, 0.0)
    present = freq > 0
    weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                       smoothing: float) -> torch.Tensor:
    """Cross-entropy against target distributions, smoothed over the classes the head sees."""
    present = (weights > 0).float()
    target = (1 - smoothing) * target + smoothing * present / present.sum()
    logp = F.log_softmax(logits.float(), dim=1)
    per_item = -(target * logp * weights).sum(dim=1)
    return per_item.mean()


def labelled(target: np.ndarray) -> np.ndarray:
    """Items whose label is clear: hard labels, or FER+ majorities above half."""
    return target.max(axis=1) > 0.5


def validation_score(val: dict[str, float], counts: dict[str, int]) -> float:
    """Accuracy pooled over every head's labelled validation items, each head weighted by its
    item count: a 160-face CK+ fold must not swing the choice of the best epoch."""
    return sum(acc * counts[h] for h, acc in val.items()) / sum(counts[h] for h in val)


def evaluate_heads(model: torch.nn.Module, data: CombinedDataset, batch: int = 512,
                   flip: bool = False) -> dict[str, float]:
    """Top-1 accuracy of each head on the items that head has a label for."""
    model.eval()
    outputs: dict[str, list[torch.Tensor]] = {h: [] for h in HEADS}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for start in range(0, len(data), batch):
            x = to_input(data.images[start : start + batch])
            out = model(x)
            if flip:
                out_f = model(torch.flip(x, dims=[3]))
                out = {h: F.softmax(out[h], 1) + F.softmax(out_f[h], 1) for h in out}
            for h in HEADS:
                if h in out:
                    outputs[h].append(out[h].float())
    result = {}
    for h in HEADS:
        if not outputs[h]:
            continue
        target = data.targets[h]
        has = labelled(target)
        if has.any():
            pred = torch.cat(outputs[h]).argmax(1).numpy()
            result[h] = float((pred[has] == target[has].argmax(1)).mean())
    return result


def make_optimizer(model: torch.nn.Module, tc: dict) -> torch.optim.Optimizer:
    """AdamW (default) or SGD with Nesterov momentum, as `train.optimizer` says."""
    if tc.get("optimizer", "adamw") == "sgd":
        return torch.optim.SGD(model.parameters(), lr=tc["lr"], momentum=tc["momentum"],
                               nesterov=True, weight_decay=tc["weight_decay"])
    return torch.optim.AdamW(model.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])


class Trainer:
    """Trains a model from a resolved config into `out_dir`, resumable from `last.pt`."""

    def __init__(self, config: dict, out_dir: Path):
        self.config = config
        self.out = Path(out_dir)
        tc = config["train"]
        if tc.get("threads"):
            torch.set_num_threads(int(tc["threads"]))
        torch.manual_seed(tc["seed"])
        dc = config["data"]
        if not dc["sources"]:
            raise FerkitError("no training data: give --data SOURCE (or data.sources in config)")
        data = load_combined(dc["sources"], dc["label_set"], Path(dc["cache_dir"]),
                             dc["val_fold"])
        self.train_data = data.subset(data.split == "train")
        self.val_data = data.subset(data.split == "val")
        if dc.get("limit"):
            pick = np.random.default_rng(tc["seed"]).permutation(len(self.train_data))
            self.train_data = self.train_data.subset(np.sort(pick[: int(dc["limit"])]))
            self.val_data = self.val_data.subset(np.arange(min(len(self.val_data),
                                                               int(dc["limit"]))))
        self.report = data.report
        self.heads = [h for h in HEADS if self.train_data.targets[h].any()]
        self.model = create_model(config["model"]["name"], heads=self.heads,
                                  dropout=config["model"]["dropout"])
        if tc.get("init_from"):
            self._load_weights(Path(tc["init_from"]))
        # oneDNN's convolutions are faster in NHWC on CPU: stage 3's epochs took ~130 s where
        # stage 2's took ~148 s, JPEG round-trips included (docs/eval/training-metrics-*.csv).
        self.model = self.model.to(memory_format=torch.channels_last)
        self.val_counts = {h: int(labelled(self.val_data.targets[h]).sum()) for h in self.heads}
        self.weights = {h: class_weights(self.train_data.targets[h], tc["class_weight_power"])
                        for h in self.heads}
        self.aug = AugmentConfig(**config.get("augment", {}))
        self.steps_per_epoch = max(1, len(self.train_data) // tc["batch_size"])
        self.optimizer = make_optimizer(self.model, tc)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=tc["lr"], epochs=tc["epochs"],
            steps_per_epoch=self.steps_per_epoch, pct_start=float(tc.get("warmup", 0.15)),
        )
        self.epoch = 0
        self.best_score = -1.0
        self.best_epoch = -1

    def _load_weights(self, path: Path) -> None:
        """Start from another run's weights (a second training stage); heads must match."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            self.model.load_state_dict(state["model"])
        except (OSError, KeyError, RuntimeError) as exc:
            raise FerkitError(f"{path}: cannot initialise from this checkpoint ({exc})") from None

    # -- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "epoch": self.epoch,
            "best_score": self.best_score, "best_epoch": self.best_epoch,
            "config": self.config, "heads": self.heads,
        }

    def save(self, name: str) -> None:
        tmp = self.out / f"{name}.tmp"
        torch.save(self.state(), tmp)
        tmp.replace(self.out / name)

    def resume(self) -> None:
        path = self.out / "last.pt"
        if not path.is_file():
            raise FerkitError(f"{path}: nothing to resume")
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_epoch = state["best_epoch"]

    # -- training ----------------------------------------------------------------------
    def train_epoch(self) -> EpochResult:
        tc = self.config["train"]
        seed = tc["seed"] * 100_003 + self.epoch
        torch.manual_seed(seed)  # dropout: each epoch's randomness depends only on its number
        gen = torch.Generator().manual_seed(seed)
        order = np.random.default_rng(seed).permutation(len(self.train_data))
        bs = tc["batch_size"]
        images = torch.from_numpy(self.train_data.images)
        targets = {h: torch.from_numpy(self.train_data.targets[h]) for h in self.heads}
        self.model.train()
        start, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {self.epoch + 1}",
                   leave=False, dynamic_ncols=True)
        for step in bar:
            idx = torch.from_numpy(order[step * bs : (step + 1) * bs])
            x = images[idx].float().div_(255.0).unsqueeze(1)
            x = ((augment(x, self.aug, gen) - MEAN) / STD).contiguous(
                memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(tc["bf16"])):
                out = self.model(x)
            loss = torch.zeros(())
            for h in self.heads:
                t = targets[h][idx]
                has = t.sum(1) > 0
                if has.any():
                    loss = loss + tc["head_weights"].get(h, 1.0) * soft_cross_entropy(
                        out[h][has], t[has], self.weights[h], tc["label_smoothing"])
                    if h == self.heads[0]:
                        correct += int((out[h][has].argmax(1) == t[has].argmax(1)).sum())
                        seen += int(has.sum())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total_loss += loss.item()
            bar.set_postfix(loss=f"{total_loss / (step + 1):.3f}",
                            acc=f"{correct / max(seen, 1):.3f}")
        bar.close()
        lr = self.optimizer.param_groups[0]["lr"]
        val = evaluate_heads(self.model, self.val_data)
        self.epoch += 1
        return EpochResult(self.epoch, lr, total_loss / self.steps_per_epoch,
                           correct / max(seen, 1), val, time.perf_counter() - start)

    def run(self, resume: bool = False) -> Path:
        """Train until the configured epochs or early stopping; return the best checkpoint."""
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        save_config(self.config, self.out / "config.yaml")
        tc = self.config["train"]
        metrics = self.out / "metrics.csv"
        if not resume and metrics.exists():
            metrics.unlink()
        # train.stop_after=N ends this run once N epochs are done, leaving the schedule (set by
        # train.epochs) untouched, so `--resume` continues exactly as if never stopped.
        stop_after = int(tc.get("stop_after") or 0)
        while self.epoch < tc["epochs"]:
            if stop_after and self.epoch >= stop_after:
                tqdm.write(f"stopped after epoch {self.epoch} (train.stop_after); "
                           "continue with --resume")
                break
            r = self.train_epoch()
            score = validation_score(r.val, self.val_counts) if r.val else -r.loss
            if score > self.best_score:
                self.best_score, self.best_epoch = score, r.epoch
                self.save("best.pt")
            self.save("last.pt")
            _append_metrics(metrics, r)
            vals = " ".join(f"{h}={v:.4f}" for h, v in r.val.items())
            tqdm.write(f"epoch {r.epoch}/{tc['epochs']} loss {r.loss:.4f} "
                       f"train_acc {r.train_acc:.4f} val {vals} ({r.seconds:.0f}s)")
            if r.epoch - self.best_epoch >= tc["patience"]:
                tqdm.write(f"early stop: no better validation for {tc['patience']} epochs")
                break
        plot_curves(metrics, self.out / "curves.png")
        return self.out / "best.pt"


def _append_metrics(path: Path, r: EpochResult) -> None:
    row = {"epoch": r.epoch, "lr": r.lr, "loss": r.loss, "train_acc": r.train_acc,
           "seconds": r.seconds, **{f"val_{h}": v for h, v in r.val.items()}}
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_curves(metrics: Path, png: Path) -> None:
    """Loss and validation accuracy per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with metrics.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [float(r["loss"]) for r in rows], label="train loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.plot(epochs, [float(r["train_acc"]) for r in rows], label="train acc (first head)")
    for key in rows[0]:
        if key.startswith("val_"):
            ax2.plot(epochs, [float(r[key]) for r in rows], label=key)
    ax2.set_xlabel("epoch")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


__all__ = ["MEAN", "STD", "Trainer", "make_optimizer", "to_input"]
