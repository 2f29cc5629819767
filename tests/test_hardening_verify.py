"""Issue 17, the verifier's part: verdicts that must be right on damaged, rotated and re-linked
copies (items 9-11), verification that never waits for a writer (14), and a damaged, locked or
newer database as a typed error that says what to do (13). Real releases of the tiny generator,
real C2PA signing, real SQLite, the real CLI and service."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import alembic.command
import numpy as np
import pytest
import skimage.data
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image, ImageOps, PngImagePlugin
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app as cli_app
from pocketstudio.core.base.config import Settings
from pocketstudio.core.base.errors import InvalidImageError, StoreError
from pocketstudio.core.app.server import create_app
from pocketstudio.core.base.store import SCHEMA_REVISION, Store, alembic_config
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.provenance.verify import Status, Verifier, load_image

from .conftest import NOW, file_modes_enforced, png_chunks, png_from_chunks

runner = CliRunner()
HASH_MISMATCH = "assertion.dataHash.mismatch"


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_generator):
    """A data directory with a PNG and a JPEG release (default watermark engine)."""
    root = tmp_path_factory.mktemp("hardening-verify")
    settings = Settings.load(root / "home")
    studio = Studio(settings, generator=tiny_generator)
    png = studio.generate(GenerationRequest(prompt="a red circle", requester="alice", seed=3, size=512),
                          root / "a.png", now=NOW)
    jpeg = studio.generate(GenerationRequest(prompt="a green tree", requester="alice", seed=5, size=256, format="jpeg"),
                           root / "c.jpg", now=NOW)
    studio.store.close()
    return {"settings": settings, "png": png, "jpeg": jpeg, "root": root}


@pytest.fixture
def copy_home(home, tmp_path):
    """A private copy of the data directory, for tests that damage or lock its database."""
    target = tmp_path / "home"
    shutil.copytree(home["settings"].home, target)
    return Settings.load(target)


def verifier(settings, **kw) -> Verifier:
    return Verifier.open(settings, **kw)


def client_of(settings, **kw) -> TestClient:
    return TestClient(create_app(settings), base_url="http://127.0.0.1", **kw)


def jpeg_bytes(image: Image.Image, quality: int = 90, **save) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality, **save)
    return buf.getvalue()


def stripped(release) -> Image.Image:
    return Image.open(io.BytesIO(release.data)).convert("RGB")


def no_sql(message: str) -> bool:
    return not any(word in message for word in ("SELECT", "INSERT", "UPDATE", "BEGIN", "[SQL", "sqlite3.", "Traceback"))


# -- item 9: pixels that no longer decode are tampered, not unreadable ----------------------------

def flip_idat_byte(data: bytes) -> bytes:
    """One byte of the first IDAT chunk flipped, the chunk's CRC fixed (a careful attacker)."""
    chunks = png_chunks(data)
    i = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    body = bytearray(chunks[i][1])
    body[len(body) // 2] ^= 0xFF
    chunks[i] = (b"IDAT", bytes(body))
    return png_from_chunks(chunks)


def flip_raw_byte(data: bytes) -> bytes:
    """One byte inside the pixel data flipped, CRC left wrong (a careless copy)."""
    out = bytearray(data)
    out[data.index(b"IDAT") + 5000] ^= 0xFF
    return bytes(out)


def shorten_last_idat(data: bytes) -> bytes:
    chunks = png_chunks(data)
    last = max(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    chunks[last] = (b"IDAT", chunks[last][1][:1000])
    return png_from_chunks(chunks)


def cut_inside_idat(data: bytes) -> bytes:
    """The file cut short in the middle of an IDAT chunk: c2pa cannot parse its chunks."""
    return data[:data.index(b"IDAT") + 30000]


def assert_tampered_without_pixels(verdict):
    assert verdict.status is Status.TAMPERED, verdict.summary
    assert HASH_MISMATCH in verdict.check("c2pa").evidence["failure_codes"]
    mark = verdict.check("watermark")
    assert mark.ok is None and "could not run" in mark.summary  # reported, not failed
    assert verdict.check("fingerprint").ok is None


@pytest.mark.parametrize("damage", [flip_idat_byte, flip_raw_byte, shorten_last_idat, cut_inside_idat])
def test_attack_idat_byte_flip_is_tampered_not_unreadable(home, damage):
    """Also a truncated IDAT (shortened chunk, file cut mid-chunk): the C2PA hard binding runs on
    the raw bytes and fails; only the pixel checks cannot run."""
    data = damage(home["png"].data)
    with pytest.raises(InvalidImageError):
        load_image(data)  # the pixels really do not decode
    verdict = verifier(home["settings"]).verify_bytes(data, now=NOW)
    assert_tampered_without_pixels(verdict)
    assert verdict.check("signer").evidence["signer"]  # the manifest was read and its signer shown
    assert verdict.check("audit").ok is True  # the decision is still proven from the manifest


def test_attack_png_without_iend_is_not_an_unreadable_manifest(home):
    data = png_from_chunks(png_chunks(home["png"].data)[:-1])  # pixels decode, c2pa cannot parse the chunks
    verdict = verifier(home["settings"]).verify_bytes(data, now=NOW)
    # The hard binding fails on the bytes; the pixels are exactly the signed ones (their hash in the
    # manifest, the watermark and the fingerprint agree), so the verdict is the precise one:
    # credentials detached by an edit outside the pixels, never "not a readable image".
    assert verdict.status is Status.METADATA_EDITED, verdict.summary
    assert HASH_MISMATCH in verdict.check("c2pa").evidence["failure_codes"]
    assert verdict.check("format").ok is False


def jpeg_scan_start(data: bytes) -> int:
    pos = 2
    while data[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")


@pytest.mark.parametrize("damage", ["scan-header", "truncated-scan"])
def test_attack_jpeg_corrupted_scan_is_tampered_not_unreadable(home, damage):
    data = home["jpeg"].data
    sos = jpeg_scan_start(data)
    if damage == "scan-header":
        data = data[:sos - 5] + b"\x09" * 5 + data[sos:]
    else:
        data = data[:sos + 500]
    with pytest.raises(InvalidImageError):
        load_image(data)
    assert_tampered_without_pixels(verifier(home["settings"]).verify_bytes(data, now=NOW))


def test_attack_idat_byte_flip_through_the_cli_and_the_service(home, tmp_path):
    data = flip_idat_byte(home["png"].data)
    path = tmp_path / "flipped.png"
    path.write_bytes(data)
    result = runner.invoke(cli_app, ["verify", str(path), "--home", str(home["settings"].home), "--json"],
                           catch_exceptions=False)
    assert result.exit_code == 4 and json.loads(result.stdout)["status"] == "tampered"
    client = client_of(home["settings"])
    r = client.post("/v1/verify", files={"file": ("flipped.png", data, "image/png")})
    assert r.status_code == 200 and r.json()["status"] == "tampered"


def test_unsigned_image_whose_pixels_do_not_decode_is_still_not_readable(home):
    buf = io.BytesIO()
    Image.fromarray(skimage.data.coffee()).save(buf, "PNG")
    with pytest.raises(InvalidImageError, match="not a readable image"):
        verifier(home["settings"]).verify_bytes(flip_idat_byte(buf.getvalue()), now=NOW)


# -- item 10: an EXIF-rotated honest copy is the picture as displayed ----------------------------

# Orientation tag -> how the pixels are stored so that the viewer, applying the tag, shows the original.
STORED_AS = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
             7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def exif_rotated_copy(image: Image.Image, orientation: int) -> bytes:
    turn = STORED_AS[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(image if turn is None else image.transpose(turn), exif=exif.tobytes())


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_attack_exif_rotated_copy_recovers(home, orientation):
    original = stripped(home["png"])
    data = exif_rotated_copy(original, orientation)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert np.abs(np.asarray(shown, dtype=int) - np.asarray(original, dtype=int)).mean() < 3  # displays as the original
    verdict = verifier(home["settings"]).verify_bytes(data, now=NOW)
    assert verdict.status is Status.RECOVERED, verdict.summary
    assert verdict.asset_id == home["png"].asset_id
    assert verdict.check("fingerprint").ok is True and verdict.check("fingerprint").evidence["outcome"] == "same"


def test_attack_exif_rotated_copy_is_found_by_content_in_the_resolution_api(home):
    data = exif_rotated_copy(stripped(home["png"]), 6)
    client = client_of(home["settings"])
    found = client.post("/matches/byContent", content=data, headers={"content-type": "image/jpeg"}).json()
    assert found["matches"][0]["manifestId"] == home["png"].manifest_label


def test_released_images_carry_no_orientation_tag(home):
    """The release computes watermark and fingerprint on the pixels it writes: no tag may turn them."""
    for release in (home["png"], home["jpeg"]):
        assert Image.open(io.BytesIO(release.data)).getexif().get(0x0112) in (None, 1)


# -- item 11: an XMP link to a remote manifest on a stripped copy ---------------------------------

REMOTE = "https://attacker.example/manifests/forged.c2pa"


def xmp_packet(url: str, element: bool = False) -> str:
    link = (f"<dcterms:provenance>{url}</dcterms:provenance>" if element else "")
    attribute = "" if element else f' dcterms:provenance="{url}"'
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/"{attribute}>{link}'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def linked_copies(image: Image.Image, url: str) -> dict[str, bytes]:
    """A JPEG with the link in its XMP APP1 segment (attribute form) and a PNG with it in an
    iTXt chunk (element form)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(url, element=True))
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    return {"jpeg": jpeg_bytes(image, xmp=xmp_packet(url).encode()), "png": buf.getvalue()}


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_attack_remote_manifest_xmp_link_on_stripped_copy_recovers_offline(home, kind):
    data = linked_copies(stripped(home["png"]), REMOTE)[kind]
    verdict = verifier(home["settings"]).verify_bytes(data, now=NOW)
    assert verdict.status is Status.RECOVERED, verdict.summary
    c2pa_check = verdict.check("c2pa")
    assert c2pa_check.ok is None
    assert c2pa_check.evidence["remote_manifest"] == REMOTE and c2pa_check.evidence["remote_manifest_fetched"] is False
    assert REMOTE in verdict.summary and "not fetched" in verdict.summary


def test_attack_remote_manifest_link_on_an_unmarked_image_is_no_provenance_not_invalid(home):
    plain = Image.fromarray(skimage.data.coffee()).convert("RGB").resize((320, 240))
    verdict = verifier(home["settings"]).verify_bytes(linked_copies(plain, REMOTE)["jpeg"], now=NOW)
    assert verdict.status is Status.NO_PROVENANCE and REMOTE in verdict.summary


def test_attack_remote_manifest_link_that_cannot_be_fetched_online_still_recovers(home):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the fetch fails at once, nothing leaves the host
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/m.c2pa"
    data = linked_copies(stripped(home["png"]), url)["jpeg"]
    verdict = verifier(home["settings"], online=True).verify_bytes(data, now=NOW)
    assert verdict.status is Status.RECOVERED, verdict.summary
    assert verdict.check("c2pa").evidence["remote_manifest"] == url and "could not be fetched" in verdict.summary


def test_attack_remote_manifest_link_carrying_terminal_escapes_and_markup_is_shown_encoded(home, tmp_path):
    hostile = "https://x.example/m.c2pa\x1b[2J\x1b]0;owned\x07[/bold][green]trusted"
    path = tmp_path / "linked.jpg"
    path.write_bytes(linked_copies(stripped(home["png"]), hostile)["jpeg"])
    result = runner.invoke(cli_app, ["verify", str(path), "--home", str(home["settings"].home)], catch_exceptions=False)
    assert result.exit_code == 0 and "recovered-via-watermark" in result.stdout, result.output
    assert "\x1b" not in result.output and "%1B%5B2J" in result.output.replace("\n", "")


# -- item 14: verification never needs a write lock -------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE held_by_another_process (x)")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def writer_holding_lock(copy_home):
    """Another process in the middle of a write transaction on the copy's database."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(copy_home.db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield copy_home
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_attack_writer_holding_lock_does_not_block_verify(home, writer_holding_lock, tmp_path):
    settings = writer_holding_lock
    signed, copy = tmp_path / "a.png", tmp_path / "stripped.jpg"
    signed.write_bytes(home["png"].data)
    copy.write_bytes(jpeg_bytes(stripped(home["png"]), 85))
    result = runner.invoke(cli_app, ["verify", str(signed), str(copy), "--home", str(settings.home), "--json"],
                           catch_exceptions=False)
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["trusted", "recovered-via-watermark"], rows
    assert result.exit_code == 0
    for row in rows:  # the manifest lookup and the audit proof both read the locked database
        assert next(c for c in row["checks"] if c["name"] == "audit")["ok"] is True


def test_attack_writer_holding_lock_does_not_block_the_service(home, writer_holding_lock):
    client = client_of(writer_holding_lock)
    r = client.post("/v1/verify", files={"file": ("s.jpg", jpeg_bytes(stripped(home["png"]), 85), "image/jpeg")})
    assert r.status_code == 200 and r.json()["status"] == "recovered-via-watermark"
    assert client.get("/v1/audit/checkpoint").status_code == 200
    assert client.get(f"/v1/audit/proof/{home['png'].decision.decision_id}").status_code == 200
    assert client.get(f"/manifests/{home['png'].manifest_label}").status_code == 200


def test_verification_opens_the_database_read_only(copy_home):
    store = Store.open_readonly(copy_home.db_path)
    try:
        assert store.readonly and store.revision() == SCHEMA_REVISION
        with pytest.raises(StoreError, match="reading only"):
            store.begin()
    finally:
        store.close()


def test_attack_read_only_database_file_still_verifies(home, copy_home):
    copy_home.db_path.chmod(0o400)
    try:
        with file_modes_enforced():  # the mode binds root too (CI runs as root)
            verdict = verifier(copy_home).verify_bytes(jpeg_bytes(stripped(home["png"]), 85), now=NOW)
    finally:
        copy_home.db_path.chmod(0o600)
    assert verdict.status is Status.RECOVERED, verdict.summary


def test_attack_verify_against_a_missing_data_directory_creates_nothing(home, tmp_path):
    missing = tmp_path / "not-yet"
    signed = tmp_path / "a.png"
    signed.write_bytes(home["png"].data)
    root_ca = home["settings"].keys_dir / "root-ca.pem"
    result = runner.invoke(cli_app, ["verify", str(signed), "--home", str(missing), "--trust", str(root_ca), "--json"],
                           catch_exceptions=False)
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "trusted" and result.exit_code == 0, verdict
    assert not missing.exists()


# -- item 13 (database): damaged, locked, newer: typed errors that say what to do --------------------

def damage_garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, just garbage bytes " * 200)


def damage_truncate(path: Path) -> None:
    for side in ("-wal", "-shm"):
        Path(str(path) + side).unlink(missing_ok=True)
    path.write_bytes(path.read_bytes()[: 3 * 4096])


@pytest.mark.parametrize("damage", [damage_garbage, damage_truncate])
def test_attack_corrupt_database_is_a_typed_store_error(home, copy_home, tmp_path, damage):
    damage(copy_home.db_path)
    for opening in (Store.open, Store.open_readonly):
        with pytest.raises(StoreError) as caught:
            store = opening(copy_home.db_path)
            # a truncated file may open; its damage shows on the first read of a lost page
            verifier(copy_home).verify_bytes(jpeg_bytes(stripped(home["png"]), 85), now=NOW)
            store.close()
        message = str(caught.value)
        assert "damaged" in message and "backup" in message and no_sql(message), message
    copy = tmp_path / "s.jpg"
    copy.write_bytes(jpeg_bytes(stripped(home["png"]), 85))
    result = runner.invoke(cli_app, ["verify", str(copy), "--home", str(copy_home.home), "--json"],
                           catch_exceptions=False)
    row = json.loads(result.stdout)
    assert row["status"] == "error" and "damaged" in row["reason"] and no_sql(row["reason"]), row
    assert result.exit_code == 1


def test_attack_database_damaged_while_the_service_runs_is_a_503_not_a_traceback(home, copy_home):
    client = client_of(copy_home, raise_server_exceptions=False)
    damage_garbage(copy_home.db_path)
    r = client.post("/v1/verify", files={"file": ("s.jpg", jpeg_bytes(stripped(home["png"]), 85), "image/jpeg")})
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "store-unavailable" and "damaged" in error["message"] and no_sql(error["message"])


def test_attack_writer_waiting_on_a_locked_database_gets_a_clear_error(writer_holding_lock):
    with pytest.raises(StoreError) as caught:
        Store.open(writer_holding_lock.db_path, timeout=0.5)
    message = str(caught.value)
    assert "locked by another process" in message and "retry" in message and no_sql(message)


def test_attack_write_on_an_open_store_while_another_process_holds_the_lock(copy_home):
    store = Store.open(copy_home.db_path, timeout=0.5)
    holder = sqlite3.connect(copy_home.db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError) as caught:
            with store.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE never (x)")
        assert "locked by another process" in str(caught.value) and no_sql(str(caught.value))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_attack_database_newer_than_this_program(home, copy_home, tmp_path):
    with sqlite3.connect(copy_home.db_path) as conn:  # a later release's revision, unknown to this one
        conn.execute("UPDATE alembic_version SET version_num = 'f00d0a1e5c0e'")
    for opening in (Store.open, Store.open_readonly):
        with pytest.raises(StoreError, match="newer than this program.*upgrade pocketstudio"):
            opening(copy_home.db_path)
    copy = tmp_path / "a.png"
    copy.write_bytes(home["png"].data)
    result = runner.invoke(cli_app, ["verify", str(copy), "--home", str(copy_home.home), "--json"],
                           catch_exceptions=False)
    row = json.loads(result.stdout)
    assert row["status"] == "error" and "upgrade pocketstudio" in row["reason"] and result.exit_code == 1
    with pytest.raises(StoreError, match="newer"):
        create_app(copy_home)


def test_older_database_is_upgraded_by_the_service_and_named_by_verify(home, copy_home):
    engine = sa.create_engine(f"sqlite:///{copy_home.db_path}")
    with engine.begin() as conn:  # one revision back: what an older program left
        alembic.command.downgrade(alembic_config(conn), "-1")
    engine.dispose()
    with pytest.raises(StoreError, match="older than this program.*pocketstudio init"):
        Store.open_readonly(copy_home.db_path)
    # The service migrates once at start (one write), then reads it read-only.
    app = create_app(copy_home)
    assert app.state.service.store.readonly and app.state.service.store.revision() == SCHEMA_REVISION
