"""The perceptual fingerprint (second soft binding) and the store migration that keeps it.

Photos: scikit-image's bundled data images (public domain / CC0, see skimage.data).
"""

import io
import itertools

import numpy as np
import pytest
import sqlalchemy as sa
import skimage.data
from PIL import Image, ImageOps

from pocketstudio.core.base.errors import InvalidImageError
from pocketstudio.core.base.store import SCHEMA_REVISION, Store, alembic_config, fingerprints, manifests
from pocketstudio.provenance.fingerprint import ALG, Fingerprint, compare, phash_from_value

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "retina", "horse"]


def photo(name: str) -> Image.Image:
    array = getattr(skimage.data, name)()
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return Image.fromarray(array).convert("RGB")


@pytest.fixture(scope="module")
def photos():
    return {name: photo(name) for name in PHOTOS}


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_same_picture_after_jpeg_resize_and_grayscale(photos):
    for image in photos.values():
        ref = Fingerprint.of(image)
        for attacked in (jpeg(image, 50), image.resize((image.width // 2, image.height // 2)),
                         ImageOps.grayscale(image).convert("RGB"),
                         jpeg(image.resize((int(image.width * 0.77), int(image.height * 0.77))), 80)):
            result = compare(attacked, ref)
            assert result.outcome == "same" and result.phash_distance <= 10, result


def test_crops_are_recognised_as_crops(photos):
    for image in photos.values():
        ref = Fingerprint.of(image)
        w, h = image.size
        for box in ((0, 0, int(w * 0.75), int(h * 0.75)), (w // 8, h // 8, w - w // 8, h - h // 8),
                    (int(w * 0.2), 0, w, h)):
            result = compare(jpeg(image.crop(box), 85), ref)
            assert result.matches is True, (box, result)


def test_different_pictures_do_not_match(photos):
    prints = {name: Fingerprint.of(image) for name, image in photos.items()}
    for a, b in itertools.permutations(photos, 2):
        result = compare(photos[a], prints[b])
        assert result.outcome == "different", (a, b, result)


def test_value_round_trip_and_malformed_values(photos):
    fp = Fingerprint.of(photos["astronaut"])
    value = fp.to_value()
    assert Fingerprint.from_value(value) == fp
    assert phash_from_value(value) == fp.phash
    assert len(fp.thumbnail) == 32 * 32 and fp.width == 512
    for bad in ("not base64!", "AAAA", ""):
        with pytest.raises(InvalidImageError):
            Fingerprint.from_value(bad)


def test_flat_pictures_are_undecidable_not_a_match():
    grey = Image.new("RGB", (256, 256), (120, 120, 120))
    other = Image.new("RGB", (256, 256), (121, 120, 120))
    assert compare(other, Fingerprint.of(grey)).matches is None


def test_migration_2_upgrades_a_shipped_version_1_database(tmp_path):
    """A database created by the shipped program (revision 0001 only) gains the fingerprints table."""
    import alembic.command

    path = tmp_path / "v1.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        alembic.command.upgrade(alembic_config(conn), "0001")
        conn.execute(manifests.insert().values(
            asset_id="00112233aabbccdd", watermark_alg="w", manifest=b"m", manifest_sha256="0" * 64,
            manifest_label="urn:c2pa:old", mime_type="image/png", decision_id="d", model_sha256="0" * 64,
            created_at="2026-01-01T00:00:00+00:00"))
    engine.dispose()

    store = Store.open(path)
    assert store.revision() == SCHEMA_REVISION
    inspector = sa.inspect(store.engine)
    assert "fingerprints" in inspector.get_table_names()
    assert {"ix_manifests_manifest_label", "ix_manifests_watermark_alg"} <= {
        ix["name"] for ix in inspector.get_indexes("manifests")}
    from pocketstudio.provenance.resolution import ManifestRepository

    repo = ManifestRepository(store)
    old = repo.get("00112233aabbccdd")
    assert old is not None and old.fingerprint is None  # an old release keeps working, without a fingerprint
    assert repo.by_label("urn:c2pa:old").asset_id == "00112233aabbccdd"
    assert repo.issued_watermark_algs() == {"w"}
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(fingerprints)).scalar() == 0


def test_fresh_database_gets_the_same_schema_as_an_upgraded_one(tmp_path):
    fresh = Store.open(tmp_path / "fresh.db")
    indexes = {ix["name"] for ix in sa.inspect(fresh.engine).get_indexes("manifests")}
    assert indexes == {"ix_manifests_manifest_label", "ix_manifests_watermark_alg", "ix_manifests_time_stamp"}
    assert ALG == "io.pocketstudio.fingerprint.v1"
