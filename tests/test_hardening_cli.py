"""Issue 17, the command line and its inputs: each test replays one attack through the real CLI
(typer's runner over the real app, a real data directory, the tiny random model).

Generation-order checks use a --model folder that does not exist: any step that loaded the model
would fail with a model error, so an error about the path or size proves nothing was spent."""

import json
import os
import socket
import stat
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.errors import ReleaseBlocked
from pocketstudio.core.app.studio import GenerationRequest, Studio

from .conftest import file_modes_enforced, textured_image

runner = CliRunner()
LONG_NAME = "x" * 300 + ".png"  # one path component over NAME_MAX (255 bytes)
BIG = 300 * 1024 * 1024  # a 300 MB input, made sparse (no disk used)


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def no_traceback(result):
    return "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))


def audit_entries(home):
    listed = run("audit", "list", "--json", "--home", home)
    return json.loads(listed.stdout) if listed.exit_code == 0 else []


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    assert run("init", "--home", home).exit_code == 0
    return home


@pytest.fixture
def released(tmp_path, home, tiny_model_dir):
    out = tmp_path / "signed.png"
    result = run("generate", "a red circle", "-o", out, "--model", tiny_model_dir, "--size", "128", "--seed", "3",
                 "--json", "--home", home)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def big_sparse(path):
    with open(path, "wb") as fh:
        fh.truncate(BIG)
    return path


# -- item 1: -o never replaces what is not a regular file of ours -------------------------------------

def _hostile_outputs(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.png"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    folder = tmp_path / "folder.png"
    folder.mkdir()
    (folder / "inside").write_text("keep me")
    link_elsewhere = tmp_path / "link.png"
    link_elsewhere.symlink_to(victim)
    regular_target = tmp_path / "target.png"
    regular_target.write_bytes(b"keep me")
    link_to_png = tmp_path / "link-to-png.png"
    link_to_png.symlink_to(regular_target)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere" / "x.png")
    cases = {"fifo": fifo, "socket": sock_path, "directory": folder, "symlink-to-elsewhere": link_elsewhere,
             "symlink-to-regular-png": link_to_png, "dangling-symlink": dangling}
    if os.geteuid() == 0:  # a copy of /dev/null (mknod needs root)
        dev = tmp_path / "null.png"
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        cases["device"] = dev
    return cases, sock, {victim: "keep me", folder / "inside": "keep me", regular_target: "keep me"}


def _snapshot(path):
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), st.st_ino


def test_attack_output_onto_fifo_socket_directory_symlink_or_device_is_refused_before_generation(tmp_path, home):
    cases, sock, kept = _hostile_outputs(tmp_path)
    try:
        for name, path in cases.items():
            before = _snapshot(path)
            for force in ([], ["--force"]):
                result = run("generate", "a cat", "-o", path, "--model", tmp_path / "no-model", *force, "--home", home)
                assert result.exit_code == 1, (name, result.output)
                assert "will not replace it" in result.output, (name, result.output)
                assert "model" not in result.output.lower(), (name, result.output)  # nothing was loaded
                assert _snapshot(path) == before, name
        for path, text in kept.items():
            assert path.read_text() == text
        assert audit_entries(home) == []  # refused before any decision was made
    finally:
        sock.close()


def test_attack_output_onto_dev_null_is_refused(tmp_path, home):
    result = run("generate", "a cat", "-o", "/dev/null", "--format", "png", "--model", tmp_path / "no-model",
                 "--home", home)
    assert result.exit_code == 1 and "/dev/null" in result.output
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_attack_existing_output_file_is_kept_unless_force(tmp_path, home, tiny_model_dir):
    out = tmp_path / "mine.png"
    textured_image(64).save(out)
    original = out.read_bytes()
    refused = run("generate", "a cat", "-o", out, "--model", tmp_path / "no-model", "--home", home)
    assert refused.exit_code == 1 and "--force" in refused.output and out.read_bytes() == original
    forced = run("generate", "a cat", "-o", out, "--force", "--model", tiny_model_dir, "--size", "128",
                 "--json", "--home", home)
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes() != original
    assert json.loads(run("verify", out, "--json", "--home", home).stdout)["status"] == "trusted"


