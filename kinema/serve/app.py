"""The HTTP API: OpenAI's Videos API (what the official `openai` SDK calls), a web page at `/`, and `serve()`.

Routes: POST /v1/videos (multipart or JSON), GET /v1/videos, GET/DELETE /v1/videos/{id},
GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet, POST /v1/videos/{id}/remix,
POST /v1/videos/extensions, POST /v1/videos/edits; GET /kinema/info (sizes, lengths and limits for the page).
Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}. With API keys configured every /v1 call
needs `Authorization: Bearer KEY`, and each key sees only its own videos; with none the server listens on loopback.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import logging
import shutil
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from kinema.io import VideoError, read_video, write_video
from kinema.serve import params as P
from kinema.serve.generate import Generator, moderate
from kinema.serve.params import ApiError, bad
from kinema.serve.store import Store, new_id
from kinema.serve.worker import OUTPUTS, WorkerPool

log = logging.getLogger("kinema.serve")
STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/png"}
MIN_SIDE, MAX_SIDE = 16, 2048  # uploaded images and videos


@dataclass
class Settings:
    """Everything `kinema serve` configures."""

    db: Path = Path("kinema-serve/jobs.db")
    api_keys: tuple[str, ...] = ()
    workers: int = 1
    max_active_per_key: int = 32  # queued + running jobs per key; past it 429
    max_upload_bytes: int = 32 * 2**20  # request bodies; past it 413
    max_prompt_chars: int = 2000
    ttl_seconds: int = 24 * 3600  # files of finished videos are deleted this long after completion
    poll_after_ms: int = 1000  # the openai-poll-after-ms header for queued and running jobs
    sweep_every: float = 60.0
    moderator: Callable[[str], str | None] = field(default=moderate)


# ------------------------------------------------------------------------------------------------ response models


class VideoFailure(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    id: str
    object: Literal["video"] = "video"
    created_at: int
    completed_at: int | None
    expires_at: int | None
    model: str
    progress: int
    prompt: str | None
    remixed_from_video_id: str | None
    seconds: str
    size: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    error: VideoFailure | None
    seed: int


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class Error(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": Error} for s in (400, 401, 404, 413, 429)}


def video_json(job: dict[str, Any]) -> dict[str, Any]:
    """A job as OpenAI's Video object (plus its seed)."""
    failed = job["status"] == "failed"
    return {
        "id": job["id"],
        "object": "video",
        "created_at": job["created_at"],
        "completed_at": job["completed_at"],
        "expires_at": job["expires_at"],
        "model": job["model"],
        "progress": job["progress"],
        "prompt": job["prompt"],
        "remixed_from_video_id": job["remixed_from"],
        "seconds": job["seconds"],
        "size": job["size"],
        "status": job["status"],
        "error": {"code": job["error_code"], "message": job["error_message"]} if failed else None,
        "seed": job["seed"],
    }


# ------------------------------------------------------------------------------------------------ request bodies

_STRING = {"type": "string"}
_FILE = {"type": "string", "format": "binary"}
_REF = {"type": "object", "properties": {"id": _STRING}, "required": ["id"]}


