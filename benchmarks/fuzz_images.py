"""Fuzz ferkit's image path: mutated real images and crafted hostile files through
`load_image` and `Recognizer.analyze`, counting crashes, hangs and peak memory.

    python benchmarks/fuzz_images.py --seconds 600 [--datasets ../shared/datasets]
        [--timeout 20] [--seed 0] [--out fuzz-out] [--server http://127.0.0.1:8000]

Each input runs in a worker process with a wall-clock limit. Outcomes: `ok` (decoded and
analysed), `refused` (a FerkitError: the one-line error a user sees), `crash` (any other
exception, or the worker dying) and `hang` (no answer within --timeout: the worker is killed
and replaced). Peak memory is the workers' largest resident set (ru_maxrss); the inputs that
raised it most are listed. Crashing and hanging inputs are saved under --out to reproduce.
With --server, each input is also POSTed to a running `ferkit serve` (/v1/analyze): a 5xx
answer counts as a crash, no answer within --timeout as a hang.

Seeds: the photos shipped in ferkit/assets, re-encoded in every format ferkit reads (and some
it refuses), plus up to --real images from the datasets folder. Mutations: bit flips, byte
overwrites with boundary values, header fields set to large numbers, chunk repeats, splices of
two seeds, truncations and random tails. Crafted cases: `crafted_cases()` (huge declared
sizes, 4000x1, EPS, PFM, HDR, PPM, truncated files, decompression bombs within the limit).
The tests run `crafted_cases()` and a few seconds of mutations (tests/test_fuzz_images.py).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import random
import struct
import sys
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# -- inputs ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png_declaring(width: int, height: int, data: bytes | None = None) -> bytes:
    """A PNG whose header announces width x height 8-bit gray pixels; `data`: its raw rows."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = data if data is not None else b"\x00" * (min(width, 64) + 1) * 2
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + _png_chunk(b"IEND", b""))


