"""The one guarded fetcher behind ``verify URL`` and the service's ``url`` field.

A verifier that fetches what a stranger names is a server-side request forgery risk, so every
hop is checked where it is made: the host is resolved here, every address of the answer must be
public (loopback, private, link-local, shared, reserved, multicast and cloud-metadata ranges are
refused unless ``allow_private_network``), and the connection goes to the checked address itself
(no second DNS lookup that could answer differently). Redirects are followed by hand, each
target checked the same way. Size, redirects and time are capped. Nothing fetched is kept.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from ..base.errors import InputFileError
from ..base.files import MAX_IMAGE_BYTES

MAX_REDIRECTS = 5
TIMEOUT_S = 20.0
# Addresses no public URL should lead to, beyond what ipaddress calls private/reserved.
_EXTRA_BLOCKED = [ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "169.254.169.254/32", "fd00:ec2::254/128",  # cloud metadata services (AWS, GCP, Azure; AWS IPv6)
    "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16")]


class FetchRefused(InputFileError):
    """A URL the fetcher will not (or could not) fetch: the message says why."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not any(ip in n for n in _EXTRA_BLOCKED)


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    data: bytes
    content_type: str | None


class GuardedFetcher:
    def __init__(self, *, allow_private_network: bool = False, max_bytes: int = MAX_IMAGE_BYTES,
                 max_redirects: int = MAX_REDIRECTS, timeout: float = TIMEOUT_S):
        self.allow_private_network = allow_private_network
        self.max_bytes, self.max_redirects, self.timeout = max_bytes, max_redirects, timeout

    def _address(self, host: str, port: int) -> str:
        """One checked address of ``host``: every address of the DNS answer must be allowed."""
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchRefused(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(a[4][0] for a in answers))
        if not addresses:
            raise FetchRefused(f"{host} has no address")
        if not self.allow_private_network:
            blocked = [a for a in addresses if not is_public(a)]
            if blocked:
                raise FetchRefused(f"{host} resolves to {', '.join(blocked)}, a loopback, private, link-local or "
                                   "metadata address: refused (--allow-private-network fetches from your own "
                                   "network)")
        return addresses[0]

    def _connection(self, scheme: str, host: str, port: int, address: str, timeout: float):
        if scheme == "http":
            conn = http.client.HTTPConnection(address, port, timeout=timeout)
        else:
            context = ssl.create_default_context()
            conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
            # certificate and SNI for the name, connection to the checked address

            def connect(conn=conn):
                sock = socket.create_connection((address, port), timeout)
                conn.sock = context.wrap_socket(sock, server_hostname=host)

            conn.connect = connect
        return conn

    def fetch(self, url: str) -> Fetched:
        deadline = time.monotonic() + self.timeout
        for _hop in range(self.max_redirects + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchRefused(f"only http and https URLs are fetched, not {url[:200]!r}")
            if parts.username or parts.password:
                raise FetchRefused("URLs with credentials are not fetched")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = self._address(parts.hostname, port)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchRefused(f"fetching took longer than {self.timeout:g} s")
            conn = self._connection(parts.scheme, parts.hostname, port, address, left)
            path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            try:
                conn.request("GET", path, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*",
                                                   "User-Agent": "pocketstudio-verify"})
                response = conn.getresponse()
                if response.status in (301, 302, 303, 307, 308):
                    location = response.getheader("Location")
                    if not location:
                        raise FetchRefused(f"redirect without a Location from {url[:200]}")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if response.status != 200:
                    raise FetchRefused(f"{url[:200]} answered HTTP {response.status}")
                length = response.getheader("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    raise FetchRefused(f"{url[:200]} is larger than {self.max_bytes} bytes")
                chunks, size = [], 0
                while True:
                    if time.monotonic() > deadline:
                        raise FetchRefused(f"fetching took longer than {self.timeout:g} s")
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchRefused(f"{url[:200]} is larger than {self.max_bytes} bytes")
                    chunks.append(chunk)
                return Fetched(url, b"".join(chunks), response.getheader("Content-Type"))
            except (OSError, http.client.HTTPException) as exc:
                raise FetchRefused(f"cannot fetch {url[:200]}: {exc}") from None
            finally:
                conn.close()
        raise FetchRefused(f"more than {self.max_redirects} redirects")


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))
