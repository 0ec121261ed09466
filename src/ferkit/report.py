"""The per-video report: one self-contained HTML page of each face's emotions and episodes."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ferkit.episodes import NO_FACE, UNCERTAIN, Episode, Recording, emotion_shares

#: Colours of the two gap labels; emotions take ferkit.annotate's colours.
GAP_COLOURS = {NO_FACE: "#e6e6e6", UNCERTAIN: "#a0a0a0"}
CHART_WIDTH, STRIP_HEIGHT, AREA_HEIGHT = 900, 26, 110
MAX_POINTS = 600  # per face chart: long videos are averaged into this many time bins


@dataclass(frozen=True)
class Download:
    """A link in the report: `data` is embedded (a data: URL, so the page stays whole when
    moved), otherwise `href` points at a file beside the report."""

    name: str
    description: str
    data: bytes | None = None
    href: str | None = None
    mime: str = "application/octet-stream"


def colour_of(label: str) -> str:
    from ferkit.annotate import COLOURS

    if label in GAP_COLOURS:
        return GAP_COLOURS[label]
    b, g, r = COLOURS.get(label, (128, 128, 128))
    return f"#{r:02x}{g:02x}{b:02x}"


def model_summary(model) -> dict[str, str]:
    """What identifies an ExpressionModel in a report: file, architecture, quantisation and
    the first 12 hex digits of the file's SHA-256."""
    from ferkit.model import model_sha256

    path = Path(model.path)
    digest = model_sha256(path)[:12]
    meta = model.metadata
    return {"model file": path.name, "architecture": model.architecture,
            "quantization": str(meta.get("quantization", "none")), "sha256": digest,
            "producer": str(meta.get("producer", "?"))}


def render_report(recording: Recording, episodes: Sequence[Episode], *, title: str,
                  settings: Mapping[str, object], model: Mapping[str, str],
                  downloads: Sequence[Download] = ()) -> str:
    """The report as one HTML string: no scripts, no network; pictures inline."""
    from ferkit import __version__

    end_s = recording.end_s()
    tracks = recording.track_ids
    shares = emotion_shares(episodes)
    legend_labels = [*recording.labels, NO_FACE, UNCERTAIN]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)} — ferkit report</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="summary">{len(recording.frames)} analysed frames, '
        f"{_clock(end_s)} long; {len(tracks)} face{'' if len(tracks) == 1 else 's'} "
        f"tracked; {sum(not e.is_gap for e in episodes)} emotion episodes.</p>",
        _legend(legend_labels), "</header><main>",
    ]
    if not tracks:
        parts.append('<p class="empty" id="no-faces">No face was found in this video.</p>')
    for track_id in tracks:
        own = [e for e in episodes if e.track_id == track_id]
        parts.append(_face_section(track_id, recording, own, shares.get(track_id, {}), end_s))
    parts.append('<section id="downloads"><h2>Downloads</h2><ul>')
    for item in downloads:
        href = (f"data:{item.mime};base64,{base64.b64encode(item.data).decode()}"
                if item.data is not None else item.href)
        parts.append(f'<li><a href="{_e(href or "")}" download="{_e(item.name)}">'
                     f"{_e(item.name)}</a> — {_e(item.description)}</li>")
    parts.append("</ul></section>")
    parts.append('<section id="settings"><h2>How this was made</h2><table>')
    rows = {**{k: str(v) for k, v in settings.items()}, **model,
            "ferkit version": __version__,
            "made": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows.items()]
    parts.append("</table><p class=\"note\">Episodes: a face's label changes only when another "
                 "emotion wins by the margin; episodes shorter than the minimum duration are "
                 "merged into the neighbouring emotion that explains them best; \"no face\" "
                 "marks frames of a face's track where it was not found, \"uncertain\" frames "
                 "whose top probability is below the threshold. Probabilities are the model's, "
                 "not a person's judgement.</p></section></main></body></html>")
    return "\n".join(parts) + "\n"


