"""How ``pocketstudio generate`` finds and uses a running ``pocketstudio serve`` of the same data
directory, like a local model runner's CLI does: the server writes ``service.json`` (mode 0600, in
the 0700 data directory) once it listens, with its address, its process id and a local token made
for this run; the CLI reads it, asks the warm service, and writes the returned signed bytes itself.

The local token may name the requester (the CLI's ``--requester``): whoever can read the data
directory can generate in-process as any requester anyway, so it grants nothing new. Tokens from
``token create`` never can.

Standard library only: this is on the path of a CLI round trip that should take well under a second.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..base.config import Settings, _write_private
from ..base.errors import PocketStudioError, PolicyDenied, ReleaseBlocked

SERVICE_FILE = "service.json"
REQUESTER_HEADER = "Pocketstudio-Requester"  # honoured for the local token only


@dataclass(frozen=True)
class LocalService:
    url: str
    pid: int
    token: str


def service_file(settings: Settings) -> Path:
    return settings.home / SERVICE_FILE


def write_service_file(settings: Settings, host: str, port: int, token: str) -> Path:
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    path = service_file(settings)
    _write_private(path, json.dumps({"url": f"http://{shown}:{port}", "pid": os.getpid(), "token": token}) + "\n")
    return path


def remove_service_file(settings: Settings, token: str) -> None:
    """Remove the file only if it is still this run's (another serve may have replaced it)."""
    found = find_service(settings, check_alive=False)
    if found is not None and found.token == token:
        try:
            os.unlink(service_file(settings))
        except FileNotFoundError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_service(settings: Settings, check_alive: bool = True) -> LocalService | None:
    """The data directory's running service, or None (no file, unreadable, or its process is gone)."""
    try:
        raw = json.loads(service_file(settings).read_text(encoding="utf-8"))
        found = LocalService(str(raw["url"]), int(raw["pid"]), str(raw["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_alive and not _alive(found.pid):
        return None
    return found


class ServiceUnavailable(Exception):
    """The service could not be reached: generate in-process instead."""


@dataclass(frozen=True)
class RemoteRelease:
    data: bytes
    info: dict  # the response item's pocketstudio fields


def _call(service: LocalService, method: str, path: str, body: dict | None, requester: str | None,
          timeout: float) -> dict:
    headers = {"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"}
    if requester is not None:
        headers[REQUESTER_HEADER] = requester
    req = urllib.request.Request(service.url + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error") or {}
        except ValueError:
            error = {}
        if exc.code in (429, 503) or exc.code == 401:
            raise ServiceUnavailable(f"{exc.code} {error.get('message', '')}") from None
        raise _typed(exc.code, error) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServiceUnavailable(str(exc)) from None


def _typed(status: int, error: dict) -> PocketStudioError:
    """The service's error as the in-process flow would have raised it."""
    from pocketstudio.policy.engine import Decision

    message, code = str(error.get("message", f"HTTP {status}")), error.get("code")
    extra = error.get("pocketstudio") or {}
    if code == "content_policy_violation" and extra.get("decision_id"):
        return PolicyDenied(Decision(decision_id=extra["decision_id"], effect="deny",
                                     rule_ids=tuple(extra.get("rule_ids", ())), reason=extra.get("reason", message),
                                     policy_set_hash=extra.get("policy_set_hash", ""), stage=extra.get("stage", ""),
                                     decided_at=extra.get("decided_at", "")))
    if code == "release_blocked" and extra.get("decision_id"):
        return ReleaseBlocked(extra.get("step", "service"), extra.get("reason", message), extra["decision_id"])
    from ..base.errors import GenerationError

    return GenerationError(message)


def generate_via(service: LocalService, body: dict, requester: str, timeout: float = 600.0) -> RemoteRelease:
    answer = _call(service, "POST", "/v1/images/generations", {**body, "response_format": "b64_json", "n": 1},
                   requester, timeout)
    item = answer["data"][0]
    return RemoteRelease(base64.b64decode(item["b64_json"]), item.get("pocketstudio") or {})


def report_publish_failed(service: LocalService, decision_id: str, reason: str, timeout: float = 30.0) -> None:
    """Tell the service the file never reached the user: the log gets a not-published amendment."""
    _call(service, "POST", f"/v1/releases/{decision_id}/publish-failed", {"reason": reason}, None, timeout)
