"""Shared fixtures: a fresh data directory per test, a tiny random LCM model per session."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocketstudio.core.base.config import Settings

# Real time: c2pa checks certificate validity against the clock, so the keys are made "now".
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load(tmp_path / "home")


FACE_RECOGNITION_SDIST = "face_recognition==1.3.0"


@pytest.fixture(scope="session")
def face_photos() -> dict[str, Path]:
    """Real face photos obtained offline-reproducibly: the face_recognition 1.3.0 sdist's test images
    (fetched once through pip into a cache) plus scikit-image's public-domain astronaut."""
    import os
    import subprocess
    import sys
    import tarfile

    import skimage

    cache = Path(os.environ.get("POCKETSTUDIO_TEST_CACHE", Path.home() / ".cache" / "pocketstudio-tests"))
    images = cache / "face_recognition-1.3.0" / "tests" / "test_images"
    if not images.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        FACE_RECOGNITION_SDIST, "-d", str(cache)], check=True, timeout=600)
        with tarfile.open(next(cache.glob("face_recognition-1.3.0.tar.gz"))) as tar:
            members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name and m.isfile()]
            tar.extractall(cache, members=members, filter="data")
    photos = {p.name: p for p in images.iterdir()}
    photos["astronaut.png"] = Path(skimage.__file__).parent / "data" / "astronaut.png"
    return photos


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from training.tiny import build_tiny_random_model

    path = tmp_path_factory.mktemp("tiny-lcm")
    build_tiny_random_model(path, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_dir):
    from pocketstudio.core.generator import load_generator

    return load_generator(tiny_model_dir)


@pytest.fixture
def studio(settings, tiny_generator):
    from pocketstudio.core.app.studio import Studio

    return Studio(settings, generator=tiny_generator)


def textured_image(size: int = 512, seed: int = 0) -> Image.Image:
    """A smooth random colour field, like an upscaled generated image."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((size // 16, size // 16, 3)) * 255).astype(np.uint8))
    return small.resize((size, size), Image.Resampling.BICUBIC)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_from_chunks(chunks) -> bytes:
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return b"".join(out)


def change_one_pixel_keep_manifest(signed_png: bytes) -> bytes:
    """Flip one pixel of a signed PNG while keeping its C2PA chunk (caBX) in place."""
    image = np.array(Image.open(io.BytesIO(signed_png)).convert("RGB"))
    image[10, 10, 0] ^= 0x01
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    new_idat = [c for c in png_chunks(buf.getvalue()) if c[0] == b"IDAT"]
    rebuilt, placed = [], False
    for kind, body in png_chunks(signed_png):
        if kind == b"IDAT":
            if not placed:
                rebuilt += new_idat
                placed = True
            continue
        rebuilt.append((kind, body))
    return png_from_chunks(rebuilt)


@contextlib.contextmanager
def file_modes_enforced():
    """File modes apply to this process while inside, even as root: root's CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH are dropped from the effective set (capset(2)) and restored after, so a
    test of an unreadable or read-only file means the same in CI (root) as for a user."""
    if os.geteuid() != 0:
        yield
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    saved = data[0].effective
    data[0].effective = saved & ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's postgresql, started as the postgres user in a temporary
    folder, tests/postgres.py) for the whole session; never skipped: .ci/run installs it."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """A new empty PostgreSQL database for one test: its SQLAlchemy URL."""
    return postgres.create_database()