class _PlantsAtOutput:
    """The real generator, after which a hostile local user plants something at the output path
    (the race between the up-front check and the publish step)."""

    def __init__(self, real, plant):
        self.real, self.plant = real, plant

    def __getattr__(self, name):
        return getattr(self.real, name)

    def generate(self, *args, **kwargs):
        result = self.real.generate(*args, **kwargs)
        self.plant()
        return result


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("planted", ["symlink", "directory", "fifo"])
def test_attack_symlink_or_directory_planted_after_the_check_is_not_replaced_at_publish(
        settings, tiny_generator, tmp_path, overwrite, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out.png"
    plant = {"symlink": lambda: out.symlink_to(victim), "directory": lambda: out.mkdir(),
             "fifo": lambda: os.mkfifo(out)}[planted]
    studio = Studio(settings, generator=_PlantsAtOutput(tiny_generator, plant))
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(GenerationRequest("a cat", "alice", size=128), out, overwrite=overwrite)
    assert blocked.value.step == "publish"
    assert victim.read_text() == "keep me"
    kind = stat.S_IFMT(os.lstat(out).st_mode)
    assert kind == {"symlink": stat.S_IFLNK, "directory": stat.S_IFDIR, "fifo": stat.S_IFIFO}[planted]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]  # no staged file left behind


def test_attack_output_file_created_after_the_check_is_not_replaced_without_force(settings, tiny_generator, tmp_path):
    out = tmp_path / "out.png"
    studio = Studio(settings, generator=_PlantsAtOutput(tiny_generator, lambda: out.write_text("theirs")))
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(GenerationRequest("a cat", "alice", size=128), out)
    assert blocked.value.step == "publish" and out.read_text() == "theirs"


# -- item 15: sizes, aspect ratios and extensions are refused up front --------------------------------

@pytest.mark.parametrize("size", ["0", "-5", "abc", "64x", "x64", "64x64x64", "1e3", "\u0661\u0662\u0668", "0x512",
                                  "512x0", "100000"])
def test_attack_bad_size_is_refused_before_generation(tmp_path, home, size):
    result = run("generate", "a cat", "-o", tmp_path / "x.png", "--size", size, "--model", tmp_path / "no-model",
                 "--json", "--home", home)
    assert result.exit_code == 1, result.output
    parsed = json.loads(result.stdout)
    assert parsed["released"] is False and "size" in parsed["error"]["message"]
    assert not (tmp_path / "x.png").exists() and audit_entries(home) == []


@pytest.mark.parametrize("size", ["64x4096", "4096x64", "128x4096", "200x4000"])
def test_attack_aspect_ratio_the_watermark_cannot_carry_is_refused_before_generation(tmp_path, home, size):
    result = run("generate", "a cat", "-o", tmp_path / "x.png", "--size", size, "--model", tmp_path / "no-model",
                 "--home", home)
    assert result.exit_code == 1 and "cannot carry the watermark" in result.output, result.output


def test_the_watermark_size_limit_is_the_engines_own(settings):
    """The up-front check and the embedder agree: every size the check lets through embeds."""
    from pocketstudio.core.base.errors import WatermarkError
    from pocketstudio.provenance.keys import KeyStore
    from pocketstudio.provenance.watermark import WatermarkPayload, make_watermarker

    keys = KeyStore(settings)
    keys.ensure()
    engine = make_watermarker(settings.watermark_engine, keys.watermark_key())
    for w, h in [(64, 1200), (64, 1300), (100, 1896), (100, 1900)]:
        try:
            engine.check_size(w, h)
            allowed = True
        except WatermarkError:
            allowed = False
        try:
            engine.embed(Image.new("RGB", (w, h), "grey"), WatermarkPayload("0123456789abcdef", engine.alg))
            embeds = True
        except WatermarkError:
            embeds = False
        assert allowed == embeds, (w, h)


@pytest.mark.parametrize("name,fmt", [("x.gif", None), ("x.webp", None), ("x", None), ("x.png", "jpeg"),
                                      ("x.jpg", "png"), ("x.png", "gif")])
def test_attack_output_extension_that_does_not_match_the_format_is_refused(tmp_path, home, name, fmt):
    args = ["--format", fmt] if fmt else []
    result = run("generate", "a cat", "-o", tmp_path / name, *args, "--model", tmp_path / "no-model", "--home", home)
    assert result.exit_code == 1 and "model" not in result.output.lower(), result.output
    assert not (tmp_path / name).exists()


