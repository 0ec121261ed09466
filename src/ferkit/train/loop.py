"""The training loop: epochs of augmented batches, per-head losses, validation, checkpoints."""

from __future__ import annotations

import copy
import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ferkit.datasets.combine import HEADS, CombinedDataset, labelled, load_configured
from ferkit.errors import FerkitError
from ferkit.outputs import AtomicFile, atomic_write_bytes, new_figure, write_figure
from ferkit.pixels import CHANNELS
from ferkit.train.augment import AugmentConfig, augment, mixup
from ferkit.train.checkpoint import load_weights, read_checkpoint
from ferkit.train.config import check_class_weight_power, data_input, save_config
from ferkit.train.distill import Teachers, distill_loss, soften
from ferkit.train.models import create_model
from ferkit.train.teacher_cache import TeacherCache

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
    swa_val: dict[str, float] = field(default_factory=dict)


def channels_first(faces: torch.Tensor) -> torch.Tensor:
    """uint8 faces (N, S, S) gray or (N, S, S, 3) BGR -> [0, 1] floats (N, C, S, S).

    The colour case keeps the stored NHWC layout: channels_last already, as the model runs.
    """
    x = faces.float().div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 faces (N, S, S) or (N, S, S, 3) -> normalised float tensor (N, C, S, S), as
    `ferkit.pixels.network_input` prepares them for the exported model."""
    return (channels_first(torch.as_tensor(images)) - MEAN) / STD


def class_weights(targets: np.ndarray, power: float) -> torch.Tensor:
    """Per-class loss weights ~ frequency ** -power, mean 1 over the classes present, from
    target distributions (N, K); absent classes weigh 0, and a class with less than one
    face's worth of target mass counts as one."""
    check_class_weight_power(power)
    freq = np.asarray(targets).sum(axis=0)
    weights = np.where(freq > 0, np.maximum(freq, 1) ** -power, 0.0)
    present = freq > 0
    weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                       smoothing: float) -> torch.Tensor:
    """Per-item cross-entropy against target distributions, smoothed over the head's classes."""
    present = (weights > 0).float()
    target = (1 - smoothing) * target + smoothing * present / present.sum()
    logp = F.log_softmax(logits.float(), dim=1)
    return -(target * logp * weights).sum(dim=1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, over: str = "labelled") -> torch.Tensor:
    """Sum of `values` where `mask` holds, divided by the count of such items ("labelled"; 0
    when there are none) or by the batch size ("batch"), with no GPU sync."""
    m = mask.float()
    count = m.sum().clamp_min(1.0) if over == "labelled" else len(m)
    return (values * m).sum() / count


def validation_score(val: dict[str, float], counts: dict[str, int]) -> float:
    """Accuracy pooled over every head's labelled validation items, each head weighted by its
    item count: a 160-face CK+ fold must not swing the choice of the best epoch."""
    return sum(acc * counts[h] for h, acc in val.items()) / sum(counts[h] for h in val)


def pick_device(name: str) -> torch.device:
    """`train.device`: "auto" takes a CUDA GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FerkitError(f"train.device={name}, but torch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise FerkitError(f"train.device={name!r}: use auto, cpu or cuda") from None


def evaluate_heads(model: torch.nn.Module, data: CombinedDataset, batch: int = 512,
                   flip: bool = False, device: torch.device | None = None) -> dict[str, float]:
    """Top-1 accuracy of each head on the items that head has a label for."""
    device = device or torch.device("cpu")
    model.eval()
    outputs: dict[str, list[torch.Tensor]] = {h: [] for h in HEADS}
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        for start in range(0, len(data), batch):
            x = to_input(data.images[start : start + batch]).to(device)
            out = model(x)
            if flip:
                out_f = model(torch.flip(x, dims=[3]))
                out = {h: F.softmax(out[h], 1) + F.softmax(out_f[h], 1) for h in out}
            for h in HEADS:
                if h in out:
                    outputs[h].append(out[h].float().cpu())
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
    on_gpu = next(model.parameters()).is_cuda
    return torch.optim.AdamW(model.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"],
                             fused=True if on_gpu else None)


def use_bf16(setting: bool | str, device: torch.device) -> bool:
    """Whether to train under bf16 autocast: `auto` uses it on a GPU and on CPUs with native
    bf16 (AVX512-BF16 or AMX); elsewhere (AVX2 laptops, older AMD) emulated bf16 made a
    fernet_s step of 64 faces 12-16x slower than fp32 (11.1-11.3 s against 0.70-0.96 s,
    lab/tools/step_time.py), so fp32 it is."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return True
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


