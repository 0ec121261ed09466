"""Praat TextGrid (long text format): one interval tier per face, covering the whole video."""

from __future__ import annotations

from collections.abc import Sequence

from ferkit.episodes import Episode


def textgrid_bytes(episodes: Sequence[Episode], track_ids: Sequence[int],
                   end_s: float) -> bytes:
    """A TextGrid from 0 to `end_s` with interval tier "face N" per track. Interval tiers must
    tile their range, so time outside a face's track is an interval with empty text."""
    from ferkit.exports import tier_name

    end_s = max(end_s, max((e.end_s for e in episodes), default=0.0))
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0", f"xmax = {_num(end_s)}",
             # Praat's own grid without tiers (TextGrid_createWithoutTiers) has an empty list.
             "tiers? <exists>", f"size = {len(track_ids)}", "item []:"]
    for number, track_id in enumerate(track_ids, 1):
        intervals = _tile([e for e in episodes if e.track_id == track_id], end_s)
        lines += [f"    item [{number}]:", '        class = "IntervalTier"',
                  f"        name = {_text(tier_name(track_id))}", "        xmin = 0",
                  f"        xmax = {_num(end_s)}", f"        intervals: size = {len(intervals)}"]
        for k, (start, end, text) in enumerate(intervals, 1):
            lines += [f"        intervals [{k}]:", f"            xmin = {_num(start)}",
                      f"            xmax = {_num(end)}", f"            text = {_text(text)}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _tile(episodes: Sequence[Episode], end_s: float) -> list[tuple[float, float, str]]:
    intervals: list[tuple[float, float, str]] = []
    cursor = 0.0
    for episode in sorted(episodes, key=lambda e: e.start_s):
        start, end = round(episode.start_s, 6), round(episode.end_s, 6)
        if end <= start:
            continue
        if start > cursor:
            intervals.append((cursor, start, ""))
        intervals.append((start, end, episode.label))
        cursor = end
    if cursor < round(end_s, 6) or not intervals:
        intervals.append((cursor, max(round(end_s, 6), cursor), ""))
    return intervals


def _num(value: float) -> str:
    return f"{round(value, 6):.6f}".rstrip("0").rstrip(".") or "0"


def _text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