def _body(required: list[str], form: dict[str, Any], json_only: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI requestBody taking multipart (what the SDK sends) or JSON."""
    as_json = {k: (v if v is not _FILE else _REF) for k, v in form.items()} | (json_only or {})
    as_json = {k: v for k, v in as_json.items() if v is not None}
    schema = {"type": "object", "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {**schema, "properties": form}},
                "application/json": {"schema": {**schema, "properties": as_json}},
            },
        }
    }


REMIX_BODY = _body(["prompt"], {"prompt": _STRING})


def bodies(generator: Generator) -> dict[str, dict[str, Any]]:
    """The request bodies of create, extend and edit, with the sizes and lengths this generator accepts."""
    native = [P.fmt_size(s) for s in generator.sizes]
    size = {"type": "string", "enum": [*P.OPENAI_SIZES, *native]}
    seconds = {"type": "string", "enum": list(dict.fromkeys([*P.OPENAI_SECONDS, *generator.seconds]))}
    extend = {"type": "string", "enum": list(dict.fromkeys([*P.OPENAI_EXTEND_SECONDS, *generator.seconds]))}
    seed = {"type": "integer", "minimum": 0, "maximum": P.MAX_SEED}
    create = {"prompt": _STRING, "model": _STRING, "seconds": seconds, "size": size, "seed": seed}
    image_ref = {"type": "object", "properties": {"image_url": _STRING, "file_id": _STRING}}
    return {
        "create": _body(["prompt"], {**create, "input_reference": _FILE}, {"input_reference": image_ref}),
        "extend": _body(["prompt", "seconds", "video"], {"prompt": _STRING, "seconds": extend, "video": _FILE}),
        "edit": _body(["prompt", "video"], {"prompt": _STRING, "video": _FILE}),
    }


@dataclass
class Upload:
    """An uploaded file, read into memory (request bodies are capped at max_upload_bytes)."""

    filename: str
    data: bytes


async def read_fields(request: Request) -> dict[str, Any]:
    """The body as a dict: multipart/urlencoded fields (`video[id]` -> {"video": {"id": ...}}, files as Upload)
    or a JSON object."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=4, max_fields=64)
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                value = Upload(value.filename or "upload", await value.read())
            if "[" in key and key.endswith("]"):
                outer, inner = key[:-1].split("[", 1)
                if not isinstance(fields.get(outer), dict):
                    fields[outer] = {}
                fields[outer][inner] = value
            else:
                fields[key] = value
        return fields
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"request body is not JSON ({e}); send JSON or multipart/form-data", None, "invalid_json") from None
    if not isinstance(data, dict):
        raise bad(f"request body must be a JSON object, not {type(data).__name__}", None, "invalid_json")
    return data


def decode_image(data: bytes, param: str) -> Image.Image:
    """Decode an uploaded image (by content, not name) or raise a 400 that says why."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if not (MIN_SIDE <= min(im.size) and max(im.size) <= MAX_SIDE):
                raise bad(f"{param}: image is {im.width}x{im.height}; sides must be {MIN_SIDE}-{MAX_SIDE} px", param)
            return im.convert("RGB")
    except ApiError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise bad(f"{param}: not a readable image ({e})", param, "invalid_image") from None


def decode_video(data: bytes, folder: Path, param: str) -> tuple[np.ndarray, float]:
    """Decode an uploaded video (by content, not name); store it as folder/source.mp4."""
    tmp = folder / "upload.bin"
    tmp.write_bytes(data)
    try:
        frames, fps = read_video(tmp)
    except VideoError as e:
        raise bad(f"{param}: not a readable video ({str(e).split(': ', 1)[-1]})", param, "invalid_video") from None
    finally:
        tmp.unlink(missing_ok=True)
    if not (MIN_SIDE <= min(frames.shape[1:3]) and max(frames.shape[1:3]) <= MAX_SIDE):
        size = f"{frames.shape[2]}x{frames.shape[1]}"
        raise bad(f"{param}: video is {size}; sides must be {MIN_SIDE}-{MAX_SIDE} px", param)
    write_video(folder / "source.mp4", frames, fps)
    return frames, fps


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body is larger than {limit} bytes, the most this server takes", code="too_large")


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, by its Content-Length or by counting as it arrives."""

    linger = 16 * 2**20  # bodies up to this much over the limit are read before the 413 goes out

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            # read (and drop) a body that is not far over the limit first: a client that sends its whole body before
            # it reads the answer would otherwise see the connection reset instead of the 413
            if int(length) <= self.limit + self.linger:  # the server passes on no more than Content-Length
                while (await receive()).get("more_body", False):
                    pass
            response = JSONResponse(too_large(self.limit).body(), status_code=413, headers={"connection": "close"})
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


# ------------------------------------------------------------------------------------------------ the app


