"""A real RFC 3161 time-stamp authority on 127.0.0.1 for the tests: OpenSSL's ``ts -reply``
behind a minimal HTTP handler, with its own root CA and a TSA certificate (EKU timeStamping,
critical, as RFC 3161 §2.3 requires). Its root is trusted like a signer's: a PEM anchor file.
"""

from __future__ import annotations

import datetime as dt
import http.server
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/root.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tsa_pki(folder: Path, now: dt.datetime | None = None) -> Path:
    """Root CA + TSA leaf in ``folder``; returns the root's PEM path (the trust anchor)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(_name("Test TSA Root")).issuer_name(_name("Test TSA Root"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name("Test TSA")).issuer_name(root.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (folder / "tsa.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "tsa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CONFIG.format(dir=folder))
    return folder / "root.pem"


@dataclass
class LocalTSA:
    url: str
    anchor: Path  # the TSA root's PEM: trust it like a signer's root
    requests: list  # one entry per time-stamp answered


def serve_tsa(folder: Path, port: int = 0):
    """Start the TSA in a thread; returns (LocalTSA, stop). A folder that already holds its PKI
    (a TSA stopped earlier) is served again, with the same certificates, e.g. on its old ``port``."""
    anchor = folder / "root.pem" if (folder / "tsa.cnf").exists() else make_tsa_pki(folder)
    server, answered, stop = serve_openssl(port, "application/timestamp-reply", lambda q, r: [
        "openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"), "-queryfile", str(q), "-out", str(r)])
    return LocalTSA(f"http://127.0.0.1:{server.server_address[1]}/tsa", anchor, answered), stop


def serve_openssl(port: int, content_type: str, command):
    """A small HTTP service on 127.0.0.1 that answers each POSTed request with what an OpenSSL
    command makes of it (``command(query_file, reply_file)`` gives its argv): the real OpenSSL
    TSA and OCSP responders behind the HTTP their clients speak. Returns (server, the sizes of the
    requests answered, stop); a request OpenSSL refuses gets 400."""
    answered: list = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — http.server's name
            query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock, tempfile.TemporaryDirectory() as tmp:
                q, r = Path(tmp) / "query.der", Path(tmp) / "reply.der"
                q.write_bytes(query)
                done = subprocess.run(command(q, r), capture_output=True)
                reply = r.read_bytes() if done.returncode == 0 and r.exists() else b""
            if not reply:
                self.send_response(400)
                self.end_headers()
                return
            answered.append(len(query))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()

    return server, answered, stop


def unreachable_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
