"""What ``pocketstudio serve`` shows to browsers: security headers on every response, and the Host
check that keeps a page on another site from reaching it through DNS rebinding.

- Every response, errors included (404, 413, 422, 500 and the Host refusal itself), carries
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
  and a Content-Security-Policy with ``frame-ancestors 'none'``: ``default-src 'none'`` for the API,
  the page's own inline script and style by hash for ``/``, and for ``/docs`` the Swagger UI files
  this service serves itself (``'self'``: the docs work offline and load nothing from elsewhere).
- A request whose Host header is not one of the service's names is refused with 421 before any
  route runs. DNS rebinding points a name the attacker controls at 127.0.0.1, so the browser sends
  that name: the default names are 127.0.0.1, localhost and [::1] on the served port, plus the
  address the service listens on, plus the names the operator allows (``serve --allowed-host``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Iterable

from ..base.errors import ConfigError

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")

# The API answers JSON, C2PA manifests and notes: nothing in them may load, run or be framed.
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"))

# Swagger UI for /docs, served by the service from the fastapi-offline package (no CDN).
SWAGGER_JS = "/docs/assets/swagger-ui-bundle.js"
SWAGGER_CSS = "/docs/assets/swagger-ui.css"


def inline_hashes(html: str, tag: str) -> list[str]:
    """CSP hash sources of a page's inline ``<script>`` or ``<style>`` elements (the ones without
    attributes: ``<script src=…>`` is allowed by its URL instead)."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode('utf-8')).digest()).decode()}'"
            for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)]


def page_csp(html: str) -> str:
    """The policy of the verifier page: its own script and style, the picked image and the signed
    thumbnail (blob: URLs the script makes), requests to this service only."""
    return (f"default-src 'none'; script-src {' '.join(inline_hashes(html, 'script'))}; "
            f"style-src {' '.join(inline_hashes(html, 'style'))}; img-src blob:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def docs_csp(html: str) -> str:
    """The policy of Swagger UI: its two files from this service, its inline start-up script, the
    OpenAPI document and "try it out" requests to this service. Inline styles are allowed here
    only (Swagger UI sets some; a style cannot run code)."""
    return (f"default-src 'none'; script-src 'self' {' '.join(inline_hashes(html, 'script'))}; "
            "style-src 'self' 'unsafe-inline'; img-src data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header as (name, port), the name lower-case and an IPv6 address in brackets;
    None when it is not a well-formed host[:port]."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[:end + 1], value[end + 1:]
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name:
        return None
    if not rest:
        return name, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii() or len(rest) > 6:
        return None
    return name, int(rest[1:])


def _bracketed(address: str) -> str:
    """An IPv6 address as a Host header names it ([::1]); anything else as it is."""
    try:
        return f"[{address}]" if ipaddress.ip_address(address.strip("[]")).version == 6 else address
    except ValueError:
        return address


@dataclass(frozen=True)
class HostCheck:
    """The Host header values the service answers to.

    ``local``: names answered on the served ``port`` (on any port while the port is not known,
    e.g. an app created for an in-process server); without a port in the header only when the
    port is 80. ``allowed``: names the operator added, as NAME (any port, e.g. behind a reverse
    proxy) or NAME:PORT (that port only)."""

    local: frozenset[str] = frozenset(LOCAL_NAMES)
    allowed: frozenset[str] = field(default_factory=frozenset)
    port: int | None = None

    @classmethod
    def serving(cls, host: str, port: int | None, allowed: Iterable[str] = ()) -> "HostCheck":
        """The check for a service listening on ``host``:``port``: the local names, the listening
        address itself unless it is a wildcard (0.0.0.0, ::), and the operator's names."""
        local = set(LOCAL_NAMES)
        if host.strip().lower() not in WILDCARD_ADDRESSES:
            local.add(_bracketed(host.strip().lower()))
        names = set()
        for entry in allowed:
            parsed = _split_host(entry)
            if parsed is None:
                raise ConfigError(f"allowed host {entry!r} is not a host name or NAME:PORT")
            names.add(parsed[0] if parsed[1] is None else f"{parsed[0]}:{parsed[1]}")
        return cls(frozenset(local), frozenset(names), port)

    def allows(self, header: str) -> bool:
        parsed = _split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        if name in self.allowed or (port is not None and f"{name}:{port}" in self.allowed):
            return True
        if name not in self.local:
            return False
        return self.port is None or (port if port is not None else 80) == self.port

    def to_json(self) -> dict:
        return {"local": sorted(self.local), "allowed": sorted(self.allowed), "port": self.port}

    @classmethod
    def from_json(cls, doc: dict) -> "HostCheck":
        return cls(frozenset(doc["local"]), frozenset(doc["allowed"]), doc["port"])


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class ExposureMiddleware:
    """ASGI middleware, outermost of the app's own: refuses unknown Hosts, adds the security headers
    to every response (a route may set its own Content-Security-Policy), and turns a failure no
    handler caught into a JSON 500 that has them too (the exception still reaches the server's
    log)."""

    def __init__(self, app, hosts: HostCheck):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in (*SECURITY_HEADERS, ("Content-Security-Policy", API_CSP)):
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        host = next((v for k, v in scope.get("headers", []) if k == b"host"), b"").decode("latin-1")
        if not self.hosts.allows(host):
            shown = host if len(host) <= 100 else host[:100] + "…"
            await _respond(send_with_headers, 421, "unknown-host",
                           f"this service does not answer to host {shown!r}; its operator can allow a name with "
                           "'pocketstudio serve --allowed-host NAME'")
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await _respond(send_with_headers, 500, "internal-error",
                               "the service failed on this request; its operator can find the cause in its log")
            raise


async def _respond(send, status: int, code: str, message: str) -> None:
    body = _error_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