def create_app(settings: Settings, make_generator: Callable[[int], Generator], start_workers: bool = True) -> FastAPI:
    """The FastAPI app; `make_generator(i)` builds worker i's generator (worker 0's also answers size questions)."""
    store = Store(settings.db)
    generator = make_generator(0)
    generators = iter([generator])  # worker 0 reuses the first; others get their own
    pool = WorkerPool(
        store,
        lambda i: next(generators, None) or make_generator(i),
        settings.workers,
        settings.ttl_seconds,
        settings.moderator,
        settings.sweep_every,
    )
    keys = [sha256(k.encode()).hexdigest() for k in settings.api_keys]  # compared as digests, in constant time
    body = bodies(generator)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        requeued, failed = store.recover()
        if requeued or failed:
            log.warning("restart: %d interrupted jobs re-queued, %d failed (interrupted too often)", requeued, failed)
        if start_workers:
            pool.start()
        yield
        pool.close()

    app = FastAPI(
        title="Kinema Videos API",
        version="1",
        summary="OpenAI-compatible Videos API for Kinema",
        lifespan=lifespan,
    )
    app.state.store, app.state.pool, app.state.settings = store, pool, settings

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        param = str(first["loc"][-1]) if first.get("loc") else None
        return JSONResponse(bad(f"{param}: {first['msg']}", param).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code)
        return JSONResponse(ApiError(e.status_code, str(e.detail), code=code).body(), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        err = ApiError(500, f"internal error: {type(e).__name__}", type="server_error", code="internal_error")
        return JSONResponse(err.body(), status_code=500)

    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)

    def owner(request: Request) -> str:
        if not keys:
            return "local"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", code="missing_api_key")
        digest = sha256(token.strip().encode()).hexdigest()
        if not any(hmac.compare_digest(digest, k) for k in keys):
            raise ApiError(401, "incorrect API key", code="invalid_api_key")
        return "key:" + digest[:16]

    def poll_headers(job: dict[str, Any]) -> dict[str, str]:
        if job["status"] in ("queued", "in_progress"):
            return {"openai-poll-after-ms": str(settings.poll_after_ms)}
        return {}

    def video_response(job: dict[str, Any]) -> JSONResponse:
        return JSONResponse(video_json(job), headers=poll_headers(job))

    def find(video_id: str, who: str) -> dict[str, Any]:
        job = store.get(video_id, who)
        if job is None:
            raise ApiError(404, f"no video with id '{video_id}'", "video_id", "video_not_found")
        return job

    def completed_file(job: dict[str, Any], variant: str = "video") -> Path:
        if job["status"] != "completed":
            raise bad(f"video '{job['id']}' is {job['status']}, not completed", "video_id", "video_not_ready")
        path = store.job_dir(job["id"]) / OUTPUTS[variant]
        if job["expired"] or not path.is_file():
            raise ApiError(404, f"the files of video '{job['id']}' have expired", "video_id", "video_expired")
        return path

    def enqueue(job: dict[str, Any], folder: Path) -> JSONResponse:
        try:
            created = store.create(job, settings.max_active_per_key)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if created is None:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(
                429,
                f"you have {settings.max_active_per_key} videos queued or running, the most allowed; "
                "wait for some to finish",
                code="too_many_active_jobs",
                type="rate_limit_exceeded",
                headers={"retry-after": str(max(1, settings.poll_after_ms // 1000))},
            )
        pool.wake.set()
        return video_response(created)

    def new_job(who: str, task: str, fields: dict[str, Any], **values: Any) -> tuple[dict[str, Any], Path]:
        job = dict(id=new_id(), owner=who, task=task, remixed_from=None, **values)
        job.setdefault("seed", P.resolve_seed(fields.get("seed")))
        job.setdefault("model", P.resolve_model(P.as_text(fields, "model"), generator.name))
        folder = store.job_dir(job["id"])  # made once the values are checked; removed again if queueing fails
        folder.mkdir(parents=True, exist_ok=True)
        return job, folder

    def load_source(fields: dict[str, Any], who: str, folder: Path) -> dict[str, Any]:
        """The `video` field (an upload, or {"id": ...} of a completed video) stored as folder/source.mp4."""
        value = fields.get("video")
        if isinstance(value, Upload):
            frames, fps = decode_video(value.data, folder, "video")
            height, width = frames.shape[1:3]
            return {"seconds": len(frames) / fps, "size": f"{width}x{height}", "width": width, "height": height}
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            src = find(value["id"], who)
            shutil.copyfile(completed_file(src), folder / "source.mp4")
            p = src["params"]
            return {"seconds": float(src["seconds"]), "size": src["size"], "width": p["width"], "height": p["height"]}
        raise bad('video: required, an uploaded video file or {"id": "video_..."}', "video", "missing_video")

    def from_source(
        who: str, task: str, fields: dict[str, Any], prompt: str, extra: float = 0.0, render: float = 0.0
    ) -> JSONResponse:
        """Queue an edit, or an extend by `extra` seconds (`render` of them rendered), of the request's video."""
        job, folder = new_job(who, task, fields, prompt=prompt, size="", seconds="", params={})
        try:
            src = load_source(fields, who, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if src["seconds"] + extra > generator.max_seconds:
            shutil.rmtree(folder, ignore_errors=True)
            total = f"{src['seconds']:g} s + {extra:g} s"
            raise bad(f"seconds: {total} is beyond the model's limit of {generator.max_seconds:g} s", "seconds")
        job.update(size=src["size"], seconds=f"{src['seconds'] + extra:g}")
        seconds = render if task == "extend" else src["seconds"]
        job["params"] = {"width": src["width"], "height": src["height"], "seconds": seconds, "video": "source.mp4"}
        return enqueue(job, folder)

    # -------------------------------------------------------------------------------------------- routes

    @app.post("/v1/videos", response_model=Video, responses=ERRORS, openapi_extra=body["create"])
    async def create_video(request: Request, who: str = Depends(owner)) -> JSONResponse:
        """Create a video job from a prompt (and optionally an image: image-to-video)."""
        return await run_in_threadpool(create_job, await read_fields(request), who)

    def create_job(fields: dict[str, Any], who: str) -> JSONResponse:
        prompt = P.check_prompt(fields.get("prompt"), settings.max_prompt_chars)
        size = P.as_text(fields, "size") or P.OPENAI_SIZES[0]
        seconds = P.as_text(fields, "seconds") or P.OPENAI_SECONDS[0]
        width, height = P.resolve_size(size, generator.sizes)
        render_seconds = P.resolve_seconds(seconds, P.OPENAI_SECONDS, generator.seconds, generator.max_seconds)
        image = reference_image(fields.get("input_reference"))
        task = "text-to-video" if image is None else "image-to-video"
        params = {"width": width, "height": height, "seconds": render_seconds}
        job, folder = new_job(who, task, fields, prompt=prompt, size=size, seconds=seconds, params=params)
        if image is not None:
            params["image"] = "input.png"
            try:
                image.save(folder / "input.png")
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return enqueue(job, folder)

    def reference_image(value: Any) -> Image.Image | None:
        if value is None or value == "":
            return None
        if isinstance(value, Upload):
            return decode_image(value.data, "input_reference")
        if isinstance(value, dict) and isinstance(value.get("image_url"), str):
            url = value["image_url"]
            head, _, payload = url.partition(",")
            if not (head.startswith("data:") and head.endswith(";base64")):
                msg = "input_reference.image_url: only base64 data URLs are accepted (the server fetches nothing)"
                raise bad(msg, "input_reference")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise bad("input_reference.image_url: invalid base64", "input_reference") from None
            return decode_image(data, "input_reference")
        raise bad('input_reference: upload an image file or give {"image_url": "data:..."}', "input_reference")

    @app.get("/v1/videos", response_model=VideoList, responses=ERRORS)
    def list_videos(
        after: str | None = Query(None, max_length=64),
        limit: int = Query(20, ge=1, le=100),
        order: Literal["asc", "desc"] = "desc",
        who: str = Depends(owner),
    ) -> JSONResponse:
        """List your videos, newest first (order=desc) or oldest first, `limit` at a time after `after`."""
        page = store.page(who, after, limit, order)
        if page is None:
            raise bad(f"after: no video with id '{after}'", "after", "video_not_found")
        rows, more = page
        data = [video_json(r) for r in rows]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return JSONResponse({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more})

    @app.get("/v1/videos/{video_id}", response_model=Video, responses=ERRORS)
    def retrieve_video(video_id: str, who: str = Depends(owner)) -> JSONResponse:
        """A video job's status, progress and details."""
        return video_response(find(video_id, who))

    @app.delete("/v1/videos/{video_id}", response_model=VideoDeleted, responses=ERRORS)
    def delete_video(video_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        """Delete a video and its files (a queued or running job is cancelled)."""
        find(video_id, who)
        return {"id": video_id, "object": "video.deleted", "deleted": store.delete(video_id, who)}

    @app.get(
        "/v1/videos/{video_id}/content",
        responses={**ERRORS, 200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
        response_class=Response,
    )
    def download_content(
        video_id: str, variant: Literal["video", "thumbnail", "spritesheet"] = "video", who: str = Depends(owner)
    ) -> FileResponse:
        """The MP4 (variant=video), a WebP thumbnail or a PNG spritesheet of a completed video."""
        path = completed_file(find(video_id, who), variant)
        return FileResponse(path, media_type=MEDIA_TYPES[variant], filename=f"{video_id}{path.suffix}")

    @app.post("/v1/videos/{video_id}/remix", response_model=Video, responses=ERRORS, openapi_extra=REMIX_BODY)
    async def remix_video(video_id: str, request: Request, who: str = Depends(owner)) -> JSONResponse:
        """A new video from a completed one: same structure, new prompt (the edit task on its frames)."""
        return await run_in_threadpool(remix_job, video_id, await read_fields(request), who)

    def remix_job(video_id: str, fields: dict[str, Any], who: str) -> JSONResponse:
        prompt = P.check_prompt(fields.get("prompt"), settings.max_prompt_chars)
        src = find(video_id, who)
        path = completed_file(src)
        params = {**src["params"], "video": "source.mp4"}
        params.pop("image", None)
        job, folder = new_job(
            who, "edit", {}, prompt=prompt, size=src["size"], seconds=src["seconds"], params=params,
            seed=src["seed"], model=src["model"],
        )  # fmt: skip
        job["remixed_from"] = video_id
        try:
            shutil.copyfile(path, folder / "source.mp4")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return enqueue(job, folder)

    @app.post("/v1/videos/extensions", response_model=Video, responses=ERRORS, openapi_extra=body["extend"])
    async def extend_video(request: Request, who: str = Depends(owner)) -> JSONResponse:
        """Extend a completed video (by id) or an uploaded one by `seconds` more."""
        return await run_in_threadpool(extend_job, await read_fields(request), who)

    def extend_job(fields: dict[str, Any], who: str) -> JSONResponse:
        prompt = P.check_prompt(fields.get("prompt"), settings.max_prompt_chars)
        seconds = P.as_text(fields, "seconds")
        if seconds is None:
            raise bad("seconds: required, the extension's length", "seconds", "missing_required_parameter")
        extra = P.resolve_seconds(seconds, P.OPENAI_EXTEND_SECONDS, generator.seconds, generator.max_seconds)
        return from_source(who, "extend", fields, prompt, float(seconds), extra)

    @app.post("/v1/videos/edits", response_model=Video, responses=ERRORS, openapi_extra=body["edit"])
    async def edit_video(request: Request, who: str = Depends(owner)) -> JSONResponse:
        """Edit a completed video (by id) or an uploaded one as the prompt says."""
        fields = await read_fields(request)
        prompt = P.check_prompt(fields.get("prompt"), settings.max_prompt_chars)
        return await run_in_threadpool(from_source, who, "edit", fields, prompt)

    @app.get("/kinema/info")
    def info() -> dict[str, Any]:
        """What the web page needs: model, sizes, lengths, limits, and whether a key is needed."""
        return {
            "model": generator.name,
            "sizes": {"openai": list(P.OPENAI_SIZES), "native": [P.fmt_size(s) for s in generator.sizes]},
            "seconds": {"openai": list(P.OPENAI_SECONDS), "native": list(generator.seconds)},
            "max_seconds": generator.max_seconds,
            "auth_required": bool(keys),
            "max_prompt_chars": settings.max_prompt_chars,
            "max_upload_bytes": settings.max_upload_bytes,
            "time": int(time.time()),
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    return app
