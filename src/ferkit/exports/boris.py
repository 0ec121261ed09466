"""BORIS events: time, subject, code, modifier, comment; a start and a stop row per episode."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ferkit.episodes import Episode

COLUMNS = ("time", "subject", "code", "modifier", "comment")


def boris_rows(episodes: Sequence[Episode]) -> list[tuple[float, str, str, str, str]]:
    """Every episode as a BORIS state event: a row at its start and one at its end (BORIS
    pairs them: the second event of a code for a subject stops it). Sorted by time, a stop
    before a start at the same instant, so a face is never in two states at once."""
    from ferkit.exports import tier_name

    events = []
    for e in episodes:
        if round(e.end_s, 3) <= round(e.start_s, 3):  # under a millisecond: start == stop
            continue
        detail = f"{e.frames} frames" + ("" if e.mean_probability is None
                                         else f", mean p {e.mean_probability:.2f}")
        subject = tier_name(e.track_id)
        events.append((round(e.start_s, 3), 1, e.track_id, subject, e.label, detail))
        events.append((round(e.end_s, 3), 0, e.track_id, subject, e.label, ""))
    events.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(t, subject, code, "", comment) for t, _, _, subject, code, comment in events]


def boris_tsv(rows: Sequence[tuple]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def boris_xlsx(rows: Sequence[tuple]) -> bytes:
    """The same events as an Excel sheet (needs openpyxl: the `xlsx` extra)."""
    try:
        from openpyxl import Workbook
    except ImportError:
        raise ImportError("BORIS .xlsx needs openpyxl: pip install 'ferkit[xlsx]'") from None
    book = Workbook()
    sheet = book.active
    sheet.title = "events"
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
