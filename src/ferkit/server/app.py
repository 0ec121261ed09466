"""The FastAPI app behind `ferkit serve`: POST /v1/analyze, WebSocket /v1/stream, video jobs at
/v1/videos, GET /healthz, the browser page at / and the OpenAPI docs at /docs.

Every error is a JSON object `{"error": "..."}` with a 4xx status for bad input; inference runs
in a worker thread so the event loop keeps answering while a photo is being analysed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ferkit import __version__
from ferkit.detect import DEFAULT_DETECTOR
from ferkit.detect.spec import REDETECT_EVERY, VIDEO_DETECTOR
from ferkit.episodes import EpisodeOptions
from ferkit.errors import FerkitError, ImageError, ImageTooLargeError
from ferkit.imageio import load_image, probe_image
from ferkit.labels import LABEL_SETS
from ferkit.recognizer import RecognizerPool, photo_tta
from ferkit.server.jobs import (
    DONE,
    EXPORT_NAMES,
    QueueFull,
    VideoJobs,
    VideoTooLarge,
    check_video,
    video_csv,
    video_export,
    video_report,
)
from ferkit.server.limits import Busy, ByteBudget, ByteClaim, PixelBudget, check_limits
from ferkit.server.timeouts import DEFAULT_TIMEOUT_S, SlowBodyMiddleware, TooSlow
from ferkit.server.uploads import remove_stale_upload_dirs
from ferkit.video.pipeline import StreamOptions

#: Detector specs a client may ask for: the image default, the stream default, BlazeFace, Haar.
#: A fixed menu, so clients cannot make the server build a recognizer per spec they invent
#: ("boxes" needs boxes the HTTP API does not take).
#: The stream default before it named `close_up=false` (the same search on video frames above
#: 512 px), still accepted from clients written against it.
_VIDEO_DETECTOR_BEFORE = "retinaface:max_side=960,threads=1"
SERVER_DETECTORS = (DEFAULT_DETECTOR, VIDEO_DETECTOR, "blazeface", "haar", _VIDEO_DETECTOR_BEFORE)
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_VIDEO_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_QUEUED_VIDEOS = 8
EPISODES = EpisodeOptions()  # the defaults of `ferkit video --episodes`
#: Largest image the server decodes (the library's limit is 100 MP): a 100 MP bomb of a few
#: kilobytes costs gigabytes to decode.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
#: Routes that answer without an API key: the browser page and the API docs hold no secret;
#: the page asks for the key, and the docs' "Authorize" button takes it for "Try it out".
OPEN_PATHS = frozenset({"/healthz", "/", "/docs", "/docs/oauth2-redirect", "/redoc",
                        "/openapi.json"})
OPEN_PREFIXES = ("/static/", "/docs-assets/")
DOCS_ASSETS = "/docs-assets"
STATIC_DIR = Path(__file__).parent / "static"
#: WebSocket subprotocols a browser offers to pass the API key (it cannot set headers).
STREAM_PROTOCOL = "ferkit"
KEY_PROTOCOL_PREFIX = "ferkit.key."

RecognizerFactory = Callable[[str], Any]
log = logging.getLogger("ferkit.server")


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and the message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] | None = None


def _busy(what: str) -> ApiError:
    error = ApiError(503, f"the server is busy with other {what}; try again shortly")
    error.headers = {"Retry-After": "5"}
    return error


def _upload_body(*media_types: str) -> dict[str, Any]:
    """OpenAPI for a file sent as multipart field `file` or as the raw body."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    multipart = {"schema": {"type": "object", "required": ["file"],
                            "properties": {"file": binary["schema"]}}}
    content = {"multipart/form-data": multipart, "application/octet-stream": binary,
               **{t: binary for t in media_types}}
    return {"requestBody": {"required": True, "content": content}}


