"""The face check against small faces in big pictures and faces HOG misses (issue 21): real
photos (conftest's face_photos) composited small into 1920×1080 and 3840×2160 canvases, eyes
covered by a bar, rotated, blurred."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from pocketstudio.safety.faces import MAX_CANDIDATES, MIN_CANDIDATES, FaceAnalyzer, cnn_candidates, hog_scale

PEOPLE = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def background(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth random colour field (like a generated picture's low frequencies)."""
    rng = np.random.default_rng(seed)
    cells = (rng.random((max(2, height // 40), max(2, width // 40), 3)) * 255).astype(np.uint8)
    return Image.fromarray(cells).resize((width, height), Image.Resampling.BICUBIC)


def face_crop(analyzer: FaceAnalyzer, photo: Image.Image, attack: str = "clean"):
    """The photo's face with half a box of margin, the attack applied, and its face box side."""
    import dlib

    rgb = np.ascontiguousarray(np.asarray(photo.convert("RGB")))
    [(box, _)] = analyzer.boxes(photo, second=False)
    side = box[2] - box[0]
    m = side // 2
    crop = photo.convert("RGB").crop((max(0, box[0] - m), max(0, box[1] - m), box[2] + m, box[3] + m))
    if attack == "bar":
        shape = analyzer._shapes(rgb, dlib.rectangle(*box))
        pts = [(p.x - max(0, box[0] - m), p.y - max(0, box[1] - m)) for p in shape.parts()][:4]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        eye = max(xs) - min(xs)
        ImageDraw.Draw(crop).rectangle([min(xs) - eye * 0.15, sum(ys) / 4 - eye * 0.18,
                                        max(xs) + eye * 0.15, sum(ys) / 4 + eye * 0.18], fill=(0, 0, 0))
    elif attack.startswith("rot"):
        crop = crop.rotate(int(attack[3:]), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    elif attack == "blur":
        crop = crop.filter(ImageFilter.GaussianBlur(side / 60))
    return crop, side


def composite(crop: Image.Image, side: int, face_px: int, canvas: tuple[int, int], seed: int = 0):
    """``crop`` scaled so its face is ``face_px`` wide, pasted at a seeded place; the face's centre."""
    rng = np.random.default_rng(seed)
    s = face_px / side
    small = crop.resize((max(1, round(crop.width * s)), max(1, round(crop.height * s))), Image.Resampling.LANCZOS)
    picture = background(*canvas, seed=seed)
    x = int(rng.integers(0, canvas[0] - small.width))
    y = int(rng.integers(0, canvas[1] - small.height))
    picture.paste(small, (x, y))
    return picture, (x + small.width / 2, y + small.height / 2)


def found_at(faces, centre, face_px) -> list:
    return [f for f in faces if abs((f.box[0] + f.box[2]) / 2 - centre[0]) < face_px
            and abs((f.box[1] + f.box[3]) / 2 - centre[1]) < face_px]


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def photos(face_photos):
    return {name: Image.open(face_photos[name]).convert("RGB") for name in PEOPLE}


def test_search_starts_above_full_resolution_and_is_capped():
    assert hog_scale(3840, 2160) > 1.6  # a 40 px face is enlarged past HOG's window
    assert hog_scale(3840, 2160, min_face=80) < 1
    assert 8192 * 8192 * hog_scale(8192, 8192) ** 2 <= 40_000_001


def test_cnn_examines_fewer_near_misses_where_hog_costs_more():
    """A 4K check stays near 3 s on one core: the CNN sees HOG's 3 best near misses there, 8 up to full HD."""
    assert cnn_candidates(640, 480) == cnn_candidates(1920, 1080) == MAX_CANDIDATES
    assert cnn_candidates(3840, 2160) == cnn_candidates(8192, 8192) == MIN_CANDIDATES


@pytest.mark.parametrize("face_px, canvas", [(80, (1920, 1080)), (56, (1920, 1080)), (44, (1920, 1080))])
def test_attack_small_face_in_a_full_hd_frame_is_found(analyzer, photos, face_px, canvas):
    for seed, name in enumerate(PEOPLE[:2]):
        crop, side = face_crop(analyzer, photos[name])
        picture, centre = composite(crop, side, face_px, canvas, seed)
        hits = found_at(analyzer.analyze(picture, second=False), centre, face_px)
        assert hits and not hits[0].too_small, (name, face_px)


@pytest.mark.slow
@pytest.mark.parametrize("face_px", [48, 80])
def test_attack_small_face_in_a_4k_frame_is_found_and_matched(analyzer, photos, face_px):
    crop, side = face_crop(analyzer, photos["obama2.jpg"])
    picture, centre = composite(crop, side, face_px, (3840, 2160), seed=3)
    [hit] = found_at(analyzer.analyze(picture, second=False), centre, face_px)
    enrolled = analyzer.analyze(photos["obama.jpg"], second=False)[0].descriptor
    assert np.linalg.norm(hit.descriptor - enrolled) < 0.6  # in the probable band at least


def _enrolled_descriptor(analyzer, photos):
    return analyzer.analyze(photos["obama.jpg"], second=False)[0].descriptor


@pytest.mark.parametrize("attack", ["rot30", "blur"])
def test_attack_rotated_30_degrees_or_blurred_face_is_found_and_matched(analyzer, photos, attack):
    crop, side = face_crop(analyzer, photos["obama2.jpg"], attack)
    picture, centre = composite(crop, side, 160, (640, 480), seed=5)
    [hit] = found_at(analyzer.analyze(picture), centre, 160)
    assert np.linalg.norm(hit.descriptor - _enrolled_descriptor(analyzer, photos)) < 0.5 and not hit.unmatchable


@pytest.mark.slow
def test_attack_black_bar_over_the_eyes_is_found_and_unmatchable(analyzer, photos):
    """HOG alone misses this one; the CNN confirms HOG's near miss; the eye band is flat."""
    crop, side = face_crop(analyzer, photos["obama3.jpg"], "bar")
    picture, centre = composite(crop, side, 100, (1920, 1080), seed=1)
    assert not found_at(analyzer.analyze(picture, second=False), centre, 100)
    [hit] = found_at(analyzer.analyze(picture), centre, 100)
    assert hit.detector == "cnn" and hit.unmatchable
    clean, side = face_crop(analyzer, photos["obama3.jpg"])
    [plain] = found_at(analyzer.analyze(composite(clean, side, 100, (1920, 1080), seed=1)[0]), centre, 100)
    assert not plain.unmatchable


def test_attack_unmatchable_face_needs_consent_only_under_the_strict_policy():
    """The band reaches Cedar; the default policy lets a face nobody can judge pass, the strict
    folder makes it need the registered person's valid consent."""
    import datetime as dt

    from pocketstudio.policy.engine import DEFAULT_POLICY_DIR, ConsentFacts, DepictedPerson, PolicyEngine

    now = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
    t = int(now.timestamp())
    valid = ConsentFacts("g1", "alice", ("general",), t - 10, t + 10, False)
    for_bob = ConsentFacts("g2", "bob", ("general",), t - 10, t + 10, False)

    def allowed(engine, person):
        return engine.evaluate(requester="alice", purpose="general", persons=[person], now=now, stage="post").allowed

    default, strict = PolicyEngine(), PolicyEngine(DEFAULT_POLICY_DIR / "strict", extend_defaults=True)
    hidden = DepictedPerson("person_1", (), "unmatchable")
    assert allowed(default, hidden) and not allowed(strict, hidden)
    assert not allowed(strict, DepictedPerson("person_1", (for_bob,), "unmatchable"))
    assert allowed(strict, DepictedPerson("person_1", (valid,), "unmatchable"))
    assert not allowed(default, DepictedPerson("person_1", (), "match"))  # a matched face still needs consent
    assert not allowed(default, DepictedPerson("person_1", (for_bob,), "match"))


@pytest.mark.slow
def test_attack_face_with_hidden_eyes_becomes_an_unmatchable_finding_for_registered_people(studio, analyzer, photos):
    from pocketstudio.safety.likeness import LikenessChecker

    registry = studio.likeness.registry
    registry._analyzer = analyzer
    person = registry.register("Barack Obama", photos=[photos["obama.jpg"]])
    crop, side = face_crop(analyzer, photos["biden.jpg"], "bar")  # someone else, eyes covered
    picture, _ = composite(crop, side, 200, (1024, 1024), seed=1)
    check = LikenessChecker(registry).check_image(picture, stage="post")
    assert check.unmatchable == 1
    assert [(f.person_id, f.band) for f in check.findings] == [(person.person_id, "unmatchable")]
    clean, side = face_crop(analyzer, photos["biden.jpg"])
    assert LikenessChecker(registry).check_image(composite(clean, side, 200, (1024, 1024), seed=1)[0], "post").findings == ()


@pytest.mark.slow
def test_attack_black_bar_over_the_eyes_missed_with_a_wide_cnn_region_is_found():
    """With half a side of context around HOG's near miss the CNN saw nothing in this covered face;
    with CNN_REGION_MARGIN (0.35) its region is also 0.72x the pixels. (One HOG thread: the banded
    two-thread scan happens to score this face above HOG's threshold, and the CNN region is the
    subject here.)"""
    from tests.conftest import face_photos

    analyzer = FaceAnalyzer(threads=1)
    crop, side = face_crop(analyzer, Image.open(face_photos.__wrapped__()["biden.jpg"]), "bar")
    picture, centre = composite(crop, side, 100, (1920, 1080), seed=123)
    [hit] = found_at(analyzer.analyze(picture), centre, 100)
    assert hit.detector == "cnn" and hit.unmatchable


@pytest.mark.slow
def test_descriptor_read_from_the_face_region_equals_the_whole_picture(analyzer, photos):
    """analyze() hands dlib a crop around each face instead of the 4K picture: the same landmarks,
    descriptor and eye verdict, computed on the whole picture here."""
    import dlib

    from pocketstudio.safety.faces import MIN_FACE_PX

    crop, side = face_crop(analyzer, photos["obama2.jpg"], "rot30")
    picture, centre = composite(crop, side, 120, (3840, 2160), seed=2)
    [hit] = found_at(analyzer.analyze(picture, second=False), centre, 120)
    assert hit.size_px >= MIN_FACE_PX
    rgb = np.ascontiguousarray(np.asarray(picture))
    shape = analyzer._shapes(rgb, dlib.rectangle(*hit.box))
    whole = np.asarray(analyzer._encoder.compute_face_descriptor(rgb, shape), dtype=np.float32)
    assert np.array_equal(hit.descriptor, whole) and hit.unmatchable == analyzer._eyes_hidden(rgb, shape)


def test_grey_and_transparent_pictures_are_searched_like_their_rgb_copy(analyzer, photos):
    for mode in ("L", "RGBA"):
        picture = photos["obama.jpg"].convert(mode)
        got = analyzer.analyze(picture, second=False)
        want = analyzer.analyze(picture.convert("RGB"), second=False)
        assert [f.box for f in got] == [f.box for f in want] and len(got) == 1
        assert np.array_equal(got[0].descriptor, want[0].descriptor)


@pytest.mark.slow
def test_hog_on_two_threads_finds_what_one_thread_finds_also_across_the_band_edge(analyzer, photos):
    """The two-thread search cuts the scanned picture into bands: a face on the edge between them,
    small (inside the shared rows) or large (beyond them: the coarse copy's), is still found once,
    where the one-thread search finds it."""
    one, two = FaceAnalyzer(threads=1), FaceAnalyzer(threads=2)
    crop, side = face_crop(analyzer, photos["obama.jpg"])
    size = (1920, 1080)
    for face_px in (44, 120, 250, 600):
        s = face_px / side
        small = crop.resize((round(crop.width * s), round(crop.height * s)), Image.Resampling.LANCZOS)
        picture = background(*size, seed=face_px)
        x, y = 700, size[1] // 2 - small.height // 2  # centred on the edge between the two bands
        picture.paste(small, (x, y))
        centre = (x + small.width / 2, y + small.height / 2)
        by_one = found_at(one.analyze(picture, second=False), centre, face_px)
        by_two = found_at(two.analyze(picture, second=False), centre, face_px)
        assert len(by_one) == 1 and len(by_two) == 1, face_px
        assert max(abs(a - b) for a, b in zip(by_one[0].box, by_two[0].box)) <= 0.1 * face_px
