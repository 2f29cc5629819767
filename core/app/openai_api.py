"""Generation in ``pocketstudio serve``, spoken as the OpenAI Images API.

Apps that use an OpenAI SDK switch by changing ``base_url``:

- ``POST /v1/images/generations``: ``prompt``, ``n``, ``size`` (``512x512``, ``1024x1024``,
  ``3840x2160``, …), ``response_format`` ``b64_json`` or ``url``, ``user``, ``model``; and, as extra
  body fields, ``steps``, ``seed``, ``guidance``, ``subject``, ``label``, ``purpose``. Each image is
  one release through the same fail-closed flow as ``pocketstudio generate`` (every gate, every
  audit record); the bytes answered are the signed, watermarked file, never a re-encoded copy.
- ``GET /v1/models``; ``GET /v1/images/files/{key}`` (what a ``url`` answer points at, kept in
  memory for ``URL_TTL_S``); ``POST /v1/releases/{decision_id}/publish-failed`` (the CLI reports
  that the file it was handed never reached the user: a not-published amendment leaf).

Generation needs a bearer token bound to a requester (core/app/tokens.py): the requester of a
request is always its token's; ``user`` is recorded only as a commitment and chooses nothing. One
generation runs at a time per loaded model; up to ``max_queue`` more wait, and beyond that a
request is refused with 429 at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..base.config import Settings
from ..base.errors import GenerationError, ModelLoadError, PocketStudioError, PolicyDenied, ReleaseBlocked
from .local_service import REQUESTER_HEADER
from .tokens import API_TOKEN_ENV, TokenBook

MODEL_ID = "pocketstudio"
MAX_N = 4
DEFAULT_MAX_QUEUE = 4
MAX_BODY = 64 * 1024
MAX_PROMPT = 4000
URL_TTL_S = 600
URL_CACHE = 16  # images kept for url answers, newest first
RESPONSE_FORMATS = ("b64_json", "url")
LOCAL_TOKEN_ENV = "POCKETSTUDIO_LOCAL_TOKEN"  # the run's local token, for serve's worker processes
_EXTRA_NUMBERS = {"steps": int, "seed": int, "guidance": float}


class OpenAIError(Exception):
    """An error in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None, extra: dict | None = None):
        self.status, self.code, self.message, self.param, self.extra = status, code, message, param, extra

    def response(self) -> JSONResponse:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
                429: "rate_limit_error"}.get(self.status, "server_error")
        body = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        if self.extra:
            body["pocketstudio"] = self.extra
        return JSONResponse({"error": body}, status_code=self.status)