def _pil(image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def crafted_cases() -> dict[str, bytes]:
    """Small hostile files by name (the suffix says what they pretend to be)."""
    import cv2
    from PIL import Image

    strip = cv2.imencode(".png", np.full((1, 4000, 3), 200, np.uint8))[1].tobytes()
    photo = _pil(Image.fromarray(np.full((64, 64, 3), 90, np.uint8)), "JPEG")
    webp = _pil(Image.fromarray(np.full((64, 64, 3), 90, np.uint8)), "WEBP")
    jpeg_sof = bytearray(photo)
    sof = jpeg_sof.find(b"\xff\xc0")
    jpeg_sof[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)  # 4.2 GP declared
    return {
        "huge-header.png": png_declaring(100_000, 100_000),
        "huge-header.jpg": bytes(jpeg_sof),
        "strip-4000x1.png": strip,
        "tall-1x30000.png": cv2.imencode(".png", np.zeros((30000, 1), np.uint8))[1].tobytes(),
        "one-pixel.png": cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes(),
        "endless-loop.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n",
        "endless-loop.ps": b"%!PS\n{ } loop\n",
        "tiny.pfm": b"PF\n4 4\n-1.0\n" + b"\x00" * 40,
        "huge.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + b"\x02" * 64,
        "image.ppm": b"P6\n2 2\n255\n" + b"\x80" * 12,
        "huge.ppm": b"P6\n60000 60000\n255\n" + b"\x80" * 12,
        "truncated.jpg": photo[: len(photo) // 2],
        "truncated.png": strip[:60],
        "truncated.webp": webp[:40],
        "corrupt-after-header.webp": webp[:40] + b"\xff" * 200,
        "empty.jpg": b"",
        "text.png": b"not an image at all\n",
        # ~90 MP of zeros in a few hundred kilobytes: within the default limit, it decodes.
        "bomb-90mp.png": png_declaring(9_000, 10_000, b"\x00" * (9_001 * 10_000)),
    }


def seed_images(datasets: Path | None, real: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """Seeds: the shipped photos in every format, and up to `real` dataset images."""
    from PIL import Image

    from ferkit.imageio import example_path

    seeds = []
    for name in ("astronaut", "camera"):
        path = example_path(name)
        seeds.append((path.name, path.read_bytes()))
        image = Image.open(path).convert("RGB").resize((160, 160))
        seeds += [
            (f"{name}.png", _pil(image, "PNG")),
            (f"{name}-rgba.png", _pil(image.convert("RGBA"), "PNG")),
            (f"{name}-16bit.png", _pil(Image.fromarray(
                np.asarray(image.convert("L")).astype(np.uint16) * 257), "PNG")),
            (f"{name}.webp", _pil(image, "WEBP", quality=80)),
            (f"{name}-lossless.webp", _pil(image, "WEBP", lossless=True)),
            (f"{name}.bmp", _pil(image, "BMP")),
            (f"{name}.tif", _pil(image, "TIFF", compression="tiff_deflate")),
            (f"{name}.gif", _pil(image.convert("P"), "GIF")),
            (f"{name}-progressive.jpg", _pil(image, "JPEG", progressive=True, quality=85)),
            (f"{name}-cmyk.jpg", _pil(image.convert("CMYK"), "JPEG")),
        ]
    if datasets is not None and datasets.is_dir() and real > 0:
        found = [p for p in sorted(datasets.rglob("*"))
                 if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff")]
        for path in rng.sample(found, min(real, len(found))):
            seeds.append((str(path.relative_to(datasets)), path.read_bytes()))
    return seeds


INTERESTING = (0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE)


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> tuple[str, bytes]:
    """One random mutation of `data`: (what was done, the mutated bytes)."""
    buf = bytearray(data)
    kind = rng.choice(("flip", "bytes", "header", "repeat", "splice", "truncate", "tail",
                       "multi"))
    if not buf:
        return "tail", bytes(rng.getrandbits(8) for _ in range(64))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 16)):
            buf[rng.randrange(len(buf))] = rng.choice(INTERESTING)
    elif kind == "header":  # sizes, lengths and offsets live in the first bytes
        at = rng.randrange(min(len(buf), 128))
        value = rng.choice((0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 65000, 100_000))
        buf[at:at + 4] = struct.pack(rng.choice((">I", "<I")), value)
    elif kind == "repeat":
        start = rng.randrange(len(buf))
        piece = buf[start:start + rng.randint(1, 512)]
        buf[start:start] = piece * rng.randint(1, 20)
    elif kind == "splice":
        other = rng.choice(others)
        cut = rng.randrange(len(buf))
        buf = buf[:cut] + other[rng.randrange(max(1, len(other))):]
    elif kind == "truncate":
        buf = buf[: rng.randrange(len(buf))]
    elif kind == "tail":
        buf += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
    else:
        for _ in range(rng.randint(2, 4)):
            _, mutated = mutate(bytes(buf), rng, others)
            buf = bytearray(mutated)
    return kind, bytes(buf)


# -- running -----------------------------------------------------------------------------------


def _worker(conn, analyze: bool) -> None:
    """Runs in a child process: answer each input with (outcome, detail, faces, maxrss_kb)."""
    import resource

    from ferkit.errors import FerkitError
    from ferkit.imageio import load_image
    from ferkit.recognizer import Recognizer

    recognizer = Recognizer(threads=1) if analyze else None
    conn.send(("ready", "", 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        try:
            image = load_image(data)
            faces = len(recognizer.analyze(image)) if recognizer is not None else 0
            outcome, detail = "ok", ""
        except FerkitError as exc:
            outcome, detail, faces = "refused", str(exc), 0
        except BaseException:  # noqa: BLE001 - anything else is what we are looking for
            outcome, detail, faces = "crash", traceback.format_exc(), 0
        conn.send((outcome, detail, faces, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


class Worker:
    """A worker process with a per-input wall-clock limit; replaced after a hang or death."""

    def __init__(self, analyze: bool, timeout: float) -> None:
        self.analyze, self.timeout = analyze, timeout
        self.peak_kb = 0
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, self.analyze), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(120):
            raise RuntimeError("the fuzz worker did not start within 120 s")
        self.baseline_kb = self.conn.recv()[3]
        self.last_kb = self.baseline_kb

    def run(self, data: bytes) -> tuple[str, str, int, int]:
        """(outcome, detail, faces, growth of the worker's peak RSS in kB)."""
        try:
            self.conn.send_bytes(data)
            ready = self.conn.poll(self.timeout)
            answer = self.conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(5)
            code = self.process.exitcode
            self.restart()
            return "crash", f"worker died (exit code {code})", 0, 0
        if answer is None:
            self.restart()
            return "hang", f"no answer within {self.timeout:.0f} s", 0, 0
        outcome, detail, faces, maxrss = answer
        growth = max(0, maxrss - self.last_kb)
        self.last_kb = max(self.last_kb, maxrss)
        self.peak_kb = max(self.peak_kb, maxrss)
        return outcome, detail, faces, growth

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        self.conn.close()


def post_to_server(url: str, name: str, data: bytes, timeout: float,
                   api_key: str | None) -> tuple[str, str]:
    """POST one input to `url`/v1/analyze: (outcome, detail) as for the worker."""
    import urllib.error
    import urllib.request

    boundary = "ferkit-fuzz-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name.replace('/', '_')}\"\r\nContent-Type: application/octet-stream"
            f"\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(url.rstrip("/") + "/v1/analyze", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return "ok", ""
    except urllib.error.HTTPError as exc:
        return ("crash" if exc.code >= 500 else "refused"), f"HTTP {exc.code}"
    except TimeoutError:
        return "hang", f"no answer within {timeout:.0f} s"
    except (urllib.error.URLError, OSError) as exc:
        if "timed out" in str(exc):
            return "hang", f"no answer within {timeout:.0f} s"
        return "crash", f"connection failed: {exc}"


@dataclass
class Tally:
    """What a fuzz run found."""

    outcomes: Counter = field(default_factory=Counter)
    by_origin: dict = field(default_factory=dict)
    server: Counter = field(default_factory=Counter)
    problems: list = field(default_factory=list)
    memory: list = field(default_factory=list)  # (growth_kb, name)
    crafted: dict = field(default_factory=dict)  # name: outcome

    def add(self, origin: str, name: str, outcome: str, detail: str, growth_kb: int) -> None:
        self.outcomes[outcome] += 1
        if origin == "crafted":
            self.crafted[name] = outcome
        self.by_origin.setdefault(origin, Counter())[outcome] += 1
        if outcome in ("crash", "hang"):
            self.problems.append({"input": name, "outcome": outcome, "detail": detail[-2000:]})
        if growth_kb:
            self.memory.append((growth_kb, name))


def fuzz(*, seconds: float, max_inputs: int | None, timeout: float, seed: int,
         datasets: Path | None, real: int, analyze: bool, out: Path | None,
         server: str | None = None, api_key: str | None = None,
         recycle: int = 1000) -> dict:
    """Run crafted cases, then mutations until `seconds` or `max_inputs`; return the report."""
    rng = random.Random(seed)
    seeds = seed_images(datasets, real, rng)
    seed_bytes = [data for _, data in seeds]
    tally = Tally()
    worker = Worker(analyze, timeout)
    started = time.monotonic()
    done = 0

    def one(origin: str, name: str, data: bytes) -> None:
        nonlocal done
        outcome, detail, _, growth = worker.run(data)
        tally.add(origin, name, outcome, detail, growth)
        if server:
            s_outcome, s_detail = post_to_server(server, name, data, timeout, api_key)
            tally.server[s_outcome] += 1
            if s_outcome in ("crash", "hang"):
                tally.problems.append({"input": name, "outcome": f"server {s_outcome}",
                                       "detail": s_detail})
                outcome = s_outcome
        if out is not None and outcome in ("crash", "hang"):
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{done:06d}-{outcome}-{Path(name).name}").write_bytes(data)
        done += 1
        if done % recycle == 0:  # a fresh worker: memory growth stays attributable
            worker.restart()

    try:
        for name, data in crafted_cases().items():
            one("crafted", name, data)
        for name, data in seeds:
            one("seed", name, data)
        mutating = time.monotonic()  # --seconds is the mutation phase, after the fixed inputs
        while time.monotonic() - mutating < seconds and (max_inputs is None
                                                         or done < max_inputs):
            name, data = rng.choice(seeds)
            kind, mutated = mutate(data, rng, seed_bytes)
            one(f"mutated:{kind}", f"{name}~{kind}", mutated)
    finally:
        worker.close()
    elapsed = time.monotonic() - started
    top = sorted(tally.memory, reverse=True)[:5]
    return {
        "inputs": done, "seconds": round(elapsed, 1), "inputs_per_s": round(done / elapsed, 1),
        "seed": seed, "seeds": len(seeds), "timeout_s": timeout, "analyze": analyze,
        "outcomes": dict(tally.outcomes),
        "crashes": tally.outcomes["crash"], "hangs": tally.outcomes["hang"],
        "by_origin": {k: dict(v) for k, v in sorted(tally.by_origin.items())},
        "crafted": tally.crafted,
        "server": dict(tally.server) if server else None,
        "worker_baseline_rss_mb": round(worker.baseline_kb / 1024),
        "peak_rss_mb": round(worker.peak_kb / 1024),
        "largest_rss_growth": [{"input": n, "mb": round(kb / 1024)} for kb, n in top],
        "problems": tally.problems[:50],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="mutation time (default 60)")
    parser.add_argument("--inputs", type=int, default=None, help="stop after N inputs")
    parser.add_argument("--timeout", type=float, default=20, help="per-input limit, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"),
                        help="real images to mutate (default ../shared/datasets; may be absent)")
    parser.add_argument("--real", type=int, default=200, help="dataset images used as seeds")
    parser.add_argument("--load-only", action="store_true",
                        help="only load_image, no detection and recognition (faster)")
    parser.add_argument("--out", type=Path, default=None,
                        help="save crashing and hanging inputs here")
    parser.add_argument("--server", default=None, help="also POST each input to this server")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    report = fuzz(seconds=args.seconds, max_inputs=args.inputs, timeout=args.timeout,
                  seed=args.seed, datasets=args.datasets, real=args.real,
                  analyze=not args.load_only, out=args.out, server=args.server,
                  api_key=args.api_key)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 1 if report["crashes"] or report["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
