"""``pocketstudio serve``: the verifier over HTTP, the C2PA Soft Binding Resolution API, a web page.

Routes:
- ``GET /``: a page to drop or pick an image and read the verdict (core/app/web/index.html).
- ``POST /v1/verify``: multipart upload (field ``file``) → the ``Verdict`` as JSON.
- C2PA Soft Binding Resolution API 1.0: ``GET|POST /matches/byBinding``, ``POST /matches/byContent``,
  ``GET /manifests/{manifestId}`` (``application/c2pa``), ``GET /services/supportedAlgorithms``.
- ``GET /v1/audit/checkpoint`` (C2SP signed note) and ``GET /v1/audit/proof/{decision_id}``.
- ``/openapi.json`` and ``/docs`` (Swagger UI from ``/docs/assets/``, served from the fastapi-offline
  package: the docs need no network).

Uploads are read into memory under a byte limit (the body is counted as it streams, so an
oversized upload is refused with 413 before it is all received), parsed in memory, verified and
dropped: nothing uploaded is written to disk or kept after the response, and requests are not
logged (no access log), so the service keeps no personal data.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import io
import json
import threading
from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from PIL import Image, UnidentifiedImageError
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from ..base.config import Settings
from ..base.errors import ConfigError, InvalidImageError, PocketStudioError, StoreError
from .exposure import SWAGGER_CSS, SWAGGER_JS, ExposureMiddleware, HostCheck, docs_csp, page_csp

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # a bit more than 6K × 6K, well above 4K
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _read_body(request: Request, limit: int, image_limit: int | None = None) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    shown = f"images up to {image_limit} bytes are accepted" if image_limit else f"the limit is {limit} bytes"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too-large", f"the upload is {int(declared)} bytes; {shown}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too-large", f"the upload is larger than allowed; {shown}")
        chunks.append(chunk)
    return b"".join(chunks)


def _file_from_multipart(body: bytes, content_type: str, field: str = "file") -> bytes:
    """The bytes of one file field of a multipart/form-data body, parsed in memory."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(422, "bad-multipart", "multipart body without a boundary")
    parts: list[dict] = []
    current: dict = {}
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin():
        current.clear()
        current.update(headers={}, data=bytearray())
        header_name.clear()
        header_value.clear()

    def on_header_field(data, start, end):
        header_name.extend(data[start:end])

    def on_header_value(data, start, end):
        header_value.extend(data[start:end])

    def on_header_end():
        current["headers"][bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_part_data(data, start, end):
        current["data"].extend(data[start:end])

    def on_part_end():
        parts.append(dict(current))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 — any parser complaint is the client's malformed body
        raise ApiError(422, "bad-multipart", f"malformed multipart body: {exc}") from None
    for part in parts:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if disp.get(b"name") == field.encode():
            return bytes(part["data"])
    raise ApiError(422, "missing-file", f"the multipart body has no '{field}' file field")


def _check_pixels(data: bytes, max_pixels: int) -> None:
    """Refuse pictures with more pixels than the limit, from the header alone (before decoding)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except UnidentifiedImageError:  # its own message names the in-memory buffer, which says nothing
        raise ApiError(422, "invalid-image", "not a readable image: no image format recognised "
                                             "(send a PNG, JPEG, WebP, TIFF or GIF)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ApiError(422, "invalid-image", f"not a readable image: {exc}") from None
    if width * height > max_pixels:
        raise ApiError(422, "too-many-pixels",
                       f"the image has {width}x{height} = {width * height} pixels; the limit is {max_pixels}")


class Service:
    """What the routes share: one verifier, the manifest repository and the audit log."""

    def __init__(self, settings: Settings, limits: Limits, operator_token: str | None = None):
        from pocketstudio.provenance.verify import Verifier

        from ..base.store import Store, store_location
        from .home import DataHome

        # The data directory, its keys and its database are made (or migrated) once at start; from
        # then on the service only reads: a writer holding the database never blocks it.
        DataHome(settings).keys
        Store.open_readonly(store_location(settings), prepare=True).close()
        self.settings = settings
        self.limits = limits
        self.operator_token = operator_token
        self.verifier = Verifier.open(settings)
        self.keys, self.detectors = self.verifier.keys, self.verifier.detectors
        self.repository, self.audit = self.verifier.manifests, self.verifier.audit
        self.store = self.repository.store  # read-only
        # c2pa readers and the detectors are used one request at a time.
        self.lock = threading.Lock()

    def verify(self, data: bytes) -> dict:
        _check_pixels(data, self.limits.max_pixels)
        with self.lock:
            try:
                verdict = self.verifier.verify_bytes(data, now=dt.datetime.now(dt.timezone.utc))
            except InvalidImageError as exc:
                raise ApiError(422, "invalid-image", str(exc)) from None
        return verdict.to_json()

    # -- Audit proofs -------------------------------------------------------------------------------
    def is_operator(self, authorization: str | None) -> bool:
        """Whether the request carries the operator's bearer token (compared in constant time)."""
        if not self.operator_token or not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.operator_token.encode())

    def proof(self, decision_id: str, authorization: str | None) -> dict:
        """Anyone gets the proof of a released image's decision, by its random id, because its
        record is public by construction (policy/audit.py); anything else (denials, failures,
        amendments, consent events, records of the earlier format, lookups by position or asset)
        only the operator. Unknown and not-public look the same to everyone else: 404."""
        from pocketstudio.policy.audit import DECISION, LEGACY_RECORD_VERSION, AuditError, NotYetWitnessed

        operator = self.is_operator(authorization)
        if authorization and not operator:
            raise ApiError(401, "unauthorized", "the operator token is wrong")
        if not decision_id or len(decision_id) > 64:
            raise ApiError(400, "bad-id", "invalid decision id")
        try:
            record = self.audit.get(decision_id)
        except (AuditError, PocketStudioError):
            record = None
        public = (record is not None and record.kind == DECISION and record.entry_id == decision_id
                  and record.outcome == "released")
        if record is None or not (public or operator):
            raise ApiError(404, "not-found", f"no released image has decision id {decision_id}")
        if record.version == LEGACY_RECORD_VERSION and not operator:
            raise ApiError(403, "operator-only", "this decision's record predates public audit records and holds "
                                                 "private details: its proof is served with the operator token only")
        policy = self.verifier.witness_policy
        if policy is not None:  # a checkpoint the witnesses cosigned, once there is one over this leaf
            try:
                return self.audit.prove(record.entry_id, witnessed=policy)
            except NotYetWitnessed:
                pass
        return self.audit.prove(record.entry_id)

    # -- Soft Binding Resolution API ------------------------------------------------------------
    def watermark_algs(self) -> list[str]:
        return [d.alg for d in self.detectors]

    def by_binding(self, alg: str, value: str, max_results: int) -> dict:
        from pocketstudio.provenance import fingerprint as fp
        from pocketstudio.provenance import iscc
        from pocketstudio.provenance.resolution import asset_id_from_value

        if max_results < 1:
            raise ApiError(400, "bad-query", "maxResults must be at least 1")
        if alg in self.watermark_algs():
            asset_id = asset_id_from_value(value)
            if asset_id is None:
                raise ApiError(400, "bad-query", "value must be the base64 of the 8-byte watermark id "
                                                 "(or its 16 hex digits)")
            matches = self.repository.match_watermark(asset_id)
        elif alg == fp.ALG:
            try:
                phash = fp.phash_from_value(value)
            except InvalidImageError as exc:
                raise ApiError(400, "bad-query", str(exc)) from None
            matches = self.repository.match_fingerprint(phash, max_results)
        elif alg == iscc.ALG:
            try:
                matches = self.repository.match_iscc(iscc.from_value(value), max_results)
            except InvalidImageError as exc:
                raise ApiError(400, "bad-query", str(exc)) from None
        else:
            raise ApiError(400, "unsupported-alg", f"soft binding algorithm {alg!r} is not supported here; "
                                                   "see /services/supportedAlgorithms")
        return _matches(matches[:max_results])

    def by_content(self, data: bytes, alg: str | None, max_results: int, hint_alg: str | None,
                   hint_value: str | None) -> dict:
        from pocketstudio.provenance import fingerprint as fp
        from pocketstudio.provenance import iscc
        from pocketstudio.provenance.verify import load_image

        if max_results < 1:
            raise ApiError(400, "bad-query", "maxResults must be at least 1")
        if alg is not None and alg not in (fp.ALG, iscc.ALG) and alg not in self.watermark_algs():
            raise ApiError(400, "unsupported-alg", f"soft binding algorithm {alg!r} is not supported here")
        _check_pixels(data, self.limits.max_pixels)
        try:
            image, _ = load_image(data)
        except InvalidImageError as exc:
            raise ApiError(415, "invalid-asset", str(exc)) from None
        found: dict[str, object] = {}
        if hint_alg and hint_value:
            for m in self.by_binding(hint_alg, hint_value, max_results)["matches"]:
                found.setdefault(m["manifestId"], m["similarityScore"])
        if alg is None or alg in self.watermark_algs():
            with self.lock:
                detection = self.verifier.detect_watermark(image, alg)
            if detection.found and (alg is None or detection.alg == alg):
                for m in self.repository.match_watermark(detection.asset_id):
                    found.setdefault(m.manifest_id, m.similarity)
        if alg is None or alg == fp.ALG:
            for m in self.repository.match_fingerprint(fp.Fingerprint.of(image).phash, max_results):
                found.setdefault(m.manifest_id, m.similarity)
        if alg is None or alg == iscc.ALG:
            for m in self.repository.match_iscc(iscc.image_code(image), max_results):
                found.setdefault(m.manifest_id, m.similarity)
        ranked = sorted(found.items(), key=lambda kv: -int(kv[1]))[:max_results]
        return {"matches": [{"manifestId": k, "similarityScore": int(v)} for k, v in ranked]}