class GenerationService:
    """The warm model, its one-at-a-time lock and bounded queue, the tokens, and the studio."""

    def __init__(self, settings: Settings, *, generator=None, studio_factory: Callable[[], object] | None = None,
                 max_queue: int = DEFAULT_MAX_QUEUE, local_token: str | None = None):
        self.settings = settings
        self.tokens = TokenBook(settings, os.environ.get(API_TOKEN_ENV) or None)
        self.local_token = local_token or os.environ.get(LOCAL_TOKEN_ENV) or secrets.token_urlsafe(32)
        self._generator = generator
        self._studio_factory = studio_factory
        self._studio = None
        self._studio_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one generation at a time on the loaded model
        self._slots = threading.BoundedSemaphore(max_queue + 1)  # the running one plus those waiting
        self._files: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self._files_lock = threading.Lock()
        # decision id → the requester it was released to, for publish-failed reports (this run only)
        self._released: OrderedDict[str, str] = OrderedDict()

    # -- The studio and its model, loaded once -------------------------------------------------------
    @property
    def studio(self):
        with self._studio_lock:
            if self._studio is None:
                if self._studio_factory is not None:
                    self._studio = self._studio_factory()
                else:
                    from .home import DataHome

                    self._studio = DataHome(self.settings).studio(generator=self._generator)
            return self._studio

    def warm_up(self) -> None:
        """Load the model (and the studio) now, so that the first request does not pay for it."""
        try:
            self.studio.generator
        except PocketStudioError:
            pass  # reported to the first request instead

    # -- Who asks ----------------------------------------------------------------------------------------
    def requester(self, authorization: str | None, named: str | None) -> tuple[str, bool]:
        """(requester, is the local token) of a request; 401 without a generation token."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() and hmac.compare_digest(
                token.strip().encode(), self.local_token.encode()):
            return (named or self.settings.default_requester), True
        found = self.tokens.requester_of(authorization)
        if found is None:
            raise OpenAIError(401, "invalid_api_key", "generation needs a bearer token: 'pocketstudio token create "
                                                       "--requester ID' makes one (Authorization: Bearer TOKEN)")
        return found, False

    # -- One request ---------------------------------------------------------------------------------------
    def generate(self, body: dict, requester: str) -> list:
        """The releases of one request (``n`` of them), one at a time on the model."""
        from .studio import GenerationRequest, parse_size

        n = body.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
            raise OpenAIError(400, "invalid_value", f"n must be an integer from 1 to {MAX_N}", "n")
        try:
            size = None if body.get("size") in (None, "auto") else parse_size(str(body["size"]))
        except GenerationError as exc:
            raise OpenAIError(400, "invalid_value", str(exc), "size") from None
        seed = body.get("seed")
        fields = {k: body.get(k) for k in ("steps", "guidance", "subject")}
        purpose = body.get("purpose") or self.settings.default_purpose
        if not isinstance(purpose, str) or len(purpose) > 200:
            raise OpenAIError(400, "invalid_value", "purpose must be a string of at most 200 characters", "purpose")
        user = body.get("user")
        fields["format"] = body.get("output_format") or "png"
        if body.get("label") is not None:
            if "label" not in GenerationRequest.__dataclass_fields__:
                raise OpenAIError(400, "invalid_value", "this version draws no visible label", "label")
            fields["label"] = body["label"]
        releases = []
        if not self._slots.acquire(blocking=False):
            raise OpenAIError(429, "queue_full", "the generation queue is full; retry in a moment")
        try:
            with self._run_lock:
                studio = self.studio
                for i in range(n):
                    request = GenerationRequest(
                        prompt=body["prompt"], requester=requester, purpose=purpose, size=size,
                        seed=None if seed is None else (seed + i) % 2**63, client_user=user, **fields)
                    try:
                        releases.append(studio.generate(request))
                    except BaseException:
                        self._not_delivered(releases, "a later image of the same request failed")
                        raise
        finally:
            self._slots.release()
        for release in releases:
            self._released[release.decision.decision_id] = requester
            while len(self._released) > 10_000:
                self._released.popitem(last=False)
        return releases

    def _not_delivered(self, releases: list, reason: str) -> None:
        """Images already released for a request that then failed never reach the client."""
        from pocketstudio.policy.audit import NOT_PUBLISHED

        for release in releases:
            self.studio.audit.amend(release.decision.decision_id, NOT_PUBLISHED, reason,
                                    dt.datetime.now(dt.timezone.utc))

    def publish_failed(self, decision_id: str, requester: str, reason: str) -> dict:
        from pocketstudio.policy.audit import NOT_PUBLISHED

        if self._released.get(decision_id) != requester:
            raise OpenAIError(404, "not_found", f"this service released no image with decision id {decision_id} "
                                                "to this requester")
        record = self.studio.audit.amend(decision_id, NOT_PUBLISHED, f"the client could not publish the file: {reason}",
                                         dt.datetime.now(dt.timezone.utc))
        del self._released[decision_id]
        return {"amended": decision_id, "audit_index": record.index}

    # -- Files served for url answers -----------------------------------------------------------------------
    def keep(self, data: bytes, mime: str) -> str:
        key = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._files_lock:
            self._files[key] = (data, mime, now + URL_TTL_S)
            while len(self._files) > URL_CACHE:
                self._files.popitem(last=False)
        return key

    def file(self, key: str) -> tuple[bytes, str] | None:
        with self._files_lock:
            found = self._files.get(key)
            if found is None or found[2] < time.monotonic():
                self._files.pop(key, None)
                return None
            return found[0], found[1]


async def _json_body(request: Request) -> dict:
    from .server import ApiError, _read_body

    try:
        raw = await _read_body(request, MAX_BODY)
    except ApiError as exc:
        raise OpenAIError(exc.status, exc.code, exc.message) from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise OpenAIError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "invalid_json", "the body must be a JSON object")
    return body


def _check_body(body: dict) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise OpenAIError(400, "invalid_value", "prompt must be a non-empty string", "prompt")
    if len(prompt) > MAX_PROMPT:
        raise OpenAIError(400, "invalid_value", f"prompt is longer than {MAX_PROMPT} characters", "prompt")
    if body.get("model") not in (None, MODEL_ID):
        raise OpenAIError(400, "model_not_found", f"unknown model {body.get('model')!r}; GET /v1/models lists "
                                                  f"'{MODEL_ID}'", "model")
    if body.get("response_format", "b64_json") not in RESPONSE_FORMATS:
        raise OpenAIError(400, "invalid_value", "response_format must be b64_json or url", "response_format")
    for name, kind in _EXTRA_NUMBERS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int)):
            raise OpenAIError(400, "invalid_value", f"{name} must be a{'n integer' if kind is int else ' number'}", name)
    if body.get("output_format") not in (None, "png", "jpeg"):
        raise OpenAIError(400, "invalid_value", "output_format must be png or jpeg", "output_format")
    for name in ("subject", "purpose", "user"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise OpenAIError(400, "invalid_value", f"{name} must be a string", name)
    if body.get("label") is not None and not isinstance(body["label"], bool):
        raise OpenAIError(400, "invalid_value", "label must be true or false", "label")


def _error_of(exc: PocketStudioError) -> OpenAIError:
    if isinstance(exc, PolicyDenied):
        d = exc.decision
        return OpenAIError(400, "content_policy_violation", f"denied by policy: {d.reason} (decision {d.decision_id})",
                           extra={"decision_id": d.decision_id, "rule_ids": list(d.rule_ids), "reason": d.reason,
                                  "stage": d.stage, "decided_at": d.decided_at, "policy_set_hash": d.policy_set_hash})
    if isinstance(exc, ReleaseBlocked):
        return OpenAIError(500, "release_blocked", f"{exc} — nothing was released (decision {exc.decision_id})",
                           extra={"decision_id": exc.decision_id, "step": exc.step, "reason": exc.reason})
    if isinstance(exc, ModelLoadError):
        return OpenAIError(503, "model_unavailable", str(exc))
    if isinstance(exc, GenerationError) or type(exc).__name__ in ("SubjectError", "UnknownSubject"):
        return OpenAIError(400, "invalid_value", str(exc))
    return OpenAIError(500, "service_failure", str(exc))


def mount(app: FastAPI, service: GenerationService) -> None:
    """Add the generation routes and their error handler to ``app`` (create_app calls this)."""
    router = APIRouter(tags=["generate"])

    @app.exception_handler(OpenAIError)
    async def _openai_error(_request: Request, exc: OpenAIError):
        return exc.response()

    @router.get("/v1/models", summary="The model this service generates with (OpenAI shape).")
    def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0,
                                            "owned_by": "pocketstudio"}]}

    @router.post("/v1/images/generations", summary="Generate images (OpenAI Images API); each is a signed, "
                                                   "watermarked, audited release. Needs a bearer token.",
                 responses={400: {"description": "invalid request or denied by policy"},
                            401: {"description": "no or unknown token"}, 429: {"description": "queue full"}})
    async def generations(request: Request):
        from starlette.concurrency import run_in_threadpool

        requester, local = service.requester(request.headers.get("authorization"),
                                             request.headers.get(REQUESTER_HEADER))
        if request.headers.get(REQUESTER_HEADER) is not None and not local:
            raise OpenAIError(400, "invalid_request", f"{REQUESTER_HEADER} is not accepted: a token's requester "
                                                      "is fixed when the token is created")
        body = await _json_body(request)
        _check_body(body)
        try:
            releases = await run_in_threadpool(service.generate, body, requester)
        except PocketStudioError as exc:
            raise _error_of(exc) from None
        data = []
        for release in releases:
            item = {"revised_prompt": None, "pocketstudio": {
                "asset_id": release.asset_id, "decision_id": release.decision.decision_id,
                "effect": release.decision.effect, "rule_ids": list(release.decision.rule_ids),
                "audit_index": release.audit_index, "manifest": release.manifest_label,
                "watermark": release.watermark_alg, "model": release.model_name, "model_sha256": release.model_sha256,
                "seed": str(release.seed), "steps": release.steps, "size": [release.width, release.height],
                "mime_type": release.mime_type, "prompt_truncated": release.prompt_truncated,
                "prompt_tokens": {"given": release.prompt_tokens, "kept": release.prompt_tokens_kept},
                "compliance_warnings": list(getattr(release, "compliance_warnings", ()))}}
            if body.get("response_format", "b64_json") == "url":
                key = service.keep(release.data, release.mime_type)
                item["url"] = str(request.url_for("image_file", key=key))
            else:
                item["b64_json"] = base64.b64encode(release.data).decode("ascii")
            data.append(item)
        first = releases[0]
        return {"created": int(time.time()), "data": data, "output_format": first.mime_type.split("/")[1],
                "size": f"{first.width}x{first.height}"}

    @router.get("/v1/images/files/{key}", name="image_file", summary="An image answered as a url (kept briefly).",
                responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}})
    def image_file(key: str) -> Response:
        found = service.file(key) if len(key) <= 64 else None
        if found is None:
            raise OpenAIError(404, "not_found", "no such image (urls are kept for "
                                                f"{URL_TTL_S // 60} minutes and only for the newest {URL_CACHE})")
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "no-store"})

    @router.post("/v1/releases/{decision_id}/publish-failed",
                 summary="Report that a released file never reached the user (with the token that made it).")
    async def publish_failed(decision_id: str, request: Request) -> dict:
        from starlette.concurrency import run_in_threadpool

        requester, _ = service.requester(request.headers.get("authorization"), request.headers.get(REQUESTER_HEADER))
        body = await _json_body(request)
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
            raise OpenAIError(400, "invalid_value", "reason must be a non-empty string of at most 2000 characters",
                              "reason")
        if len(decision_id) > 64:
            raise OpenAIError(404, "not_found", "no such decision")
        return await run_in_threadpool(service.publish_failed, decision_id, requester, reason.strip())

    app.include_router(router)
