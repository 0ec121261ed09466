"""Drawing results: a new image with each face's box, label and probability; timelines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ferkit.faces import Face
from ferkit.outputs import new_figure

#: BGR colour per emotion, so a label reads at a glance in every output.
COLOURS: dict[str, tuple[int, int, int]] = {
    "happy": (0, 200, 255), "angry": (0, 0, 230), "sad": (200, 90, 0),
    "neutral": (200, 200, 200), "surprise": (0, 230, 120), "disgust": (40, 140, 60),
    "fear": (160, 40, 160), "contempt": (120, 120, 0),
}


def draw(image_bgr: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of `image_bgr` with every face's box and "label 0.87" (and track id) drawn."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face.box_xyxy)
        label = face.label
        colour = COLOURS.get(label or "", (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = "face" if label is None else f"{label} {face.scores[label]:.2f}"
        if face.track_id is not None:
            text = f"#{face.track_id} {text}"
        scale = max(0.4, (x2 - x1) / 220)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(y1 - th - base - 4, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(out, text, (x1 + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return out


def plot_timeline(
    points: Sequence[tuple[float, int, Mapping[str, float]]], labels: Sequence[str], *,
    title: str | None = None, max_tracks: int = 8,
) -> Any:
    """A matplotlib Figure of each track's emotion probabilities over time, stacked, one
    subplot per track (save it with `ferkit.outputs.write_figure`).

    `points` are (time_s, track_id, scores). The `max_tracks` longest tracks are drawn.
    Tracks seen in one frame only (mostly false detections) get no panel of their own when
    longer tracks exist; a note under the plot counts them. Alone, they are drawn one frame
    step wide, so a panel is never blank.
    """
    by_track: dict[int, list[tuple[float, Mapping[str, float]]]] = {}
    for time_s, track_id, scores in points:
        by_track.setdefault(track_id, []).append((time_s, scores))
    longer = [t for t in by_track if len(by_track[t]) > 1]
    hidden = len(by_track) - len(longer) if longer else 0
    chosen = sorted(longer or by_track, key=lambda t: (-len(by_track[t]), t))[:max_tracks]
    chosen.sort()
    times_all = sorted({time_s for time_s, _, _ in points})
    steps = [b - a for a, b in zip(times_all, times_all[1:], strict=False) if b > a]
    step = min(steps) if steps else 0.04  # one analysed frame, as wide as it lasts
    rows = max(1, len(chosen))
    fig = new_figure("--plot", figsize=(8, 1.2 + 1.6 * rows))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    colours = [tuple(c / 255 for c in COLOURS.get(n, (128, 128, 128))[::-1]) for n in labels]
    for ax, track_id in zip(axes[:, 0], chosen, strict=False):
        series = sorted(by_track[track_id], key=lambda p: p[0])
        times = [t for t, _ in series]
        stack = [[s.get(n, 0.0) for _, s in series] for n in labels]
        if len(times) == 1:  # one point draws nothing as an area: one frame step wide
            times = [times[0], times[0] + step]
            stack = [v * 2 for v in stack]
        ax.stackplot(times, stack, labels=labels, colors=colours, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{track_id}")
        ax.margins(x=0)
    if not chosen:
        axes[0, 0].text(0.5, 0.5, "no faces found", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
        axes[0, 0].set_yticks([])
    else:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                          frameon=False)
    note = f"; {hidden} one-frame track(s) not drawn" if hidden else ""
    axes[-1, 0].set_xlabel(f"time (s){note}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
