"""Issue 17, privacy and exposure: attacks on what the data directory, a deny and the HTTP service
let other people see. Each test replays one attack against the real CLI, store, policy engine or
service."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.store import Store, stage_file

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes_under(home: Path) -> dict[str, int]:
    """Every folder and file of a data directory (the folder itself as '.') with its mode."""
    found = {".": mode(home)}
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(folder) / name
            found[str(path.relative_to(home))] = mode(path)
    return found


def assert_private(home: Path) -> dict[str, int]:
    found = modes_under(home)
    exposed = {name: oct(m) for name, m in found.items()
               if m != (0o700 if (home / name).is_dir() else 0o600)}
    assert not exposed, f"readable or writable by others: {exposed}"
    return found


# -- 6. the data directory is private, released images follow the umask ---------------------------

def _an_older_versions_home(home: Path) -> sqlite3.Connection:
    """A data directory as an earlier version (or a careless copy) left it: every folder 0755,
    every file 0644 (database, key files, an embedding, a checkpoint file). Returns a connection
    that keeps the database open in WAL mode, so that its -wal and -shm files exist (0644)."""
    with umask(0o022):
        assert run("init", "--home", home).exit_code == 0
        (home / "subjects").mkdir(exist_ok=True)
        (home / "subjects" / "0123abcd.safetensors").write_bytes(b"learned vectors")
        (home / "keys" / "audit-checkpoint.txt").write_text("pocketstudio.local/audit/x\n1\nroot\n")
        other = sqlite3.connect(home / "pocketstudio.db", isolation_level=None)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
        other.execute("INSERT INTO scratch VALUES ('a prompt')")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert {"pocketstudio.db-wal", "pocketstudio.db-shm"} <= {p.name for p in home.iterdir()}
    return other


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_world_readable_home_is_locked_down_on_open(tmp_path, mask):
    home = tmp_path / "home"
    other = _an_older_versions_home(home)
    try:
        with umask(mask):
            assert run("init", "--home", home).exit_code == 0
        found = assert_private(home)
        assert {"pocketstudio.db", "pocketstudio.db-wal", "pocketstudio.db-shm", "keys", "keys/trust", "subjects",
                "subjects/0123abcd.safetensors", "keys/audit-checkpoint.txt"} <= set(found)
    finally:
        other.close()


def test_attack_world_readable_database_is_locked_down_by_any_store_open(tmp_path):
    """Commands that open only the database (audit list, verify) lock it down too."""
    db = tmp_path / "pocketstudio.db"
    Store.open(db).close()
    os.chmod(db, 0o644)
    store = Store.open(db)
    try:
        assert mode(db) == 0o600
    finally:
        store.close()


@pytest.mark.parametrize("mask", [0o000, 0o022], ids=["loose-umask", "usual-umask"])
def test_attack_loose_umask_does_not_expose_a_new_database_or_its_wal(tmp_path, mask):
    db = tmp_path / "pocketstudio.db"
    with umask(mask):
        store = Store.open(db)
        try:
            with store.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE scratch (x)")
            # The pool keeps its connection open, and with it the WAL and its index.
            assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
                "pocketstudio.db": 0o600, "pocketstudio.db-wal": 0o600, "pocketstudio.db-shm": 0o600}
        finally:
            store.close()


@pytest.mark.parametrize("mask", [0o000, 0o077], ids=["loose-umask", "strict-umask"])
def test_attack_loose_umask_does_not_expose_files_written_in_the_data_directory(tmp_path, mask):
    """Key files and subject embeddings are written 0600 under any umask; a fresh home is 0700."""
    home = tmp_path / "home"
    with umask(mask):
        assert run("init", "--home", home).exit_code == 0
        embedding = stage_file(Settings.load(home).subjects_dir, "subject", b"vectors")
    assert mode(embedding) == 0o600
    assert_private(home)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_released_image_is_written_with_the_users_umask_and_the_home_stays_private(tmp_path, tiny_model_dir, mask):
    home, out = tmp_path / "home", tmp_path / "shared" / "pic.png"
    out.parent.mkdir()
    with umask(mask):
        result = run("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--home", home, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["released"]
    assert mode(out) == 0o666 & ~mask
    assert [p.name for p in out.parent.iterdir()] == ["pic.png"]  # no staged leftovers
    assert_private(home)


# -- 7. a deny does not tell the requester about consent given to others -----------------------------

from pocketstudio.policy.engine import ConsentFacts, DepictedPerson, PolicyEngine  # noqa: E402

from .conftest import NOW  # noqa: E402

T = int(NOW.timestamp())


def _grant(**changes) -> ConsentFacts:
    fields = dict(grant_id="g1", grantee="alice", purposes=("general",), not_before=T - 3600, not_after=T + 3600,
                  revoked=False)
    return ConsentFacts(**(fields | changes))


# Every state of the grants on file that does not let alice depict the person for "general".
NOT_FOR_THIS_REQUEST = {
    "no-grant": (),
    "consent-for-others-only": (_grant(grantee="bob"), _grant(grant_id="g2", grantee="carol", purposes=("news",))),
    "consent-for-another-purpose": (_grant(purposes=("advertising",)),),
    "expired-consent": (_grant(not_before=T - 7200, not_after=T - 3600),),
    "not-yet-valid-consent": (_grant(not_before=T + 3600, not_after=T + 7200),),
    "revoked-consent": (_grant(revoked=True),),
    "all-of-them": (_grant(grantee="bob"), _grant(grant_id="g2", purposes=("advertising",)),
                    _grant(grant_id="g3", revoked=True), _grant(grant_id="g4", not_after=T - 1)),
}


def _seen_by_requester(decision) -> tuple:
    return decision.effect, decision.rule_ids, decision.reason, decision.consent_grant_ids, decision.persons_checked


@pytest.mark.parametrize("policies", ["default", "with-a-hard-stop"])
def test_attack_deny_does_not_reveal_consent_granted_to_others(tmp_path, policies):
    """alice asks for a registered person under every grant state that does not allow her: the
    decision she sees is the same as for a person who never consented to anyone."""
    folder = None
    if policies == "with-a-hard-stop":  # a site policy that forbids on its own: still no difference
        folder = tmp_path / "mine"
        folder.mkdir()
        (folder / "stop.cedar").write_text('@id("no-ads-of-people")\nforbid (principal, action == Action::"depict", '
                                           'resource) when { context.purpose == "general" && context.now > 0 };\n')
    engine = PolicyEngine(folder, extend_defaults=True) if folder else PolicyEngine()
    seen = {state: _seen_by_requester(engine.evaluate(
        requester="alice", purpose="general", persons=[DepictedPerson("person_jane", grants)], now=NOW, stage="pre"))
        for state, grants in NOT_FOR_THIS_REQUEST.items()}
    assert seen["no-grant"][0] == "deny"
    assert all(view == seen["no-grant"] for view in seen.values()), seen


def test_attack_deny_does_not_reveal_consent_granted_to_others_operator_still_sees_why():
    engine = PolicyEngine()
    denied = engine.evaluate(requester="alice", purpose="general", now=NOW, stage="pre",
                             persons=[DepictedPerson("person_jane", NOT_FOR_THIS_REQUEST["consent-for-others-only"])])
    assert not denied.allowed and denied.rule_ids == ("likeness.no-consent",)
    assert len(denied.operator_notes) == 2 and "g1" in denied.operator_notes[0]
    # The requests the engine evaluated (committed in the audit log) include every grant tried.
    assert [r["context"].get("consent", {}).get("grant_id") for r in denied.inputs[1:]] == ["g1", "g2", None]
    # A grant that fits still allows, among others that do not.
    fits = (*NOT_FOR_THIS_REQUEST["all-of-them"], _grant(grant_id="ok"))
    allowed = engine.evaluate(requester="alice", purpose="general", now=NOW, stage="pre",
                              persons=[DepictedPerson("person_jane", fits)])
    assert allowed.allowed and allowed.consent_grant_ids == ("ok",)


def _public(value):
    """A denial as the requester sees it, less what differs between any two denials: ids, times,
    signatures, hashes and salted commitments (64 hex digits)."""
    per_record = {"decision_id", "entry_id", "seq", "index", "leaf_index", "audit_index", "time", "created_at", "signature",
                  "leaf_hash"}
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if k not in per_record}
    if isinstance(value, list):
        return [_public(v) for v in value]
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return "<sha256>"
    return value


def test_attack_deny_from_the_command_line_does_not_reveal_consent_granted_to_others(tmp_path, tiny_model_dir):
    """The same through the real CLI, with real signed grants: the deny output (words and JSON) and
    the audit record's public fields are the same before any grant, after a grant to someone else,
    for another purpose, an expired one and a revoked one."""
    home, key = tmp_path / "home", tmp_path / "jane.key"
    assert run("init", "--home", home).exit_code == 0
    enrolled = run("consent", "enroll", "--name", "Jane Example", "--key-out", key, "--home", home)
    assert enrolled.exit_code == 0, enrolled.output
    person_id = enrolled.stdout.split()[1].rstrip(":")

    def grant(*args):
        result = run("consent", "grant", person_id, "--key", key, *args, "--home", home)
        assert result.exit_code == 0, result.output
        return result.stdout.split()[1].rstrip(":")

    def alice_asks():
        result = run("generate", "Jane Example smiling", "-o", tmp_path / "jane.png", "--model", tiny_model_dir,
                     "--requester", "alice", "--purpose", "general", "--home", home, "--json")
        assert result.exit_code == 3 and not (tmp_path / "jane.png").exists(), result.output
        shown = json.loads(result.stdout)
        words = result.output.replace(result.stdout, "").replace(shown["decision_id"], "<id>")
        return _public(shown), words

    seen = {"no-grant": alice_asks()}
    grant("--grantee", "bob", "--purpose", "general", "--until", "2099-01-01")
    seen["consent-for-others-only"] = alice_asks()
    grant("--grantee", "alice", "--purpose", "advertising", "--until", "2099-01-01")
    seen["consent-for-another-purpose"] = alice_asks()
    grant("--grantee", "alice", "--purpose", "general", "--from", "2020-01-01", "--until", "2021-01-01")
    seen["expired-consent"] = alice_asks()
    revoked = grant("--grantee", "alice", "--purpose", "general", "--until", "2099-01-01")
    assert run("consent", "revoke", revoked, "--home", home).exit_code == 0
    seen["revoked-consent"] = alice_asks()
    assert all(view == seen["no-grant"] for view in seen.values()), seen
    assert "Jane" not in seen["no-grant"][1]

    denials = json.loads(run("audit", "list", "--effect", "deny", "--json", "--home", home).stdout)
    assert len(denials) == len(seen)
    assert all(_public(r) == _public(denials[0]) for r in denials), json.dumps([_public(r) for r in denials], indent=1)


# -- 8. the service: security headers, the Host check, loopback by default ----------------------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import http.client  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from pocketstudio.core.app.exposure import HostCheck  # noqa: E402
from pocketstudio.core.app.server import Limits, create_app  # noqa: E402

from .test_web import browser  # noqa: E402,F401 — the real headless Chromium

SECURITY = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_hardened(headers, csp_start: str = "default-src 'none'") -> str:
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, dict(headers))
    csp = headers.get("content-security-policy", "")
    assert csp.startswith(csp_start) and "frame-ancestors 'none'" in csp, csp
    return csp


@contextlib.contextmanager
def serving(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def service_home(tmp_path_factory) -> Settings:
    return Settings.load(tmp_path_factory.mktemp("exposure") / "home")


@pytest.fixture(scope="module")
def live(service_home):
    """The service over a real socket, configured as `serve --allowed-host verifier.example` runs it."""
    port = free_port()
    app = create_app(service_home, Limits(max_bytes=100_000), hosts=HostCheck.serving("127.0.0.1", port,
                                                                                       ["verifier.example"]))
    with serving(app, port) as url:
        yield port, url


def request(port: int, path: str, host: str | None, method: str = "GET", body: bytes | None = None,
            headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_attack_dns_rebinding_host_header_is_refused(live):
    """A page on rebind.attacker.example re-points its name at 127.0.0.1: the browser then sends
    that name as Host. The service answers only to its own names."""
    port, _ = live
    for host in (f"rebind.attacker.example:{port}", "rebind.attacker.example", f"127.0.0.1.nip.io:{port}",
                 f"localhost:{port + 1}", f"localhost.:{port}", f"[::2]:{port}", f"127.0.0.1:{port}:{port}",
                 ""):
        status, headers, body = request(port, "/v1/limits", host)
        assert status == 421, (host, status)
        assert json.loads(body)["error"]["code"] == "unknown-host"
        assert_hardened(headers)
    assert request(port, "/v1/limits", None)[0] == 400  # HTTP/1.1 without Host: the server refuses it itself
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}",
                 "verifier.example", f"verifier.example:{port}"):
        status, headers, body = request(port, "/v1/limits", host)
        assert status == 200 and json.loads(body)["max_bytes"] == 100_000, (host, status)
        assert_hardened(headers)


def test_attack_dns_rebinding_page_request_is_refused_too(live):
    """The rebinding page would first load the verifier page itself, then call the API from it."""
    port, _ = live
    status, headers, body = request(port, "/", f"rebind.attacker.example:{port}")
    assert status == 421 and b"Where does this image come from?" not in body
    status, _, _ = request(port, "/v1/verify", f"rebind.attacker.example:{port}", "POST", b"x",
                           {"Content-Type": "multipart/form-data; boundary=x"})
    assert status == 421


def test_attack_page_framed_by_other_origin_is_refused(live, browser, tmp_path):  # noqa: F811
    """Another site puts the verifier page in a frame (clickjacking): the browser refuses to render
    it. The same page from a server without the headers does render in the same frame."""
    port, url = live
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "plain.html").write_text("<p>Where does this image come from?</p>")
    plain = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    plain_url = f"http://127.0.0.1:{plain.server_address[1]}/plain.html"
    (tmp_path / "attacker.html").write_text(f'<iframe id="ours" src="{url}/"></iframe>'
                                            f'<iframe id="plain" src="{plain_url}"></iframe>')
    attacker = ThreadingHTTPServer(("localhost", 0), functools.partial(SimpleHTTPRequestHandler,
                                                                       directory=str(tmp_path)))
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://localhost:{attacker.server_address[1]}/attacker.html", wait_until="load")
        frames = {f.name or f.url: f for f in page.frames[1:]}
        texts = {}
        for frame in page.frames[1:]:
            try:
                texts[frame.url] = frame.evaluate("() => document.body ? document.body.innerText : ''")
            except Exception:  # noqa: BLE001 — a blocked frame may have no document to evaluate in
                texts[frame.url] = ""
        assert any("Where does this image come from?" in t for u, t in texts.items() if "plain.html" in u), texts
        assert not any("Where does this image come from?" in t for u, t in texts.items() if "plain.html" not in u), \
            (texts, frames)
        context.close()
    finally:
        plain.shutdown()
        attacker.shutdown()


def test_every_response_carries_the_security_headers_errors_included(service_home):
    app = create_app(service_home, Limits(max_bytes=1000))

    @app.get("/test-only/fails")
    def fails():
        raise RuntimeError("an unexpected failure")

    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    responses = {
        "ok": client.get("/v1/limits"),
        "openapi": client.get("/openapi.json"),
        "404": client.get("/no/such/route"),
        "413": client.post("/matches/byContent", content=b"\0" * 5000, headers={"Content-Type": "image/png"}),
        "422": client.post("/v1/verify", content=b"x", headers={"Content-Type": "text/plain"}),
        "422-validation": client.get("/matches/byBinding", params={"alg": "x", "value": "y", "maxResults": "zero"}),
        "405": client.delete("/v1/limits"),
        "500": client.get("/test-only/fails"),
    }
    expected = {"ok": 200, "openapi": 200, "404": 404, "413": 413, "422": 422, "422-validation": 422, "405": 405,
                "500": 500}
    assert {k: r.status_code for k, r in responses.items()} == expected
    for name, response in responses.items():
        assert assert_hardened(response.headers) == "default-src 'none'; base-uri 'none'; form-action 'none'; " \
                                                    "frame-ancestors 'none'", name
    assert responses["500"].json() == {"error": {"code": "internal-error", "message": (
        "the service failed on this request; its operator can find the cause in its log")}}
    assert client.get("/redoc").status_code == 404  # the second CDN-loaded docs page is gone


def _sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def test_page_and_docs_allow_exactly_their_own_scripts_and_styles(service_home):
    client = TestClient(create_app(service_home), base_url="http://127.0.0.1")
    page = client.get("/")
    csp = assert_hardened(page.headers)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    (script,) = re.findall(r"<script>(.*?)</script>", page.text, flags=re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", page.text, flags=re.S)
    assert directives["script-src"] == _sha256_source(script) and directives["style-src"] == _sha256_source(style)
    assert directives["img-src"] == "blob:" and directives["connect-src"] == "'self'"
    assert "unsafe" not in csp

    docs = client.get("/docs")
    csp = assert_hardened(docs.headers)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    (start,) = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.S)
    scripts = re.findall(r'<script src="([^"]+)"', docs.text)
    styles = re.findall(r'<link type="text/css" rel="stylesheet" href="([^"]+)"', docs.text)
    # Swagger UI's files come from the service itself (the docs work offline): 'self', no CDN.
    assert scripts == ["/docs/assets/swagger-ui-bundle.js"] and styles == ["/docs/assets/swagger-ui.css"]
    assert directives["script-src"].split() == ["'self'", _sha256_source(start)]
    assert directives["style-src"].split() == ["'self'", "'unsafe-inline'"]
    assert "fastapi.tiangolo.com" not in docs.text and "jsdelivr" not in csp  # no favicon or files from elsewhere
    for path, kind in ((scripts[0], "text/javascript"), (styles[0], "text/css")):
        asset = client.get(path)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert len(asset.content) > 100_000  # the real Swagger UI bundle


def test_page_runs_under_its_csp_without_violations(service_home, browser, tmp_path):  # noqa: F811
    port = free_port()
    with serving(create_app(service_home), port) as url:
        context = browser.new_context()
        page = context.new_page()
        messages = []
        page.on("console", lambda m: messages.append(m.text))
        page.goto(url + "/")
        page.wait_for_function("() => limits !== null")  # the inline script ran and fetched /v1/limits
        junk = tmp_path / "junk.png"
        junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        page.set_input_files("#file", str(junk))
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Could not')")
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # the inline style applies
        assert page.evaluate("document.getElementById('preview').src").startswith("blob:")
        context.close()
    assert not [m for m in messages if "Content Security Policy" in m], messages


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    found.add(socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
    return found


@pytest.mark.slow
def test_attack_service_is_not_reachable_from_other_machines_by_default(tmp_path):
    """`pocketstudio serve` without --host listens on the loopback address only."""
    home, port = tmp_path / "home", free_port()
    assert run("init", "--home", home).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-c", "from pocketstudio.core.app.cli import main; main()", "serve",
                             "--port", str(port), "--home", str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not _listening_addresses(port):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "serve did not start listening"
            time.sleep(0.2)
        assert _listening_addresses(port) == {"127.0.0.1"}
        status, headers, _ = request(port, "/v1/limits", f"127.0.0.1:{port}")
        assert status == 200
        assert request(port, "/v1/limits", f"rebind.attacker.example:{port}")[0] == 421
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_malformed_allowed_host_is_refused_before_serving(tmp_path):
    result = run("serve", "--allowed-host", "bad host:x", "--home", tmp_path / "home")
    assert result.exit_code != 0 and "allowed host 'bad host:x'" in result.output


def test_attack_dns_rebinding_is_refused_by_every_worker_process(service_home, monkeypatch):
    """`serve --workers N` builds each worker's app from the environment: the Host check travels too."""
    from pocketstudio.core.app.server import SERVE_CONFIG_ENV, app_from_environment

    hosts = HostCheck.serving("0.0.0.0", 8123, ["verifier.example:443"])
    monkeypatch.setenv(SERVE_CONFIG_ENV, json.dumps({
        "home": str(service_home.home), "trust": [], "max_bytes": 1000, "max_pixels": 1000, "hosts": hosts.to_json()}))
    client = TestClient(app_from_environment(), base_url="http://127.0.0.1")
    answers = {host: client.get("/v1/limits", headers={"Host": host}).status_code
               for host in ("127.0.0.1:8123", "[::1]:8123", "verifier.example:443", "verifier.example:444",
                            "0.0.0.0:8123", "localhost:8124", "rebind.attacker.example:8123")}
    assert answers == {"127.0.0.1:8123": 200, "[::1]:8123": 200, "verifier.example:443": 200,
                       "verifier.example:444": 421, "0.0.0.0:8123": 421, "localhost:8124": 421,
                       "rebind.attacker.example:8123": 421}
    assert HostCheck.serving("192.168.1.5", 8123).allows("192.168.1.5:8123")  # the address it listens on
    assert HostCheck.serving("::1", 8123).allows("[::1]:8123")