def _face_section(track_id: int, recording: Recording, episodes: Sequence[Episode],
                  shares: Mapping[str, float], end_s: float) -> str:
    thumb = recording.thumbnails.get(track_id)
    image = ""
    if thumb is not None:
        import cv2

        ok, jpeg = cv2.imencode(".jpg", thumb, [cv2.IMWRITE_JPEG_QUALITY, 88])
        if ok:
            image = (f'<img class="thumb" alt="face {track_id}" '
                     f'src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}">')
    first = min((e.start_s for e in episodes), default=0.0)
    last = max((e.end_s for e in episodes), default=0.0)
    rows = "".join(
        f'<tr class="episode"><td><span class="swatch" style="background:{colour_of(e.label)}">'
        f"</span>{_e(e.label)}</td><td>{_clock(e.start_s)}</td><td>{_clock(e.end_s)}</td>"
        f"<td>{e.duration_s:.1f} s</td><td>{e.frames}</td>"
        f"<td>{'' if e.mean_probability is None else f'{e.mean_probability:.2f}'}</td></tr>"
        for e in episodes)
    return (f'<section class="face" id="face-{track_id}"><div class="face-head">{image}'
            f"<div><h2>Face {track_id}</h2><p>on screen {_clock(first)} – {_clock(last)}</p>"
            f"{_shares_svg(shares)}</div></div>"
            f'<h3>Episodes over time</h3>{_strip_svg(episodes, end_s)}'
            f"<h3>Probabilities over time</h3>{_area_svg(track_id, recording, end_s)}"
            f'<details open><summary>Episodes table ({len(episodes)})</summary>'
            f'<table class="episodes"><thead><tr><th>label</th><th>start</th><th>end</th>'
            f"<th>duration</th><th>frames</th><th>mean p</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details></section>")


def _shares_svg(shares: Mapping[str, float]) -> str:
    """Horizontal bars: the share of the face's time in each label, largest first."""
    items = sorted(shares.items(), key=lambda kv: -kv[1])
    height = 20 * len(items) + 4
    bars = []
    for k, (label, share) in enumerate(items):
        y = 20 * k + 2
        bars.append(f'<g class="share" data-label="{_e(label)}"><text x="0" y="{y + 13}">'
                    f'{_e(label)}</text><rect x="90" y="{y + 2}" width="{max(share * 300, 1):.1f}"'
                    f' height="14" fill="{colour_of(label)}"/><text x="{95 + share * 300:.1f}" '
                    f'y="{y + 13}">{share * 100:.0f} %</text></g>')
    return (f'<svg class="shares" viewBox="0 0 440 {height}" width="440" height="{height}" '
            f'role="img" aria-label="share of time per emotion">{"".join(bars)}</svg>')


def _strip_svg(episodes: Sequence[Episode], end_s: float) -> str:
    """One coloured band per episode along the whole video's time axis."""
    scale = CHART_WIDTH / end_s if end_s > 0 else 0.0
    rects = [f'<rect class="band" x="{e.start_s * scale:.2f}" y="0" '
             f'width="{max(e.duration_s * scale, 0.5):.2f}" height="{STRIP_HEIGHT}" '
             f'fill="{colour_of(e.label)}"><title>{_e(e.label)} {_clock(e.start_s)}–'
             f"{_clock(e.end_s)}</title></rect>" for e in episodes]
    return _chart(rects, STRIP_HEIGHT, end_s, "episode timeline")


