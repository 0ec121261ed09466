"""Load test of `ferkit serve`: concurrent clients POST a photo to /v1/analyze; prints throughput,
latency percentiles and errors.

    python benchmarks/load_server.py                       # starts its own server on loopback
    python benchmarks/load_server.py --clients 50 --requests 1000 --serve-args "--max-concurrent 2"
    python benchmarks/load_server.py --url http://127.0.0.1:8000 --api-key KEY   # a running one

Each of `--clients` async clients (httpx, one keep-alive connection each) sends the next
request as soon as its previous answer arrives, until `--requests` have been sent; `--warmup`
requests go first, one at a time, and are not counted (the first warms the caches). Latency is
from sending a request to reading its whole answer, so it includes the time spent queued in
the server while all `--max-concurrent` analysis slots are busy. An error is a transport
failure or any status but 200; an answer whose face count differs from the warm-up's is
counted as a wrong answer. With a server of its own, its CPU time (all threads, from /proc) is
reported too. The clients run on the same machine and use some of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from ferkit.imageio import example_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(serve_args: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ferkit.cli", "serve", "--port", str(port),
                                "--log-level", "warning", *serve_args])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"ferkit serve exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    sys.exit("ferkit serve did not answer /healthz within 60 s")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, all threads (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(url: str, photo: bytes, args: argparse.Namespace) -> dict:
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    params = {"label_set": args.label_set, "detector": args.detector}
    files = lambda: {"file": ("photo.jpg", photo, "image/jpeg")}  # noqa: E731
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=args.timeout) as client:
        expected_faces = None
        for _ in range(args.warmup):
            r = await client.post("/v1/analyze", params=params, files=files())
            r.raise_for_status()
            expected_faces = len(r.json()["faces"])

        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        wrong = 0
        sent = 0

        async def one_client() -> None:
            nonlocal sent, wrong
            while sent < args.requests:
                sent += 1  # one event loop: no other client runs between the test and this
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/analyze", params=params, files=files())
                    body = r.json()
                except (httpx.HTTPError, ValueError) as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - start)
                statuses[str(r.status_code)] += 1
                if r.status_code == 200 and expected_faces is not None \
                        and len(body["faces"]) != expected_faces:
                    wrong += 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(args.clients)))
        wall = time.perf_counter() - start
    ok = statuses.get("200", 0)
    ms = np.array(latencies) * 1000
    return {
        "clients": args.clients, "requests": args.requests, "wall_s": round(wall, 2),
        "ok": ok, "errors": args.requests - ok, "wrong_answers": wrong,
        "statuses": dict(statuses), "throughput_rps": round(ok / wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if ms.size else None,
        "p90_ms": round(float(np.percentile(ms, 90)), 1) if ms.size else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if ms.size else None,
        "max_ms": round(float(ms.max()), 1) if ms.size else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running server (default: start `ferkit serve` on loopback)")
    p.add_argument("--serve-args", default="",
                   help='options for the server this starts, e.g. "--max-concurrent 2"')
    p.add_argument("--api-key", default=None)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--photo", type=Path, default=example_path("astronaut"))
    p.add_argument("--label-set", default="seed5")
    p.add_argument("--detector", default="blazeface")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    args = p.parse_args(argv)
    if args.clients < 1 or args.requests < 1 or args.warmup < 1:
        p.error("--clients, --requests and --warmup must be at least 1")

    process = None
    url = args.url
    if url is None:
        process, url = start_server(shlex.split(args.serve_args))
    try:
        cpu_before = cpu_seconds(process.pid) if process else None
        result = asyncio.run(run_load(url.rstrip("/"), args.photo.read_bytes(), args))
        if cpu_before is not None:
            cpu = cpu_seconds(process.pid) - cpu_before
            result["server_cpu_ms_per_request"] = round(1000 * cpu / max(result["ok"], 1), 1)
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
    result.update(photo=args.photo.name, label_set=args.label_set, detector=args.detector,
                  server=args.url or f"own, ferkit serve {args.serve_args}".strip(),
                  cpus=os.cpu_count())
    print(f"{result['ok']}/{args.requests} ok in {result['wall_s']} s: "
          f"{result['throughput_rps']} req/s, p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, errors {result['errors']}, "
          f"wrong answers {result['wrong_answers']}")
    print(json.dumps(result))
    return 0 if result["errors"] == 0 and result["wrong_answers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