def test_attack_long_prompt_is_reported_in_the_result_not_warned_on_stderr(tmp_path, home, tiny_model_dir, capfd):
    prompt = " ".join(["a red circle on a blue square"] * 30)  # far beyond 77 tokens
    result = run("generate", prompt, "-o", tmp_path / "long.png", "--model", tiny_model_dir, "--size", "128",
                 "--json", "--home", home)
    assert result.exit_code == 0, result.output
    released = json.loads(result.stdout)
    assert released["prompt_truncated"] is True
    assert released["prompt_tokens"]["kept"] == 75 < released["prompt_tokens"]["given"]
    assert "truncated" not in capfd.readouterr().err
    short = json.loads(run("generate", "a red circle", "-o", tmp_path / "short.png", "--model", tiny_model_dir,
                           "--size", "128", "--json", "--home", home).stdout)
    assert short["prompt_truncated"] is False and short["prompt_tokens"]["given"] == short["prompt_tokens"]["kept"]


def test_generator_result_carries_the_prompt_token_counts(tiny_generator):
    generated = tiny_generator.generate(" ".join(["green star"] * 60), steps=1, seed=1, size=64)
    assert generated.prompt_truncated and generated.prompt_tokens_kept == 75 < generated.prompt_tokens


# -- item 12: every --json output stays JSON; 64-bit numbers are strings ------------------------------

def test_attack_seed_above_2_53_stays_exact_in_every_json_output(tmp_path, home, tiny_model_dir):
    seed = 2**53 + 1  # a JSON reader with doubles would read 2**53
    out = tmp_path / "s.png"
    released = json.loads(run("generate", "a cat", "-o", out, "--seed", seed, "--model", tiny_model_dir,
                              "--size", "128", "--json", "--home", home).stdout)
    assert released["seed"] == str(seed)
    verdict = json.loads(run("verify", out, "--json", "--home", home).stdout)
    assert verdict["manifest"]["seed"] == str(seed)


