"""`ferkit serve`: the HTTP API on uvicorn (POST /v1/analyze, WebSocket /v1/stream, video jobs,
GET /healthz, a browser page at /, docs at /docs). WebSockets need `websockets` beside uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ferkit.commands import finite_float, threads_count
from ferkit.errors import FerkitError

#: How `ferkit serve` spells each limit of `create_app` in its errors.
LIMIT_OPTIONS = {"max_upload_bytes": "--max-upload-mb", "max_video_bytes": "--max-video-mb",
                 "max_queued_videos": "--max-queued-videos",
                 "max_concurrent": "--max-concurrent", "max_image_pixels": "--max-image-mp",
                 "max_pixels_in_flight": "--max-mp-in-flight",
                 "max_upload_bytes_in_flight": "--max-upload-mb-in-flight",
                 "client_timeout_s": "--client-timeout"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (needs ferkit[serve])")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--api-key", default=os.environ.get("FERKIT_API_KEY") or None,
                   help="require this key in the X-API-Key header on every API route "
                        "(/healthz, the browser page and the API docs stay open; default: "
                        "$FERKIT_API_KEY; none: open)")
    p.add_argument("--max-upload-mb", type=finite_float, default=20.0,
                   help="largest request body in MB (default: 20)")
    p.add_argument("--max-video-mb", type=finite_float, default=200.0,
                   help="largest video upload to /v1/videos in MB (default: 200)")
    p.add_argument("--max-queued-videos", type=int, default=8, metavar="N",
                   help="videos that may wait for analysis; more uploads get 503 (default: 8)")
    p.add_argument("--max-concurrent", type=int, default=None, metavar="N",
                   help="images analysed at once; more requests wait (default: CPU cores)")
    p.add_argument("--max-image-mp", type=finite_float, default=50.0, metavar="MP",
                   help="largest image decoded, in megapixels; larger get 413 (default: 50)")
    p.add_argument("--max-mp-in-flight", type=finite_float, default=None, metavar="MP",
                   help="megapixels all requests may decode at once; more wait their turn "
                        "(default: twice --max-image-mp)")
    p.add_argument("--max-upload-mb-in-flight", type=finite_float, default=None, metavar="MB",
                   help="request bodies held in memory at once; more uploads get 503 "
                        "(default: four times --max-upload-mb)")
    p.add_argument("--client-timeout", type=finite_float, default=10.0, metavar="S",
                   help="seconds a client may take to send its request headers or pause in "
                        "a body (bodies must also average 16 KB/s); slower ones are cut off "
                        "(default: 10)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="a web page origin (e.g. https://example.org) allowed to use the API "
                        "from a browser besides the server's own pages; repeatable; '*': any")
    p.add_argument("--model", type=Path, default=None, help="an exported .onnx (default: shipped)")
    p.add_argument("--threads", type=threads_count, default=None,
                   help="ONNX Runtime threads per model")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ferkit.detect import DEFAULT_DETECTOR
        from ferkit.server.app import create_app
        from ferkit.server.limits import check_limits
        from ferkit.server.logs import log_config
        from ferkit.server.timeouts import guarded_h11
        from ferkit.video.io import quiet_ffmpeg
    except ImportError as exc:
        raise FerkitError(f"{exc}; install the server extra: pip install 'ferkit[serve]'") \
            from None
    mib, mega = 1024 * 1024, 1e6
    limits = {"max_upload_bytes": int(args.max_upload_mb * mib),
              "max_video_bytes": int(args.max_video_mb * mib),
              "max_queued_videos": args.max_queued_videos,
              "max_concurrent": args.max_concurrent,
              "max_image_pixels": int(args.max_image_mp * mega),
              "max_pixels_in_flight": _scaled(args.max_mp_in_flight, mega),
              "max_upload_bytes_in_flight": _scaled(args.max_upload_mb_in_flight, mib),
              "client_timeout_s": args.client_timeout}
    check_limits(**limits, names=LIMIT_OPTIONS)  # before the port is taken
    for origin in args.allow_origin:
        parts = urlsplit(origin)
        if origin != "*" and not (parts.scheme in ("http", "https") and parts.netloc
                                  and not parts.path and not parts.query):
            raise FerkitError(f"--allow-origin {origin!r}: give an origin such as "
                              "https://example.org (scheme, host and port; no path), or '*'")
    if not 0 <= args.port <= 65535:
        raise FerkitError(f"--port {args.port} is not a valid port")
    if args.model is not None and not args.model.is_file():
        raise FerkitError(f"no model file {args.model}")
    _check_bindable(args.host, args.port)
    quiet_ffmpeg()  # bad video uploads get one JSON error, not FFmpeg's lines on the console
    app = create_app(model=args.model, threads=args.threads, api_key=args.api_key,
                     allowed_origins=tuple(args.allow_origin), **limits)
    # Load the model and the default detector now: a corrupt --model fails here, in one line,
    # not as a 500 on every request (and the first request does not pay the load).
    app.state.pool.get(DEFAULT_DETECTOR)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"ferkit: serving on http://{shown}:{args.port} (browser page at /, API docs at /docs"
          f"{', API key required' if args.api_key else ''})", file=sys.stderr)
    if not args.api_key and not _is_loopback(args.host):
        print(f"ferkit: warning: --host {args.host} without --api-key: anyone who can reach "
              "this machine can use the API; set --api-key (or $FERKIT_API_KEY)",
              file=sys.stderr)
    # WebSocket frames up to twice the limit get a JSON error; bigger ones close the socket.
    # h11 with timers for slow clients (uvicorn alone waits forever for request headers);
    # request headers over 16 KiB get 400; idle keep-alive connections close after 5 s.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                log_config=log_config(args.log_level), http=guarded_h11(args.client_timeout),
                timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024,
                ws_max_size=2 * limits["max_upload_bytes"] + 4096)
    return 0


def _scaled(value: float | None, unit: float) -> int | None:
    """An option in MB or MP as bytes or pixels; None (its default) stays None."""
    return None if value is None else int(value * unit)


def _is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: loopback only if every address it resolves to is
        try:
            infos = socket.getaddrinfo(host, None)
        except socket.gaierror:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _check_bindable(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken or unknown, before uvicorn starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise FerkitError(f"cannot resolve --host {host}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise FerkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                              "(another server there? try another --port)") from None
