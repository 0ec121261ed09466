"""ELAN .eaf (EAF 3.0): one time-aligned tier per face, the video linked, times in ms."""

from __future__ import annotations

import mimetypes
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from ferkit.episodes import Episode

LINGUISTIC_TYPE = "emotion"


def eaf_bytes(episodes: Sequence[Episode], track_ids: Sequence[int], media_path: Path,
              eaf_dir: Path) -> bytes:
    """An EAF document with tier "face N" per track; each episode (gaps included, so a coder
    sees where the face was not found) is one annotation. The media is linked by absolute
    URL and by a path relative to `eaf_dir`, as ELAN itself writes it."""
    from ferkit.exports import tier_name

    media_path = Path(media_path).resolve()
    root = ET.Element("ANNOTATION_DOCUMENT", {
        "AUTHOR": "ferkit", "DATE": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "FORMAT": "3.0", "VERSION": "3.0",
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"})
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    mime = mimetypes.guess_type(media_path.name)[0] or "video/*"
    ET.SubElement(header, "MEDIA_DESCRIPTOR", {
        "MEDIA_URL": media_path.as_uri(), "MIME_TYPE": mime,
        "RELATIVE_MEDIA_URL": _relative_url(media_path, Path(eaf_dir))})
    last_id = ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"})
    slots = ET.SubElement(root, "TIME_ORDER")
    spans = [(track_id, round(e.start_s * 1000), round(e.end_s * 1000), e.label)
             for track_id in track_ids for e in episodes if e.track_id == track_id]
    spans = [s for s in spans if s[2] > s[1]]  # under a millisecond: ELAN cannot show it
    # Time slots numbered in time order, as ELAN itself writes them.
    ends = sorted((ms, k, side) for k, span in enumerate(spans)
                  for side, ms in ((0, span[1]), (1, span[2])))
    slot_of = {}
    for number, (ms, k, side) in enumerate(ends, 1):
        slot_of[k, side] = f"ts{number}"
        ET.SubElement(slots, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{number}", "TIME_VALUE": str(ms)})
    tiers = {track_id: ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE,
                                                    "TIER_ID": tier_name(track_id)})
             for track_id in track_ids}
    for k, (track_id, _, _, label) in enumerate(spans):
        annotation = ET.SubElement(ET.SubElement(tiers[track_id], "ANNOTATION"),
                                   "ALIGNABLE_ANNOTATION", {
                                       "ANNOTATION_ID": f"a{k + 1}",
                                       "TIME_SLOT_REF1": slot_of[k, 0],
                                       "TIME_SLOT_REF2": slot_of[k, 1]})
        ET.SubElement(annotation, "ANNOTATION_VALUE").text = label
    last_id.text = str(len(spans))
    ET.SubElement(root, "LINGUISTIC_TYPE", {"GRAPHIC_REFERENCES": "false",
                                            "LINGUISTIC_TYPE_ID": LINGUISTIC_TYPE,
                                            "TIME_ALIGNABLE": "true"})
    for stereotype, description in (
            ("Time_Subdivision", "Time subdivision of parent annotation's time interval, no "
                                 "time gaps allowed within this interval"),
            ("Symbolic_Subdivision", "Symbolic subdivision of a parent annotation. "
                                     "Annotations refering to the same parent are ordered"),
            ("Symbolic_Association", "1-1 association with a parent annotation"),
            ("Included_In", "Time alignable annotations within the parent annotation's time "
                            "interval, gaps are allowed")):
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    ET.indent(root)
    # The declaration as ELAN writes it (ElementTree's own uses single quotes).
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")


def _relative_url(media_path: Path, eaf_dir: Path) -> str:
    """`./clip.mp4`-style relative URL from the .eaf's folder (absolute where none exists)."""
    try:
        relative = Path(os.path.relpath(media_path, Path(eaf_dir).resolve()))
    except ValueError:  # another drive on Windows
        return media_path.as_uri()
    from urllib.parse import quote

    text = quote(relative.as_posix())
    return text if text.startswith("../") else f"./{text}"