def _matches(matches) -> dict:
    return {"matches": [{"manifestId": m.manifest_id, "similarityScore": m.similarity} for m in matches]}


_VERIFY_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "The image to verify."}}}}}}}
_CONTENT_BODY = {"requestBody": {"required": True, "description": "Asset to match to manifests.", "content": {
    "image/*": {"schema": {"type": "string", "format": "binary"}}}}}
_QUERY_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["alg", "value"],
    "properties": {"alg": {"type": "string"}, "value": {"type": "string", "description": "base64"}}}}}}}


_ASSET_HEADERS = {"Cache-Control": "public, max-age=86400"}


@functools.cache
def _docs_asset(name: str) -> bytes:
    """A Swagger UI file of the fastapi-offline package (read once, on the first /docs visit)."""
    return resources.files("fastapi_offline").joinpath(f"static/{name}").read_bytes()


OPERATOR_TOKEN_ENV = "POCKETSTUDIO_OPERATOR_TOKEN"  # the operator's bearer token (serve --operator-token-file)


def create_app(settings: Settings, limits: Limits | None = None, operator_token: str | None = None,
               hosts: HostCheck | None = None, generation=None) -> FastAPI:
    """``operator_token``: the bearer token that unlocks every audit proof (default: the
    ``POCKETSTUDIO_OPERATOR_TOKEN`` environment variable; none: public proofs only).
    ``generation``: the ``openai_api.GenerationService`` behind the generation routes (default: one
    over this data directory, its embedded model loaded on first use)."""
    import os

    from .openai_api import GenerationService, mount

    service = Service(settings, limits or Limits(), operator_token or os.environ.get(OPERATOR_TOKEN_ENV) or None)
    app = FastAPI(
        title="Pocket Studio verifier",
        version="1.0.0",
        description=("Where does this image come from? One verdict joining C2PA validation, the invisible "
                     "watermark, the manifest recovered by it, a perceptual fingerprint and the audit log; and "
                     "the C2PA Soft Binding Resolution API over this studio's manifest store. Uploads are not "
                     "kept."),
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,  # /docs below, with its own CSP
    )
    app.state.service = service
    # Security headers on every response and the Host check (DNS rebinding): core/exposure.py.
    # ``hosts``: the names ``run`` serves under; by default the local names on any port.
    app.add_middleware(ExposureMiddleware, hosts=hosts or HostCheck())
    # Generation, spoken as the OpenAI Images API (core/app/openai_api.py): the same middleware
    # applies to it; its tokens never pass is_operator.
    app.state.generation = generation or GenerationService(settings)
    mount(app, app.state.generation)
    page = resources.files("pocketstudio.core.app").joinpath("web/index.html").read_text(encoding="utf-8")
    page_headers = {"Cache-Control": "no-store", "Content-Security-Policy": page_csp(page)}
    docs_page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API", swagger_js_url=SWAGGER_JS,
                                    swagger_css_url=SWAGGER_CSS, swagger_favicon_url="data:,",
                                    oauth2_redirect_url=None).body.decode()

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(PocketStudioError)
    async def _studio_error(_request: Request, exc: PocketStudioError):
        return _error(500, "service-failure", str(exc))

    @app.exception_handler(StoreError)
    async def _store_error(_request: Request, exc: StoreError):  # damaged or unreadable database: retry later
        return _error(503, "store-unavailable", str(exc))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page, headers={"Content-Security-Policy": docs_csp(docs_page)})

    @app.get(SWAGGER_JS, include_in_schema=False)
    def swagger_js() -> Response:
        return Response(_docs_asset("swagger-ui-bundle.js"), media_type="text/javascript", headers=_ASSET_HEADERS)

    @app.get(SWAGGER_CSS, include_in_schema=False)
    def swagger_css() -> Response:
        return Response(_docs_asset("swagger-ui.css"), media_type="text/css", headers=_ASSET_HEADERS)

    @app.get("/v1/limits", tags=["verify"],
             summary="Upload limits of this service, and whether it verifies URLs (serve --fetch-urls).")
    def limits_route() -> dict:
        return {"max_bytes": service.limits.max_bytes, "max_pixels": service.limits.max_pixels,
                "fetch_urls": bool(settings.verify_fetch_urls)}

    @app.post("/v1/verify", tags=["verify"], summary="Verify an uploaded image (multipart field 'file').",
              openapi_extra=_VERIFY_BODY, responses={413: {"description": "Upload too large"},
                                                     422: {"description": "Not a readable image, too many pixels"}})
    async def verify_route(request: Request):
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            return await _verify_url(request)
        if not ctype.startswith("multipart/form-data"):
            raise ApiError(422, "bad-request", "send the image as multipart/form-data with a 'file' field")
        body = await _read_body(request, service.limits.max_bytes + MULTIPART_OVERHEAD, service.limits.max_bytes)
        data = _file_from_multipart(body, ctype)
        del body
        if len(data) > service.limits.max_bytes:
            raise ApiError(413, "too-large", f"the image is {len(data)} bytes; the limit is {service.limits.max_bytes}")
        if not data:
            raise ApiError(422, "invalid-image", "the file is empty")
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(json.loads(json.dumps(await run_in_threadpool(service.verify, data), default=str)))

    async def _verify_url(request: Request):
        """``{"url": …}``: only when the service was started with --fetch-urls (verify_fetch_urls);
        fetched by the guarded fetcher (never into the service's own network), verified, dropped."""
        if not settings.verify_fetch_urls:
            raise ApiError(403, "url-fetching-off", "this service does not fetch URLs (start it with --fetch-urls); "
                                                    "upload the image as multipart/form-data instead")
        try:
            url = json.loads(await _read_body(request, 16 * 1024))["url"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(422, "bad-request", 'send {"url": "https://…"}') from None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(422, "bad-request", "url must be an http or https URL")
        from starlette.concurrency import run_in_threadpool

        from .fetch import FetchRefused, GuardedFetcher

        try:
            fetched = await run_in_threadpool(GuardedFetcher(max_bytes=service.limits.max_bytes).fetch, url)
        except FetchRefused as exc:
            raise ApiError(422, "url-refused", str(exc)) from None
        verdict = await run_in_threadpool(service.verify, fetched.data)
        return JSONResponse(json.loads(json.dumps({**verdict, "url": fetched.url}, default=str)))

    # -- C2PA Soft Binding Resolution API -----------------------------------------------------------
    @app.get("/matches/byBinding", tags=["query"], operation_id="queryByBinding",
             summary="Returns C2PA Manifest identifiers corresponding to a soft binding.")
    def by_binding_get(alg: str = Query(...), value: str = Query(..., description="base64 soft-binding value"),
                       maxResults: int = Query(10, ge=1)) -> dict:  # noqa: N803 — the spec's name
        return service.by_binding(alg, value, maxResults)

    @app.post("/matches/byBinding", tags=["query"], operation_id="queryByLargeBinding", openapi_extra=_QUERY_BODY,
              summary="Returns C2PA Manifest identifiers corresponding to a large soft binding value.")
    async def by_binding_post(request: Request, maxResults: int = Query(10, ge=1)) -> dict:  # noqa: N803
        body = await _read_body(request, 1024 * 1024)
        try:
            query = json.loads(body)
            alg, value = query["alg"], query["value"]
            if not isinstance(alg, str) or not isinstance(value, str):
                raise TypeError("alg and value must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, "bad-query", f"body must be JSON {{\"alg\": ..., \"value\": ...}}: {exc}") from None
        return service.by_binding(alg, value, maxResults)

    @app.post("/matches/byContent", tags=["query"], operation_id="uploadFile", openapi_extra=_CONTENT_BODY,
              summary="Finds C2PA Manifest identifiers using a digital asset (the image as the body).")
    async def by_content(request: Request, alg: str | None = Query(None), maxResults: int = Query(10, ge=1),  # noqa: N803
                         hintAlg: str | None = Query(None), hintValue: str | None = Query(None)):  # noqa: N803
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            body = await _read_body(request, service.limits.max_bytes + MULTIPART_OVERHEAD, service.limits.max_bytes)
            data = _file_from_multipart(body, ctype)
        elif ctype.startswith("image/") or ctype.startswith("application/octet-stream") or not ctype:
            data = await _read_body(request, service.limits.max_bytes, service.limits.max_bytes)
        else:
            raise ApiError(415, "invalid-asset", f"unsupported asset type {ctype}; send an image")
        if len(data) > service.limits.max_bytes:
            raise ApiError(413, "too-large", f"the image is {len(data)} bytes; the limit is {service.limits.max_bytes}")
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(service.by_content, data, alg, maxResults, hintAlg, hintValue)

    @app.get("/manifests/{manifestId}", tags=["fetch"], operation_id="getManifestById",
             summary="Returns the C2PA Manifest Store of a manifest identifier.",
             responses={200: {"content": {"application/c2pa": {}}}, 404: {"description": "not found"}})
    def manifest(manifestId: str, returnActiveManifest: bool = Query(False)) -> Response:  # noqa: N803
        # Our stores hold exactly one manifest (the active one), so both forms are the same bytes.
        if not manifestId or len(manifestId) > 200:
            raise ApiError(400, "bad-id", "invalid C2PA Manifest id")
        stored = service.repository.by_label(manifestId)
        if stored is None:
            raise ApiError(404, "not-found", f"no manifest {manifestId}")
        return Response(stored.manifest, media_type="application/c2pa")

    @app.get("/services/supportedAlgorithms", tags=["service"], operation_id="getSupportedBindings",
             summary="Soft binding algorithms this service answers queries for.")
    def supported() -> dict:
        from pocketstudio.provenance import fingerprint as fp
        from pocketstudio.provenance import iscc

        return {"watermarks": [{"alg": a} for a in service.watermark_algs()],
                "fingerprints": [{"alg": fp.ALG}, {"alg": iscc.ALG}]}

    # -- Audit ------------------------------------------------------------------------------------
    @app.get("/v1/audit/checkpoint", tags=["audit"], response_class=PlainTextResponse,
             summary="A signed checkpoint (C2SP tlog-checkpoint note) of the audit log now.")
    def checkpoint() -> PlainTextResponse:
        _, note = service.audit.current_checkpoint()  # signed in memory: serving it writes nothing
        return PlainTextResponse(note)

    @app.get("/v1/audit/proof/{decision_id}", tags=["audit"],
             summary="Offline proof bundle of a released image's decision: public record, inclusion proof, "
                     "signed checkpoint. Other leaves need the operator token (Authorization: Bearer).",
             responses={401: {"description": "operator token missing or wrong"},
                        403: {"description": "a record in the earlier, non-public format: operator only"},
                        404: {"description": "no released image has this decision id"}})
    def proof(decision_id: str, request: Request) -> dict:
        return service.proof(decision_id, request.headers.get("authorization"))

    return app


SERVE_CONFIG_ENV = "POCKETSTUDIO_SERVE_CONFIG"  # settings of `serve --workers N`'s worker processes (JSON)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``serve --workers N``: uvicorn starts each worker from an
    import string, so the settings travel in the environment (``SERVE_CONFIG_ENV``)."""
    import os
    from pathlib import Path

    cfg = json.loads(os.environ[SERVE_CONFIG_ENV])
    settings = Settings.load(cfg["home"]).with_(trust_anchor_files=tuple(Path(p) for p in cfg["trust"]),
                                                verify_fetch_urls=bool(cfg.get("fetch_urls")))
    return create_app(settings, Limits(max_bytes=cfg["max_bytes"], max_pixels=cfg["max_pixels"]),
                      hosts=HostCheck.from_json(cfg["hosts"]))


def run(settings: Settings, host: str, port: int, limits: Limits, workers: int = 1,
        operator_token: str | None = None, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Serve until interrupted. Verification is CPU-bound Python (the GIL): ``workers`` processes
    serve that many uploads at once, each with its own app and database connections. Requests
    must name the service by a local name, the listening address or one of ``allowed_hosts``
    (core/exposure.py). Once listening, ``service.json`` in the data directory tells
    ``pocketstudio generate`` where the warm model is (core/app/local_service.py)."""
    import os
    import secrets
    import socket

    import uvicorn

    from .local_service import remove_service_file, write_service_file
    from .openai_api import LOCAL_TOKEN_ENV, GenerationService

    if operator_token:  # worker processes inherit it; it never appears on a command line
        os.environ[OPERATOR_TOKEN_ENV] = operator_token
    local_token = secrets.token_urlsafe(32)
    os.environ[LOCAL_TOKEN_ENV] = local_token

    # No access log: request lines carry client addresses, and the service keeps no personal data.
    quiet = {"access_log": False, "log_level": "warning"}
    hosts = HostCheck.serving(host, port, allowed_hosts)
    try:
        if workers == 1:
            generation = GenerationService(settings, local_token=local_token)
            app = create_app(settings, limits, hosts=hosts, generation=generation)
            config = uvicorn.Config(app, host=host, port=port, **quiet)
            server = uvicorn.Server(config)
            # Bound here, so that the service file is written only once this process listens.
            family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host.strip("[]"), port))
            except OSError as exc:
                sock.close()
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
            write_service_file(settings, host, sock.getsockname()[1], local_token)
            threading.Thread(target=generation.warm_up, name="warm-up", daemon=True).start()
            server.run(sockets=[sock])
            return
        os.environ[SERVE_CONFIG_ENV] = json.dumps({
            "home": str(settings.home), "trust": [str(p) for p in settings.trust_anchor_files],
            "fetch_urls": settings.verify_fetch_urls,
            "max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels, "hosts": hosts.to_json()})
        write_service_file(settings, host, port, local_token)
        uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host, port=port, **quiet)
    finally:
        remove_service_file(settings, local_token)