def create_app(recognizer_factory: RecognizerFactory | None = None, *,
               model: str | Path | None = None, threads: int | None = None,
               api_key: str | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_concurrent: int | None = None,
               max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
               max_queued_videos: int = DEFAULT_MAX_QUEUED_VIDEOS,
               max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
               max_pixels_in_flight: int | None = None,
               max_upload_bytes_in_flight: int | None = None,
               client_timeout_s: float = DEFAULT_TIMEOUT_S,
               allowed_origins: Sequence[str] = ()) -> FastAPI:
    """The ferkit HTTP app.

    `recognizer_factory(detector_spec)` returns an object with `analyze(image, label_set)`
    (default: `Recognizer` on the shipped model); `model` and `threads` choose the model of
    the default factory. With `api_key`, every route except /healthz
    and the browser page needs the header `X-API-Key: KEY` (or `Authorization: Bearer KEY`).
    Request bodies over `max_upload_bytes` get 413. At most `max_concurrent` images (default:
    one per CPU core) are decoded and analysed at once; further requests wait their turn.
    Videos (up to `max_video_bytes`) are analysed one at a time by a worker thread besides
    those; at most `max_queued_videos` wait (or upload), and further uploads get 503.

    FerkitError for limits that make no sense (`limits.check_limits`).

    What requests may cost together is bounded: images over `max_image_pixels` get 413, and
    an image waits to be decoded until its pixels fit in `max_pixels_in_flight` (default:
    twice the per-image limit); bodies being read may hold `max_upload_bytes_in_flight`
    (default: four uploads' worth) in memory, beyond which uploads get 503. A body that stalls
    for `client_timeout_s` or trickles in gets 408. WebSocket handshakes from a browser page
    must come from the server's own origin or one of `allowed_origins` ("*": any), which
    may also call the HTTP API (CORS).
    """
    check_limits(max_upload_bytes=max_upload_bytes, max_video_bytes=max_video_bytes,
                 max_queued_videos=max_queued_videos, max_concurrent=max_concurrent,
                 max_image_pixels=max_image_pixels, max_pixels_in_flight=max_pixels_in_flight,
                 max_upload_bytes_in_flight=max_upload_bytes_in_flight,
                 client_timeout_s=client_timeout_s)
    pool = RecognizerPool(recognizer_factory, model=model, threads=threads)
    limiter = anyio.CapacityLimiter(max_concurrent or os.cpu_count() or 1)
    videos = VideoJobs(pool.get, max_queued=max_queued_videos)
    pixels = PixelBudget(max_pixels_in_flight or 2 * max_image_pixels)
    body_bytes = ByteBudget(max_upload_bytes_in_flight or 4 * max_upload_bytes)
    video_uploads = 0  # videos being received; with the queue, bounded by max_queued_videos

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(remove_stale_upload_dirs)
        yield
        # Stop the video worker and delete waiting uploads when the server shuts down.
        await anyio.to_thread.run_sync(videos.close)

    # FastAPIOffline serves Swagger UI's script and style from the package, not a CDN.
    app = FastAPIOffline(title="ferkit", version=__version__, lifespan=lifespan,
                         static_url=DOCS_ASSETS,
                         description="Facial expression recognition: every face in a photo "
                                     "with its expression. A browser page using this API is "
                                     "at `/`.")
    if api_key:
        _document_key(app)
    app.state.pool = pool
    app.state.videos = videos
    app.state.max_upload_bytes = max_upload_bytes
    app.state.max_video_bytes = max_video_bytes

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect):
        log.info("%s - %s %s: the client went away during the upload", _client(request),
                 request.method, request.url.path)
        return Response(status_code=400)  # nobody reads it

    @app.exception_handler(TooSlow)
    async def _too_slow(request: Request, exc: TooSlow):
        log.warning("%s - %s %s: request body too slow, closed", _client(request),
                    request.method, request.url.path)
        return JSONResponse({"error": "the request body arrived too slowly"},
                            status_code=408, headers={"Connection": "close"})

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        # One line here; uvicorn logs the traceback once when Starlette re-raises.
        log.error("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, status_code=422)

    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    if allowed_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(allowed_origins),
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(SlowBodyMiddleware, timeout_s=client_timeout_s)

    async def analyze_image(recognizer, data: bytes, label_set: str, tta: bool
                            ) -> dict[str, Any]:
        """Decode and analyse once the image's pixels fit in the shared budget."""
        count = await anyio.to_thread.run_sync(_announced_pixels, data, max_image_pixels)
        try:
            async with pixels.reserve(count):
                return await anyio.to_thread.run_sync(
                    _analyze, recognizer, data, label_set, max_image_pixels, tta,
                    limiter=limiter)
        except Busy:
            raise _busy("large images") from None

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/healthz", summary="Liveness check (no API key needed)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post(
        "/v1/analyze",
        summary="Every face in an image with its expression",
        description="Send the image as multipart field `file`, or as the raw request body. "
                    "Answers `{faces, label_set, width, height}`; each face is "
                    "`Face.to_dict()` (box_xyxy in image pixels, scores, label).",
        openapi_extra=_upload_body("image/jpeg", "image/png"),
    )
    async def analyze(
        request: Request,
        label_set: str = Query("seed5", description="one of " + ", ".join(LABEL_SETS)),
        detector: str = Query(DEFAULT_DETECTOR,
                              description="one of " + ", ".join(SERVER_DETECTORS)),
        tta: bool | None = Query(None, description="also read each face mirrored and average "
                          "the two (default: as every ferkit front end reads photos, "
                          "ferkit.recognizer.PHOTO_TTA); about twice the classifier's time"),
    ) -> dict[str, Any]:
        _check_choice("label set", label_set, LABEL_SETS)
        _check_choice("detector", detector, SERVER_DETECTORS)
        async with body_bytes.hold() as claim:
            data = await read_image_bytes(request, max_upload_bytes, claim)
            recognizer = await anyio.to_thread.run_sync(pool.get, detector)
            return await analyze_image(recognizer, data, label_set, photo_tta(tta))

    @app.post(
        "/v1/videos", status_code=202,
        summary="Queue a video for analysis; answers the job to poll",
        description="Send the video as multipart field `file`, or as the raw request body. "
                    "The content must be a video OpenCV decodes (MP4, AVI, MKV, WebM, ...). "
                    "Answers 202 with the job (`id`, `status`, ...) and a `Location` header; "
                    "poll GET /v1/videos/{id}. 503 when the queue is full. `min_episode`, "
                    "`margin` and `uncertain_below` cut the job's emotion episodes (its "
                    "report and exports) as `ferkit video --episodes` does.",
        openapi_extra=_upload_body("video/mp4"),
    )
    async def submit_video(
        request: Request,
        label_set: str = Query("seed5", description="one of " + ", ".join(LABEL_SETS)),
        detector: str = Query(VIDEO_DETECTOR, description="one of " + ", ".join(SERVER_DETECTORS)
                              + " (default: the stream default of every ferkit front end)"),
        every: int = Query(1, ge=1, le=10_000, description="analyse every N-th frame"),
        redetect_every: int = Query(
            REDETECT_EVERY, ge=1, le=10_000,
            description="search the whole frame every K-th analysed frame, only near the "
                        "faces already found in between, as `ferkit video` does; 1: every "
                        "frame"),
        min_episode: float = Query(
            EPISODES.min_duration_s, ge=0, le=3600,
            description="merge emotion episodes shorter than this many seconds into their "
                        "neighbour"),
        margin: float = Query(
            EPISODES.margin, ge=0, lt=1,
            description="a face's label changes only when another emotion's probability "
                        "beats it by this much"),
        uncertain_below: float = Query(
            EPISODES.uncertain_below, ge=0, lt=1,
            description="frames whose top probability is below this are 'uncertain' "
                        "(0: never)"),
    ) -> JSONResponse:
        nonlocal video_uploads
        _check_choice("label set", label_set, LABEL_SETS)
        _check_choice("detector", detector, SERVER_DETECTORS)
        try:
            episode_options = EpisodeOptions(margin=margin, min_duration_s=min_episode,
                                             uncertain_below=uncertain_below)
        except FerkitError as exc:
            raise ApiError(422, str(exc)) from None
        # Refuse before reading a large upload we could not queue.
        if videos.waiting() + video_uploads >= videos.max_queued:
            raise _queue_full(videos.max_queued)
        path = videos.new_upload_path()
        video_uploads += 1
        try:
            filename = await save_upload(request, path, max_video_bytes)
            try:
                info = await anyio.to_thread.run_sync(check_video, path)
            except FerkitError as exc:
                status = 413 if isinstance(exc, VideoTooLarge) else 415
                raise ApiError(status, str(exc).replace(str(path), "the upload")) from None
            total = info.analysed_frames(every)
            options = StreamOptions(label_set=label_set, detector=detector, every=every,
                                    redetect_every=redetect_every)
            job = videos.submit(path, options, filename=filename, frames_total=total,
                                fps=info.fps, episode_options=episode_options)
        except QueueFull:
            path.unlink(missing_ok=True)
            raise _queue_full(videos.max_queued) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            video_uploads -= 1
        return JSONResponse(job.summary(), status_code=202,
                            headers={"Location": f"/v1/videos/{job.id}"})

    @app.get(
        "/v1/videos/{job_id}",
        summary="A video job: status and progress; its rows once done",
        description="`status` is queued, running, done or failed (with `error`). When done, "
                    "`rows` holds one row per face per analysed frame, the rows of "
                    "`ferkit video`; `?format=csv` answers them as CSV with the same columns "
                    "as `ferkit video --csv`. Finished jobs are forgotten (404), oldest "
                    "first, beyond 100 jobs or a million rows in all.",
    )
    async def video_job(
        job_id: str,
        format: str = Query("json", description="json or csv (csv only once done)"),
    ) -> Response:
        _check_choice("format", format, ("json", "csv"))
        job = videos.get(job_id)
        if job is None:
            raise ApiError(404, f"no video job {job_id!r} (unknown, or finished long ago)")
        if format == "csv":
            if job.status != DONE:
                raise ApiError(409, f"the job is {job.status}: CSV is ready once it is done")
            text = await anyio.to_thread.run_sync(video_csv, job)
            return Response(text, media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="{job.id}.csv"'})
        answer = job.summary()
        if answer["status"] == DONE:
            answer["rows"] = job.rows
        # A long video has many rows: encode them off the event loop.
        body = await anyio.to_thread.run_sync(_json_bytes, answer)
        return Response(body, media_type="application/json")

    def finished_job(job_id: str, what: str):
        job = videos.get(job_id)
        if job is None:
            raise ApiError(404, f"no video job {job_id!r} (unknown, or finished long ago)")
        if job.status != DONE:
            raise ApiError(409, f"the job is {job.status}: the {what} is ready once it is done")
        return job

    @app.get(
        "/v1/videos/{job_id}/report.html", response_class=HTMLResponse,
        summary="A finished video job's report: one self-contained HTML page",
        description="The page `ferkit report` writes, from the job's rows: per face a "
                    "thumbnail, the emotion timeline, the share of time in each emotion and "
                    "the episodes; the settings and model; every export inside as a download. "
                    "409 until the job is done.",
    )
    async def video_job_report(request: Request, job_id: str) -> Response:
        _refuse_episode_options(request)
        job = finished_job(job_id, "report")
        page = await anyio.to_thread.run_sync(video_report, job)
        return HTMLResponse(page)

    @app.get(
        "/v1/videos/{job_id}/episodes/{name}",
        summary="A finished video job's emotion episodes, as a file for an annotation tool",
        description="`name` is one of " + ", ".join(f"`{n}`" for n in EXPORT_NAMES)
                    + ": ELAN (one tier per face), Praat TextGrid (one interval tier per face), "
                    "BORIS events (TSV, XLSX), the per-frame table with OpenFace column names, "
                    "and the episodes table; the files `ferkit video --episodes` writes. The "
                    "ELAN file links the video by its uploaded name, beside the .eaf. 409 "
                    "until the job is done.",
    )
    async def video_job_episodes(request: Request, job_id: str, name: str) -> Response:
        _refuse_episode_options(request)
        _check_choice("export", name, EXPORT_NAMES)
        job = finished_job(job_id, "export")
        try:
            data, filename, media_type = await anyio.to_thread.run_sync(video_export, job, name)
        except KeyError:
            raise ApiError(501, f"{name}: this server cannot write it (openpyxl is not "
                                "installed)") from None
        if media_type.startswith("text/") or media_type.endswith("/xml"):
            media_type += "; charset=utf-8"
        return Response(data, media_type=media_type,
                        headers={"Content-Disposition": _attachment(filename)})

    @app.websocket("/v1/stream")
    async def stream(
        websocket: WebSocket,
        label_set: str = "seed5",
        detector: str = DEFAULT_DETECTOR,
        tta: bool = False,
    ) -> None:
        """Send binary image frames (JPEG, PNG, ...); each answer is
        `{frame, dropped, faces, label_set, width, height}` or `{frame, dropped, error}`.

        Frames that arrive while one is being analysed replace each other: only the newest
        waiting frame is analysed, and `dropped` counts those skipped since the last answer.
        `frame` is the 0-based index of the frame answered, in arrival order. Frames are read
        once, as video frames are everywhere (`tta=true`: each face also mirrored). With an API key
        set, send it as header `X-API-Key`, as query parameter `api_key`, or (browsers, which
        cannot set headers) as the subprotocols `ferkit` and `ferkit.key.<key as UTF-8 hex>`,
        which keeps it out of URLs and access logs.
        """
        if not _origin_ok(websocket, allowed_origins):
            log.warning("refused a WebSocket from origin %s (allow it with --allow-origin)",
                        websocket.headers.get("origin"))
            await websocket.close(code=1008, reason="origin not allowed")
            return
        offered_key = _subprotocol_key(websocket.scope.get("subprotocols") or [])
        if api_key and not (_key_ok(websocket, api_key) or _same(
                websocket.query_params.get("api_key"), api_key)
                or _same(offered_key, api_key)):
            await websocket.close(code=1008, reason="missing or wrong API key")
            return
        # A browser that offered subprotocols drops the connection unless one is chosen.
        await websocket.accept(subprotocol=STREAM_PROTOCOL if offered_key is not None else None)
        try:
            _check_choice("label set", label_set, LABEL_SETS)
            _check_choice("detector", detector, SERVER_DETECTORS)
        except ApiError as exc:
            await websocket.send_json({"error": exc.message})
            await websocket.close(code=1008, reason=exc.message[:120])
            return
        recognizer = await anyio.to_thread.run_sync(pool.get, detector)
        async with body_bytes.hold() as claim:  # its frames count as request bytes in memory
            await _serve_stream(websocket, recognizer, label_set, max_upload_bytes, claim,
                                lambda r, d, ls: analyze_image(r, d, ls, tta))

    return app


class ApiKeyMiddleware:
    """401 for HTTP requests without the API key, except on OPEN_PATHS (the WebSocket route
    checks its own). Plain ASGI: Starlette's BaseHTTPMiddleware would wrap the app's
    exceptions in exception groups that its handlers no longer recognise."""

    def __init__(self, app, api_key: str):
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            path = request.url.path
            if not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
                    or _key_ok(request, self.api_key)):
                response = JSONResponse(
                    {"error": "missing or wrong API key: send the header 'X-API-Key: KEY'"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _document_key(app: FastAPI) -> None:
    """Declare the X-API-Key header in the OpenAPI schema, so /docs offers "Authorize"."""
    make_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make_schema()
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
            for path, operations in schema["paths"].items():
                if path not in OPEN_PATHS:
                    for operation in operations.values():
                        operation["security"] = [{"ApiKey": []}]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _origin_ok(websocket: WebSocket, allowed: Sequence[str]) -> bool:
    """True for clients that are not browser pages (no Origin), pages served by this server,
    and origins the operator allowed; WebSockets are not covered by browsers' CORS rules."""
    origin = websocket.headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    host = websocket.headers.get("host", "")
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _serve_stream(websocket: WebSocket, recognizer, label_set: str, limit: int,
                        claim: ByteClaim, analyze_image) -> None:
    """Read frames as fast as they come; analyse the newest one whenever the worker is free.

    `claim` holds the bytes of the frame waiting and the one being analysed; a frame that
    does not fit in the server's budget is answered with an error instead."""
    state: dict[str, Any] = {"pending": None, "dropped": 0, "analysing": 0}
    wake = anyio.Event()

    async def reader() -> None:
        nonlocal wake
        index = 0
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:
                item: tuple[int, bytes | None, str | None] = (
                    index, None, "send each frame as a binary message with the image bytes")
            elif len(data) > limit:
                item = (index, None, _too_large(limit))
            elif not data:
                item = (index, None, "empty frame")
            else:
                try:  # the new frame replaces any waiting one
                    claim.resize(state["analysing"] + len(data))
                    item = (index, data, None)
                except Busy:
                    claim.resize(state["analysing"])  # the waiting frame is dropped anyway
                    item = (index, None, _busy("uploads").message)
            if state["pending"] is not None:
                state["dropped"] += 1
            state["pending"] = item
            index += 1
            wake.set()
        tg.cancel_scope.cancel()

    async def worker() -> None:
        nonlocal wake
        while True:
            await wake.wait()
            wake = anyio.Event()
            item, state["pending"] = state["pending"], None
            if item is None:
                continue
            dropped, state["dropped"] = state["dropped"], 0
            index, data, error = item
            answer: dict[str, Any] = {"frame": index, "dropped": dropped}
            if error is None:
                state["analysing"] = len(data)
                try:
                    answer.update(await analyze_image(recognizer, data, label_set))
                except ApiError as exc:
                    error = exc.message
                except Exception:  # a bug, not the client's fault: say so and keep streaming
                    log.exception("unexpected error analysing stream frame %d", index)
                    error = "internal server error"
                finally:
                    state["analysing"] = 0
                    waiting = state["pending"]
                    claim.resize(len(waiting[1]) if waiting and waiting[1] else 0)
            if error is not None:
                answer["error"] = error
            try:
                await websocket.send_json(answer)
            except (WebSocketDisconnect, RuntimeError, OSError):  # the client went away
                tg.cancel_scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(worker)


def _subprotocol_key(offered: list[str]) -> str | None:
    """The API key a browser sent as subprotocol `ferkit.key.<hex>`, or None."""
    for protocol in offered:
        if protocol.startswith(KEY_PROTOCOL_PREFIX):
            try:
                return bytes.fromhex(protocol[len(KEY_PROTOCOL_PREFIX):]).decode()
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def _attachment(filename: str) -> str:
    """A Content-Disposition for a download, with non-ASCII names as RFC 6266 asks."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def _key_ok(request, api_key: str) -> bool:
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    return _same(given, api_key)


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"


#: The query options of POST /v1/videos that cut a job's episodes.
EPISODE_QUERY = ("min_episode", "margin", "uncertain_below")


def _refuse_episode_options(request: Request) -> None:
    """422 where a download names episode options: they are the job's, given with its video,
    and would otherwise be ignored without a word."""
    given = [name for name in EPISODE_QUERY if name in request.query_params]
    if given:
        raise ApiError(422, f"{', '.join(given)}: give episode options when posting the "
                            "video (POST /v1/videos?min_episode=...); a download uses the job's")


def _check_choice(what: str, value: str, choices) -> None:
    if value not in choices:
        raise ApiError(422, f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


async def read_body_limited(request: Request, limit: int, claim: ByteClaim) -> bytes:
    """The request body, refusing with 413 as soon as it grows past `limit` bytes, and with
    503 when the bytes it holds would not fit in the server's shared `claim` budget."""
    declared = request.headers.get("content-length")
    try:
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise ApiError(413, _too_large(limit))
            claim.grow_to(int(declared))
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                raise ApiError(413, _too_large(limit))
            claim.grow_to(len(chunks))
    except Busy:
        raise _busy("uploads") from None
    return bytes(chunks)


def _queue_full(places: int) -> ApiError:
    error = ApiError(503, f"the video queue is full ({places} waiting); try again later")
    error.headers = {"Retry-After": "30"}
    return error


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data).encode()


async def save_upload(request: Request, path: Path, limit: int) -> str | None:
    """Write the upload (multipart field `file`, or else the whole body) to `path` without
    holding it in memory; 413 as soon as the body grows past `limit`. Returns the file name
    the client gave, if any."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, _too_large(limit))
    received = 0

    async def counted():
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise ApiError(413, _too_large(limit))
        return message

    counted_request = Request(request.scope, counted)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in counted_request.stream():
                await out.write(chunk)
        if received == 0:
            raise ApiError(400, "empty request: send a video as multipart field 'file' "
                                "or as the request body")
        return None
    try:
        form = await counted_request.form(max_files=1, max_fields=16)
    except (ApiError, ClientDisconnect, TooSlow):
        raise
    except StarletteHTTPException as exc:
        raise ApiError(400, f"malformed multipart body: {exc.detail}") from None
    except Exception as exc:  # the multipart parser raises several types for broken input
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "multipart request without a file field called 'file'")
        await anyio.to_thread.run_sync(_copy_upload, upload.file, path)
        filename = upload.filename
    finally:
        await form.close()
    if path.stat().st_size == 0:
        raise ApiError(400, "the uploaded file is empty")
    return filename


def _copy_upload(source, path: Path) -> None:
    source.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


def _too_large(limit: int) -> str:
    return f"upload too large: the limit is {limit / 1024 / 1024:.3g} MB"


async def read_image_bytes(request: Request, limit: int, claim: ByteClaim) -> bytes:
    """The uploaded image's bytes: multipart field `file`, or else the whole body."""
    body = await read_body_limited(request, limit, claim)
    if not body:
        raise ApiError(400, "empty request: send an image as multipart field 'file' "
                            "or as the request body")
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return body
    form = await _parse_form(request, body)
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "multipart request without a file field called 'file'")
        data = await upload.read()
    finally:
        await form.close()
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data


async def _parse_form(request: Request, body: bytes):
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=4, max_fields=16)
    except StarletteHTTPException as exc:
        raise ApiError(400, f"malformed multipart body: {exc.detail}") from None
    except Exception as exc:  # the multipart parser raises several types for broken input
        raise ApiError(400, f"malformed multipart body: {exc}") from None


