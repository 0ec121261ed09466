"""A few seconds of benchmarks/fuzz_images.py: crafted hostile files and mutated images through
load_image and Recognizer.analyze in a worker process, with a per-input time limit."""

from __future__ import annotations

import sys
from pathlib import Path

from ferkit.imageio import example_path

# A plain import: the harness's spawned workers import it again by name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz_images  # noqa: E402

#: Formats ferkit does not read, whatever their content: refused, never decoded.
REFUSED = ("huge-header.png", "huge-header.jpg", "endless-loop.eps", "endless-loop.ps",
           "tiny.pfm", "huge.hdr", "image.ppm", "huge.ppm", "truncated.jpg", "truncated.png",
           "truncated.webp", "corrupt-after-header.webp", "empty.jpg", "text.png")
#: Odd but valid images: analysed (no faces), not errors.
ANALYSED = ("strip-4000x1.png", "tall-1x30000.png", "one-pixel.png", "bomb-90mp.png")


def test_crafted_cases_are_small_files():
    cases = fuzz_images.crafted_cases()
    assert sorted(cases) == sorted(REFUSED + ANALYSED)
    assert max(len(data) for data in cases.values()) < 200_000
    assert len(cases["strip-4000x1.png"]) < 200 and len(cases["huge-header.png"]) < 120


def test_mutations_change_the_bytes():
    import random

    rng = random.Random(1)
    data = example_path().read_bytes()
    kinds = set()
    for _ in range(200):
        kind, mutated = fuzz_images.mutate(data, rng, [data])
        kinds.add(kind)
        assert isinstance(mutated, bytes)
    assert kinds == {"flip", "bytes", "header", "repeat", "splice", "truncate", "tail", "multi"}


def test_a_short_fuzz_run_finds_no_crash_or_hang(tmp_path):
    report = fuzz_images.fuzz(seconds=5, max_inputs=None, timeout=60, seed=23, datasets=None,
                              real=0, analyze=True, out=tmp_path / "found")
    assert report["problems"] == [] and report["crashes"] == 0 and report["hangs"] == 0
    assert {name: report["crafted"][name] for name in REFUSED} == dict.fromkeys(REFUSED,
                                                                                 "refused")
    assert {name: report["crafted"][name] for name in ANALYSED} == dict.fromkeys(ANALYSED, "ok")
    assert report["inputs"] > len(REFUSED + ANALYSED) + report["seeds"]  # some mutations ran
    # A 105-byte PNG once cost 2.25 GB; the largest input here (90 MP of zeros) stays far below.
    assert report["peak_rss_mb"] < 2000, report["largest_rss_growth"]
    assert not (tmp_path / "found").exists()