#: What a run writes into its folder; `overwrite` removes them before a new run starts.
RUN_FILES = ("last.pt", "best.pt", "swa.pt", "metrics.csv", "config.yaml", "curves.png")


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse (FerkitError) to start a new run in a folder that holds one, unless `resume` or
    `overwrite`: its checkpoints may be hours of training. The CLI calls it before reading
    the data; `Trainer.run` again, for library callers."""
    if resume and overwrite:
        raise FerkitError("--resume goes on with a run and --overwrite starts it again: "
                          "give one")
    if not (resume or overwrite) and (Path(out) / "last.pt").exists():
        raise FerkitError(f"{out} already holds a training run; pass --resume to go on with "
                          "it, --overwrite to start again, or another --out")


class Trainer:
    """Trains a model from a resolved config into `out_dir`, resumable from `last.pt`."""

    def __init__(self, config: dict, out_dir: Path):
        self.config = config
        self.out = Path(out_dir)
        tc = config["train"]
        if tc.get("threads"):
            torch.set_num_threads(int(tc["threads"]))
        torch.manual_seed(tc["seed"])
        self.device = pick_device(str(tc.get("device", "auto")))
        dc = config["data"]
        if tc.get("teachers") and tc.get("teacher_cache"):
            raise FerkitError("train.teachers and train.teacher_cache both given: teach from "
                              "checkpoints run online or from a cache, not both")
        size, color = data_input(config)
        data = load_configured(dc, size, color)
        # Each training item's row in `data`, where a teacher cache keeps its targets.
        train_rows = np.flatnonzero(data.split == "train")
        self.train_data = data.subset(train_rows)
        self.val_data = data.subset(data.split == "val")
        if dc.get("limit"):
            pick = np.random.default_rng(tc["seed"]).permutation(len(self.train_data))
            train_rows = train_rows[np.sort(pick[: int(dc["limit"])])]
            self.train_data = data.subset(train_rows)
            self.val_data = self.val_data.subset(np.arange(min(len(self.val_data),
                                                               int(dc["limit"]))))
        self.report = data.report
        self.heads = [h for h in HEADS if self.train_data.targets[h].any()]
        self.model = create_model(config["model"]["name"], heads=self.heads,
                                  dropout=config["model"]["dropout"], input_size=size,
                                  in_channels=CHANNELS[color])
        if tc.get("init_from"):
            # A later training stage starts from another run's weights; heads must match.
            load_weights(self.model, read_checkpoint(tc["init_from"]), tc["init_from"])
        # oneDNN's convolutions are faster in NHWC on CPU: stage 3's epochs took ~130 s where
        # stage 2's took ~148 s, JPEG round-trips included (lab/eval/training-metrics-*.csv).
        self.model = self.model.to(self.device, memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its kernels
        self.images = torch.from_numpy(self.train_data.images).to(self.device)
        self.targets = {h: torch.from_numpy(self.train_data.targets[h]).to(self.device)
                        for h in self.heads}
        self.teachers = None
        if tc.get("teachers"):
            self.teachers = Teachers(tc["teachers"], self.device, (size, CHANNELS[color]))
        self.val_counts = {h: int(labelled(self.val_data.targets[h]).sum()) for h in self.heads}
        self.weights = {h: class_weights(self.train_data.targets[h],
                                         tc["class_weight_power"]).to(self.device)
                        for h in self.heads}
        # Index tensors, not masks: indexing by a mask needs a GPU sync to count it.
        self.present = {h: torch.nonzero(w > 0).flatten() for h, w in self.weights.items()}
        # The cached teachers' targets of each training item, in train_data's order.
        self.cached_targets: dict[str, torch.Tensor] | None = None
        if tc.get("teacher_cache"):
            cache = TeacherCache.load(Path(tc["teacher_cache"]), data)
            self.cached_targets = {
                h: soften(torch.from_numpy(cache.probs[h][train_rows]), self.present[h],
                          tc["distill_temperature"]).to(self.device)
                for h in self.heads if h in cache.probs}
            if not self.cached_targets:
                raise FerkitError(f"{tc['teacher_cache']}: its teachers have none of the heads "
                                  f"this model trains ({', '.join(self.heads)})")
        if tc["label_loss_mean"] not in ("labelled", "batch"):
            raise FerkitError(f"train.label_loss_mean={tc['label_loss_mean']!r}: "
                              "use labelled or batch")
        self.aug = AugmentConfig(**config.get("augment", {}))
        self.bf16 = use_bf16(tc["bf16"], self.device)
        self.steps_per_epoch = max(1, len(self.train_data) // tc["batch_size"])
        self.optimizer = make_optimizer(self.model, tc)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        # Stochastic weight averaging (Izmailov et al. 2018): the mean of the weights the run
        # passes through from epoch swa_start on, which generalises better than any of them.
        # Batch-norm statistics are averaged too: re-measuring them on plain training faces,
        # as update_bn does, cost stage 4b 0.4 point of FER2013 validation, since its running
        # statistics were gathered on augmented batches, and those serve validation better
        # (lab/eval/stage4b-update-bn.json, from lab/tools/score_checkpoints.py --update-bn).
        self.swa = (AveragedModel(self.model, use_buffers=True)
                    if int(tc.get("swa_start") or 0) > 0 else None)
        self.epoch = 0
        self.best_score = -1.0
        self.best_epoch = -1

    def _make_scheduler(self) -> None:
        tc = self.config["train"]
        schedule, warmup = tc.get("schedule", "onecycle"), float(tc.get("warmup", 0.15))
        if schedule == "constant":
            # Weight averaging wants the run to keep moving, not to settle as one-cycle does.
            warm = max(1, int(warmup * tc["epochs"] * self.steps_per_epoch))
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda step: min(1.0, (step + 1) / warm))
            return
        if schedule != "onecycle":
            raise FerkitError(f"train.schedule={schedule!r}: use onecycle or constant")
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=tc["lr"], epochs=tc["epochs"],
            steps_per_epoch=self.steps_per_epoch, pct_start=warmup,
        )

    def epochs_for_budget(self, seconds: float, warmup_steps: int = 5,
                          timed_steps: int = 20) -> int:
        """How many epochs fit in `seconds`, timed on real steps whose effects are undone."""
        saved_model = copy.deepcopy(self.model.state_dict())
        saved_opt = copy.deepcopy(self.optimizer.state_dict())
        gen = self._generator(-1)
        self.probe_steps(warmup_steps, gen)
        start = time.perf_counter()
        self.probe_steps(timed_steps, gen, first=warmup_steps)
        per_step = (time.perf_counter() - start) / timed_steps
        start = time.perf_counter()
        evaluate_heads(self.model, self.val_data, device=self.device)
        validations = 1 if self.swa is None else 2  # weight averaging validates its mean too
        per_epoch = (per_step * self.steps_per_epoch
                     + validations * (time.perf_counter() - start))
        self.model.load_state_dict(saved_model)
        self.optimizer.load_state_dict(saved_opt)
        return max(1, int(seconds / per_epoch))

    def probe_steps(self, count: int, gen: torch.Generator, first: int = 0) -> None:
        """`count` real optimiser steps on batches from a fixed shuffle, for timing or
        profiling (they change the model: save its state first); returns once they are done."""
        order = torch.randperm(len(self.train_data), generator=self._generator(-1),
                               device=self.device)
        bs = self.config["train"]["batch_size"]
        self.model.train()
        for step in range(first, first + count):
            start = (step * bs) % max(1, len(order) - bs)
            self._step(order[start : start + bs], gen, None)
        self._sync()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    # -- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        state = self.model_checkpoint(
            self.model, optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), best_score=self.best_score,
            best_epoch=self.best_epoch)
        if self.swa is not None:
            state["swa"] = self.swa.state_dict()
        return state

    def save(self, name: str, state: dict | None = None) -> None:
        with AtomicFile(self.out / name) as file:
            torch.save(self.state() if state is None else state, file.tmp)

    def model_checkpoint(self, model: nn.Module, **extra) -> dict:
        """A checkpoint of `model`'s weights alone, for export, init_from and teachers: a third
        of last.pt's size (no optimiser moments), so a GPU run's best.pt travels back whole."""
        return {"model": model.state_dict(), "config": self.config, "heads": self.heads,
                "epoch": self.epoch, **extra}

    def save_swa(self) -> None:
        """swa.pt: the averaged weights as a checkpoint `ferkit export` reads like best.pt."""
        self.save("swa.pt", self.model_checkpoint(self.swa.module,
                                                  swa_epochs=int(self.swa.n_averaged)))

    def resume(self) -> None:
        path = self.out / "last.pt"
        if not path.is_file():
            raise FerkitError(f"{path}: nothing to resume")
        state = read_checkpoint(path)
        saved = state["config"]["train"]
        # A run sized by train.time_budget keeps the epoch count it was given.
        for key in ("epochs", "time_budget", "sized_by"):
            if key in saved:
                self.config["train"][key] = saved[key]
        # ... and the loss it started with; runs saved before the option existed averaged
        # over the labelled items. Kept in the config, so later checkpoints record it too.
        self.config["train"]["label_loss_mean"] = saved.get("label_loss_mean", "labelled")
        self._make_scheduler()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_score = state["epoch"], state["best_score"]
        self.best_epoch = state["best_epoch"]
        if self.swa is not None and "swa" in state:
            self.swa.load_state_dict(state["swa"])

    # -- training ----------------------------------------------------------------------
    def _step(self, idx: torch.Tensor, gen: torch.Generator,
              mix: tuple[float, torch.Tensor] | None) -> tuple[torch.Tensor, ...]:
        """One optimiser step on the items `idx`: (loss, correct, seen) of the first head.

        Everything stays a tensor: reading a value back would stall a GPU every step.
        """
        tc = self.config["train"]
        x = (augment(channels_first(self.images[idx]), self.aug, gen) - MEAN) / STD
        targets = {h: self.targets[h][idx] for h in self.heads}
        soft = None
        if self.cached_targets is not None:
            # Standard offline distillation: every augmented view of a face is taught the
            # cached targets of the clean face (the teachers never saw the augmentation).
            soft = {h: s[idx] for h, s in self.cached_targets.items()}
        if mix is not None:
            x, targets = mixup(x, targets, *mix)
            if soft is not None:  # a blended face, the same blend of its two faces' targets
                lam, perm = mix
                soft = {h: lam * s + (1 - lam) * s[perm] for h, s in soft.items()}
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x)
            if self.teachers is not None:
                soft = self.teachers.probabilities(x, self.present, tc["distill_temperature"])
        loss = torch.zeros((), device=self.device)
        for h in self.heads:
            t = targets[h]
            has = t.sum(1) > 0
            loss = loss + tc["head_weights"].get(h, 1.0) * masked_mean(soft_cross_entropy(
                out[h], t, self.weights[h], tc["label_smoothing"]), has, tc["label_loss_mean"])
            if h == self.heads[0]:
                correct = ((out[h].argmax(1) == t.argmax(1)) & has).sum()
                seen = has.sum()
        if soft is not None:
            # Every item learns every head from the teachers, labelled for that head or not.
            alpha = float(tc["distill_weight"])
            kd = sum(tc["head_weights"].get(h, 1.0) * distill_loss(
                out[h], soft[h], self.present[h], tc["distill_temperature"]) for h in soft)
            loss = (1 - alpha) * loss + alpha * kd
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), correct, seen

    def train_epoch(self) -> EpochResult:
        tc = self.config["train"]
        seed = tc["seed"] * 100_003 + self.epoch
        torch.manual_seed(seed)  # dropout: each epoch's randomness depends only on its number
        gen = self._generator(seed)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.train_data))
        bs = tc["batch_size"]
        self.model.train()
        start = time.perf_counter()
        total_loss = correct = seen = torch.zeros((), device=self.device)
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {self.epoch + 1}",
                   leave=False, dynamic_ncols=True)
        for step in bar:
            idx = torch.from_numpy(order[step * bs : (step + 1) * bs]).to(self.device)
            mix = None
            if tc.get("mixup_prob", 0) > 0 and rng.random() < tc["mixup_prob"]:
                perm = torch.randperm(len(idx), generator=gen, device=self.device)
                mix = (float(rng.beta(tc["mixup_alpha"], tc["mixup_alpha"])), perm)
            loss, c, n = self._step(idx, gen, mix)
            total_loss, correct, seen = total_loss + loss, correct + c, seen + n
            if step % 20 == 0 or step == self.steps_per_epoch - 1:
                bar.set_postfix(loss=f"{total_loss.item() / (step + 1):.3f}",
                                acc=f"{correct.item() / max(seen.item(), 1):.3f}")
        bar.close()
        total_loss, correct, seen = total_loss.item(), int(correct), int(seen)
        lr = self.optimizer.param_groups[0]["lr"]
        val = evaluate_heads(self.model, self.val_data, device=self.device)
        self.epoch += 1
        swa_val = {}
        if self.swa is not None and self.epoch >= int(tc["swa_start"]):
            self.swa.update_parameters(self.model)
            swa_val = evaluate_heads(self.swa.module, self.val_data, device=self.device)
        return EpochResult(self.epoch, lr, total_loss / self.steps_per_epoch,
                           correct / max(seen, 1), val, time.perf_counter() - start, swa_val)

    def run(self, resume: bool = False, overwrite: bool = False) -> Path:
        """Train until the configured epochs or early stopping; return the best checkpoint.
        A folder that already holds a run is refused unless `resume` (go on with it) or
        `overwrite` (start again, replacing its checkpoints)."""
        check_run_folder(self.out, resume, overwrite)
        self.out.mkdir(parents=True, exist_ok=True)
        if overwrite:  # nothing of the run before may pass for this one's
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)
        tc = self.config["train"]
        if resume:
            self.resume()
        else:
            if tc.get("time_budget"):
                tc["epochs"] = self.epochs_for_budget(float(tc["time_budget"]))
                tc["sized_by"] = f"time_budget={tc['time_budget']}s on {self.device}"
                tqdm.write(f"train.{tc['sized_by']}: {tc['epochs']} epochs")
                # The saved config.yaml repeats this run: the same epochs, no new timing.
                tc["time_budget"] = 0
            self._make_scheduler()
        save_config(self.config, self.out / "config.yaml")
        metrics = self.out / "metrics.csv"
        if not resume and metrics.exists():  # a folder without last.pt may still hold one
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
                self.save("best.pt", self.model_checkpoint(self.model, best_score=score))
            if r.swa_val:
                self.save_swa()
            self.save("last.pt")
            _append_metrics(metrics, r, swa=self.swa is not None)
            vals = " ".join(f"{h}={v:.4f}" for h, v in r.val.items())
            if r.swa_val:
                vals += " swa " + " ".join(f"{h}={v:.4f}" for h, v in r.swa_val.items())
            tqdm.write(f"epoch {r.epoch}/{tc['epochs']} loss {r.loss:.4f} "
                       f"train_acc {r.train_acc:.4f} val {vals} ({r.seconds:.0f}s)")
            if r.epoch - self.best_epoch >= tc["patience"]:
                tqdm.write(f"early stop: no better validation for {tc['patience']} epochs")
                break
        plot_curves(metrics, self.out / "curves.png")
        return self.out / "best.pt"


def _append_metrics(path: Path, r: EpochResult, swa: bool = False) -> None:
    """One row per epoch; with weight averaging, swa_<head> columns (empty before it starts)."""
    row = {"epoch": r.epoch, "lr": r.lr, "loss": r.loss, "train_acc": r.train_acc,
           "seconds": r.seconds, **{f"val_{h}": v for h, v in r.val.items()}}
    if swa:
        row.update({f"swa_{h}": r.swa_val.get(h, "") for h in r.val})
    # Rewritten whole each epoch (atomically), so a run killed mid-write keeps every epoch
    # before it intact; an append could leave a torn last line that --resume then extends.
    earlier = path.read_bytes() if path.exists() else b""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(row))
    if not earlier:
        writer.writeheader()
    writer.writerow(row)
    atomic_write_bytes(path, earlier + text.getvalue().encode("utf-8"))


def plot_curves(metrics: Path, png: Path) -> None:
    """Loss and validation accuracy per epoch, as a PNG."""
    with metrics.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    fig = new_figure("training curves", figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [float(r["loss"]) for r in rows], label="train loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax2.plot(epochs, [float(r["train_acc"]) for r in rows], label="train acc (first head)")
    for key in rows[0]:
        if key.startswith(("val_", "swa_")):
            points = [(e, float(r[key])) for e, r in zip(epochs, rows, strict=True)
                      if r[key] != ""]
            ax2.plot(*zip(*points, strict=True), label=key,
                     linestyle="--" if key.startswith("swa_") else "-")
    ax2.set_xlabel("epoch")
    ax2.legend()
    fig.tight_layout()
    write_figure(png, fig, dpi=100)


__all__ = ["MEAN", "STD", "Trainer", "make_optimizer", "to_input"]