def _analyze(recognizer, data: bytes, label_set: str, max_pixels: int, tta: bool
             ) -> dict[str, Any]:
    try:
        image = load_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise _image_error(exc) from None
    try:
        faces = recognizer.analyze(image, label_set, tta=tta)
    except FerkitError as exc:
        raise ApiError(422, str(exc)) from None
    height, width = image.shape[:2]
    return {"faces": [f.to_dict() for f in faces], "label_set": label_set,
            "width": width, "height": height}


def _announced_pixels(data: bytes, max_pixels: int) -> int:
    """The pixel count the image's header announces (`probe_image`: nothing decoded); 413
    over `max_pixels`, 415 for what load_image would not decode, so an unreadable upload is
    answered before it reserves any of the pixel budget."""
    try:
        header = probe_image(data)
    except ImageError as exc:
        raise _image_error(exc) from None
    if header.pixels > max_pixels:
        raise ApiError(413, f"image is {header.width}x{header.height}, over the "
                            f"{max_pixels / 1e6:.0f} MP limit")
    return header.pixels


def _image_error(exc: ImageError) -> ApiError:
    """The answer to an image load_image or probe_image refused: 413 too large, else 415."""
    if isinstance(exc, ImageTooLargeError):
        return ApiError(413, f"image too large: {_strip_source(str(exc))}")
    return ApiError(415, f"not a readable image: {_strip_source(str(exc))}")


def _strip_source(message: str) -> str:
    return message.replace("cannot read image <bytes>: ", "").replace("image <bytes> ", "image ")