def _hostile_inputs(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    not_a_dir = tmp_path / "plain.txt"
    not_a_dir.write_text("x")
    return {"missing": tmp_path / "missing.png", "long-name": tmp_path / LONG_NAME, "fifo": fifo,
            "empty-folder": empty, "under-a-file": not_a_dir / "x.png", "300MB": big_sparse(tmp_path / "big.png")}


def test_attack_verify_json_with_unreadable_inputs_stays_json(tmp_path, home, released):
    out, _ = released
    hostile = _hostile_inputs(tmp_path)
    # several inputs: one list entry per input, in order, the good one verified
    result = run("verify", out, *hostile.values(), "--json", "--home", home)
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["trusted"] + ["error"] * len(hostile)
    for (name, _), row in zip(hostile.items(), rows[1:]):
        assert row["reason"], name
    assert "too long" in rows[2]["reason"] and "larger than" in rows[6]["reason"]
    # one input: one object, also for an error
    for name, path in hostile.items():
        one = run("verify", path, "--json", "--home", home)
        assert one.exit_code == 1, (name, one.output)
        parsed = json.loads(one.stdout)
        if name == "empty-folder":  # a folder is always a list
            assert [r["status"] for r in parsed] == ["error"]
        else:
            assert parsed["status"] == "error" and parsed["reason"], name
        lines = run("verify", path, "--jsonl", "--home", home).stdout.splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["status"] == "error", name
        human = run("verify", path, "--home", home)
        assert human.exit_code == 1 and no_traceback(human), name


def test_attack_verify_json_with_corrupt_database_stays_json(tmp_path, home, released):
    out, _ = released
    for side in home.glob("pocketstudio.db-*"):  # the write-ahead log would still hold the pages
        side.unlink()
    (home / "pocketstudio.db").write_bytes(b"this is not a database" * 100)
    for args in ([out], [out, out]):
        result = run("verify", *args, "--json", "--home", home)
        assert result.exit_code == 1, result.output
        parsed = json.loads(result.stdout)
        rows = parsed if isinstance(parsed, list) else [parsed]
        assert len(rows) == len(args) and all(r["status"] == "error" and r["reason"] for r in rows)
        assert all("SELECT" not in r["reason"] and "sqlite" not in r["reason"].lower() for r in rows)


def test_attack_generate_json_error_is_a_json_object(tmp_path, home):
    result = run("generate", "", "-o", tmp_path / "x.png", "--json", "--home", home)
    assert result.exit_code == 1
    parsed = json.loads(result.stdout)
    assert parsed["released"] is False and parsed["error"]["type"] == "GenerationError"
    assert "empty" in parsed["error"]["message"]


# -- item 13: unreadable keys, names over 255 bytes, 300 MB inputs ------------------------------------

@pytest.mark.parametrize("damage", ["key-file-is-a-folder", "keys-folder-is-a-file", "key-file-unreadable"])
def test_attack_unreadable_keys_are_a_typed_error_that_says_what_to_do(tmp_path, home, damage):
    keys = home / "keys"
    if damage == "key-file-is-a-folder":
        (keys / "watermark.key").unlink()
        (keys / "watermark.key").mkdir()
    elif damage == "keys-folder-is-a-file":
        for p in keys.rglob("*"):
            if p.is_file():
                p.unlink()
        for p in sorted(keys.rglob("*"), reverse=True):
            p.rmdir()
        keys.rmdir()
        keys.write_text("not a folder")
    else:
        (keys / "watermark.key").chmod(0)
    image = tmp_path / "any.png"
    textured_image(128).save(image)
    # (verify reads a data directory without a keys folder as one without keys: the folder case is
    # the generate and keys commands')
    with file_modes_enforced():  # the mode binds root too (CI runs as root)
        for args in (["generate", "a cat", "-o", tmp_path / "x.png", "--model", tmp_path / "no-model"],) + \
                ((["keys", "show"],) if damage == "keys-folder-is-a-file" else (["verify", image],)):
            if damage == "key-file-unreadable":  # each start sets the data directory's files to 0600 again
                (keys / "watermark.key").chmod(0)
            result = run(*args, "--home", home)
            assert result.exit_code == 1, (args, result.output)
            assert no_traceback(result) and "keys" in result.output, (args, result.output)
        if damage != "keys-folder-is-a-file":
            if damage == "key-file-unreadable":
                (keys / "watermark.key").chmod(0)
            verdict = json.loads(run("verify", image, "--json", "--home", home).stdout)
            assert verdict["status"] == "error" and "key" in verdict["reason"]


def test_attack_file_names_over_255_bytes_are_typed_errors(tmp_path, home):
    long_out = run("generate", "a cat", "-o", tmp_path / LONG_NAME, "--model", tmp_path / "no-model", "--home", home)
    assert long_out.exit_code == 1 and "255 bytes" in long_out.output and no_traceback(long_out)
    long_ref = run("generate", "a cat", "-o", tmp_path / "x.png", "--reference", tmp_path / LONG_NAME,
                   "--model", tmp_path / "no-model", "--home", home)
    assert long_ref.exit_code == 1 and "too long" in long_ref.output and no_traceback(long_ref)
    long_photo = run("consent", "enroll", "--name", "Jane Example", "--photo", tmp_path / LONG_NAME, "--home", home)
    assert long_photo.exit_code == 1 and "too long" in long_photo.output and no_traceback(long_photo)


def test_attack_300mb_inputs_are_refused_before_they_are_read(tmp_path, home):
    big = big_sparse(tmp_path / "big.jpg")
    for args in (["generate", "a cat", "-o", tmp_path / "x.png", "--reference", big, "--model", tmp_path / "no-model"],
                 ["consent", "enroll", "--name", "Jane Example", "--photo", big],
                 ["subject", "create", "rusty", "--image", big],
                 ["verify", big]):
        result = run(*args, "--home", home)
        assert result.exit_code == 1 and "larger than" in result.output and no_traceback(result), (args, result.output)


# -- item 16: --version, -h, malformed audit filters, short ids --------------------------------------

def test_attack_version_and_short_help_work():
    version = run("--version")
    assert version.exit_code == 0 and version.stdout.startswith("pocketstudio ")
    for args in (["-h"], ["generate", "-h"], ["audit", "-h"], ["audit", "list", "-h"], ["verify", "-h"]):
        result = run(*args)
        assert result.exit_code == 0 and "Usage" in result.output, args


@pytest.mark.parametrize("args", [["--since", "2026-13-45"], ["--until", "yesterday"], ["--effect", "alow"]])
def test_attack_malformed_audit_list_filter_is_an_error_not_an_empty_table(home, args):
    result = run("audit", "list", *args, "--home", home)
    assert result.exit_code == 2 and args[0] in result.output, result.output
    as_json = run("audit", "list", *args, "--json", "--home", home)
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["error"]["type"] == "UsageError"


def test_attack_short_id_printed_by_audit_list_works_in_audit_show(home, released):
    _, facts = released
    wide = runner.invoke(app, ["audit", "list", "--home", str(home)], env={"COLUMNS": "300"})
    assert wide.exit_code == 0
    short = next(tok for line in wide.stdout.splitlines() for tok in line.replace("│", " ").split()
                 if facts["decision_id"].startswith(tok) and tok != facts["decision_id"] and len(tok) >= 8)
    shown = run("audit", "show", short, "--json", "--home", home)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["decision_id"] == facts["decision_id"]


if sys.platform != "linux":  # FIFOs, sockets and mknod as used above
    pytestmark = pytest.mark.skip("Linux file types")