def _area_svg(track_id: int, recording: Recording, end_s: float) -> str:
    """The face's probabilities stacked over time; blank where it was not found."""
    samples = [s for s in recording.samples if s.track_id == track_id]
    shapes: list[str] = []
    if samples and end_s > 0:
        times = [t for _, t in recording.frames]
        first = samples[0].frame
        last = samples[-1].frame
        index_of = {s.frame: s for s in samples}
        span = [(i, t) for i, t in recording.frames if first <= i <= last]
        values = np.array([index_of[i].scores if i in index_of
                           else (0.0,) * len(recording.labels) for i, _ in span])
        span_times = np.array([t for _, t in span])
        bins = min(len(span), MAX_POINTS)
        edges = np.linspace(0, len(span), bins + 1).astype(int)
        x = np.array([span_times[a:b].mean() for a, b in zip(edges[:-1], edges[1:],
                                                                strict=True)])
        y = np.array([values[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:],
                                                               strict=True)])
        if len(x) == 1:  # one point draws nothing: give it the width of its frame
            step = (times[-1] - times[0]) / max(len(times) - 1, 1) or recording.nominal_step_s
            x, y = np.array([x[0], x[0] + step]), np.repeat(y, 2, axis=0)
        scale = CHART_WIDTH / end_s
        top = np.cumsum(y, axis=1)
        for k, label in enumerate(recording.labels):
            upper = top[:, k]
            lower = top[:, k - 1] if k else np.zeros(len(x))
            points = [*zip(x * scale, AREA_HEIGHT * (1 - upper), strict=True),
                      *zip((x * scale)[::-1], (AREA_HEIGHT * (1 - lower))[::-1], strict=True)]
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            shapes.append(f'<polygon class="area" data-label="{_e(label)}" points="{path}" '
                          f'fill="{colour_of(label)}"><title>{_e(label)}</title></polygon>')
    return _chart(shapes, AREA_HEIGHT, end_s, "emotion probabilities over time")


def _chart(shapes: list[str], height: int, end_s: float, label: str) -> str:
    """`shapes` over a time axis with a tick every "nice" interval."""
    ticks = []
    if end_s > 0:
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9)
                    if end_s / s <= 10)
        for t in np.arange(0, end_s + 1e-9, step):
            x = t * CHART_WIDTH / end_s
            ticks.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height}" y2="{height + 4}" '
                         f'stroke="#555"/><text x="{x:.1f}" y="{height + 16}" '
                         f'text-anchor="middle">{_clock(t, decimals=0)}</text>')
    return (f'<svg class="chart" viewBox="-45 0 {CHART_WIDTH + 90} {height + 20}" '
            f'preserveAspectRatio="none" role="img" aria-label="{label}">'
            f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{height}" fill="#fff" '
            f'stroke="#ccc"/>{"".join(shapes)}{"".join(ticks)}</svg>')


def _legend(labels: Sequence[str]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{colour_of(label)}"></span>'
                    f"{_e(label)}</li>" for label in labels)
    return f'<ul class="legend">{items}</ul>'


def _clock(seconds: float, decimals: int = 1) -> str:
    """hh:mm:ss.s, as ELAN and BORIS show times."""
    seconds = max(seconds, 0.0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    width = 3 + decimals if decimals else 2
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:0{width}.{decimals}f}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#222;background:#f6f6f4}
header,main{max-width:980px;margin:0 auto;padding:0 16px}
header{padding-top:18px}h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:0 0 4px}
h3{font-size:14px;margin:14px 0 2px;color:#555;font-weight:600}
.summary{margin:0 0 8px;color:#444}
.legend{list-style:none;padding:0;margin:6px 0 14px;display:flex;flex-wrap:wrap;gap:4px 14px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
 vertical-align:-1px;border:1px solid #0002}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:14px 16px;
 margin:0 0 16px}
.face-head{display:flex;gap:16px;align-items:flex-start}
.thumb{width:96px;height:96px;object-fit:cover;border-radius:6px;border:1px solid #ccc}
.face-head p{margin:0 0 6px;color:#555}
svg text{font:11px system-ui,sans-serif;fill:#333}
svg.chart{width:100%;height:auto;display:block}
table{border-collapse:collapse;margin-top:6px}
td,th{padding:3px 10px 3px 0;text-align:left;font-variant-numeric:tabular-nums}
#settings th{font-weight:600;color:#555}
.episodes td,.episodes th{border-bottom:1px solid #eee}
summary{cursor:pointer;margin-top:10px;font-weight:600}
.note{color:#666;font-size:13px}.empty{font-size:17px;padding:20px 0}
"""


__all__ = ["Download", "colour_of", "model_summary", "render_report"]
