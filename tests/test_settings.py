"""One settings file: config.toml in the data directory, POCKETSTUDIO_<NAME> over it, a flag over
both, validated with errors that name the setting. Through Settings.load and the real CLI."""

import json
import os
import stat
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocketstudio.core.app.cli import app
from pocketstudio.core.base.config import (
    HOME_ENV, SCHEMA, SECRET_ENV, SETTINGS_BY_NAME, Settings, set_in_config, unset_in_config)
from pocketstudio.core.base.errors import ConfigError, SettingError

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def load(home: Path, env: dict | None = None, **flags) -> Settings:
    return Settings.load(home, env=env or {}, flags=flags)


# -- the schema ------------------------------------------------------------------------------------

def test_every_setting_has_a_type_default_doc_and_its_environment_name():
    for s in SCHEMA:
        assert s.doc and s.doc.endswith(".") and "\n" not in s.doc, s.name
        assert s.env == "POCKETSTUDIO_" + s.name.upper()
        assert s.kind in ("str", "int", "bool", "path", "paths", "strs")
        assert typing.get_type_hints(Settings)[s.name] == s.type
        # the default is itself a valid value
        assert s.check(s.default, "default") == s.default
    assert len({s.env for s in SCHEMA}) == len(SCHEMA)


def test_the_settings_later_issues_need_have_one_home_now():
    wanted = {"signing_alg", "watermark_engine", "default_requester", "default_purpose", "default_size",
              "audit_retention_days", "policy_dir", "policy_extends", "trust_anchor_files", "host", "port",
              "max_bytes", "max_pixels", "workers", "allowed_hosts", "operator_token_file", "tsa_url",
              "tsa_required", "ai_training_policy", "provider_name", "provider_code", "compliance_profile", "label",
              "label_text", "label_lang", "compliance_strict", "database_url", "verify_fetch_urls", "threads"}
    assert wanted <= set(SETTINGS_BY_NAME)
    assert SETTINGS_BY_NAME["ai_training_policy"].choices == ("notAllowed", "allowed", "constrained")
    assert SETTINGS_BY_NAME["compliance_profile"].choices == ("eu", "us-ca", "cn", "all")
    assert SETTINGS_BY_NAME["compliance_profile"].default == "all"


def test_secrets_and_the_data_directory_are_not_settings():
    envs = {s.env for s in SCHEMA}
    assert HOME_ENV not in envs and not envs & set(SECRET_ENV.values())
    assert not set(SECRET_ENV) & set(SETTINGS_BY_NAME)


def test_the_settings_reference_lists_every_setting_and_its_variable():
    text = (Path(__file__).parent.parent / "docs" / "settings.md").read_text()
    for s in SCHEMA:
        assert f"| `{s.name}` | `{s.env}` |" in text, s.name
    for variable in SECRET_ENV.values():
        assert variable in text


def test_setting_defaults_agree_with_the_components_that_use_them():
    from pocketstudio.core.app import server
    from pocketstudio.provenance.watermark import ENGINES

    assert SETTINGS_BY_NAME["max_bytes"].default == server.DEFAULT_MAX_BYTES
    assert SETTINGS_BY_NAME["max_pixels"].default == server.DEFAULT_MAX_PIXELS
    assert set(SETTINGS_BY_NAME["watermark_engine"].choices) == set(ENGINES)
    assert SETTINGS_BY_NAME["watermark_engine"].default in ENGINES


# -- precedence through Settings.load --------------------------------------------------------------

def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    home = tmp_path / "home"
    assert load(home).port == 8000 and load(home).source("port") == "default"
    write_config(home, "port = 9000\n")
    assert (load(home).port, load(home).source("port")) == (9000, "file")
    env = {"POCKETSTUDIO_PORT": "9100"}
    assert (load(home, env).port, load(home, env).source("port")) == (9100, "env")
    flagged = load(home, env, port=9200)
    assert (flagged.port, flagged.source("port")) == (9200, "flag")
    assert load(home, env, port=None).port == 9100  # a flag not given is no flag


def test_an_empty_environment_variable_counts_as_unset(tmp_path):
    home = tmp_path / "home"
    write_config(home, 'tsa_url = "http://tsa.example/"\n')
    settings = load(home, {"POCKETSTUDIO_TSA_URL": "", "POCKETSTUDIO_PORT": "  "})
    assert settings.tsa_url == "http://tsa.example/" and settings.port == 8000


def test_environment_values_are_parsed_by_type(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load(tmp_path / "home", {
        "POCKETSTUDIO_TSA_REQUIRED": "yes", "POCKETSTUDIO_LABEL": "0", "POCKETSTUDIO_THREADS": "2",
        "POCKETSTUDIO_ALLOWED_HOSTS": "a.example, b.example:8443",
        "POCKETSTUDIO_TRUST_ANCHOR_FILES": os.pathsep.join(["one.pem", "/abs/two.pem"]),
        "POCKETSTUDIO_POLICY_DIR": "policies"})
    assert settings.tsa_required is True and settings.label is False and settings.threads == 2
    assert settings.allowed_hosts == ("a.example", "b.example:8443")
    assert settings.trust_anchor_files == (tmp_path / "one.pem", Path("/abs/two.pem"))
    assert settings.policy_dir == tmp_path / "policies"  # relative to the working directory


def test_relative_paths_in_config_toml_are_taken_from_the_data_directory(tmp_path):
    home = tmp_path / "home"
    write_config(home, 'policy_dir = "policies"\ntrust_anchor_files = ["anchors/ca.pem", "/abs/ca.pem"]\n'
                       'operator_token_file = "~/token"\n')
    settings = load(home)
    assert settings.policy_dir == home.resolve() / "policies"
    assert settings.trust_anchor_files == (home.resolve() / "anchors" / "ca.pem", Path("/abs/ca.pem"))
    assert settings.operator_token_file == Path("~/token").expanduser()


def test_loading_settings_creates_nothing(tmp_path):
    home = tmp_path / "absent"
    settings = load(home, {"POCKETSTUDIO_PORT": "9000"})
    assert settings.port == 9000 and not home.exists()


def test_settings_load_reads_the_process_environment_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("POCKETSTUDIO_DEFAULT_PURPOSE", "research")
    assert Settings.load(tmp_path / "home").default_purpose == "research"


# -- validation errors: each names the setting and where it came from ------------------------------

@pytest.mark.parametrize("text, key, words", [
    ("prot = 9000\n", "prot", "unknown setting 'prot'"),
    ('port = "9000"\n', "port", "must be an integer from 1 to 65535, not the string '9000'"),
    ("port = 70000\n", "port", "must be an integer from 1 to 65535, not 70000"),
    ("port = 0\n", "port", "not 0"),
    ("label = 1\n", "label", "must be true or false, not the integer 1"),
    ('signing_alg = "rsa"\n', "signing_alg", "must be one of es256, ed25519, not 'rsa'"),
    ('ai_training_policy = "maybe"\n', "ai_training_policy", "notAllowed, allowed, constrained"),
    ('compliance_profile = "mars"\n', "compliance_profile", "eu, us-ca, cn, all"),
    ('tsa_url = "ftp://tsa.example"\n', "tsa_url", "http:// or https://"),
    ('label_lang = "en us"\n', "label_lang", "language tag"),
    ("allowed_hosts = [1, 2]\n", "allowed_hosts", "must be a list of strings"),
    ('trust_anchor_files = "one.pem"\n', "trust_anchor_files", "must be a list of paths"),
    ('default_requester = ""\n', "default_requester", "must not be empty"),
    ("audit_retention_days = 0\n", "audit_retention_days", "from 1 to 36600, not 0"),
    ("max_bytes = 0\n", "max_bytes", "of at least 1, not 0"),
    ("[serve]\nport = 1\n", "serve", "unknown setting 'serve'"),
])
def test_bad_value_in_config_toml_is_a_setting_error_naming_the_key(tmp_path, text, key, words):
    home = tmp_path / "home"
    write_config(home, text)
    with pytest.raises(SettingError) as caught:
        load(home)
    assert caught.value.key == key and words in str(caught.value)
    assert str(home / "config.toml") in str(caught.value)


def test_unknown_key_suggests_the_nearest_setting(tmp_path):
    write_config(tmp_path / "home", "max_byte = 10\n")
    with pytest.raises(SettingError, match="did you mean 'max_bytes'"):
        load(tmp_path / "home")


def test_unparseable_config_toml_names_the_line(tmp_path):
    write_config(tmp_path / "home", "# settings\nport = 9000\nhost = \n")
    with pytest.raises(SettingError) as caught:
        load(tmp_path / "home")
    assert "not valid TOML" in str(caught.value) and "line 3" in str(caught.value) and caught.value.key is None


def test_a_secret_in_config_toml_is_refused_and_says_where_it_goes(tmp_path):
    write_config(tmp_path / "home", 'operator_token = "0123456789abcdef"\n')
    with pytest.raises(SettingError) as caught:
        load(tmp_path / "home")
    message = str(caught.value)
    assert caught.value.key == "operator_token" and "POCKETSTUDIO_OPERATOR_TOKEN" in message
    assert "operator_token_file" in message and "0123456789abcdef" not in message


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(SettingError) as caught:
        load(tmp_path / "home", {"POCKETSTUDIO_WORKERS": "many"})
    assert caught.value.key == "workers" and "POCKETSTUDIO_WORKERS" in str(caught.value)
    with pytest.raises(SettingError, match="POCKETSTUDIO_TSA_REQUIRED.*true or false"):
        load(tmp_path / "home", {"POCKETSTUDIO_TSA_REQUIRED": "maybe"})


def test_bad_flag_value_is_a_setting_error(tmp_path):
    with pytest.raises(SettingError) as caught:
        load(tmp_path / "home", workers=0)
    assert caught.value.key == "workers" and "command line" in str(caught.value)


def test_config_toml_that_is_not_utf8_is_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_bytes(b'label_text = "\xff"\n')
    with pytest.raises(SettingError, match="not UTF-8"):
        load(home)


def test_config_toml_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / "config.toml")
    with pytest.raises(ConfigError, match="FIFO"):
        load(home)


# -- writing config.toml ------------------------------------------------------------------------------

def test_set_keeps_comments_and_other_keys_and_writes_0600_in_a_0700_folder(tmp_path):
    home = tmp_path / "home"
    write_config(home, "# my studio\nport = 9000  # the usual one\nhost = \"127.0.0.1\"\n")
    os.chmod(home, 0o755)
    os.chmod(home / "config.toml", 0o644)
    old_umask = os.umask(0)
    try:
        assert set_in_config(home, "port", "9001") == 9001
        assert set_in_config(home, "tsa_required", "true") is True
    finally:
        os.umask(old_umask)
    text = (home / "config.toml").read_text()
    assert text.startswith("# my studio\nport = 9001") and 'host = "127.0.0.1"' in text
    assert "tsa_required = true" in text
    assert stat.S_IMODE(os.stat(home / "config.toml").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]
    assert load(home).port == 9001 and load(home).tsa_required is True


def test_set_validates_before_writing(tmp_path):
    home = tmp_path / "home"
    write_config(home, "port = 9000\n")
    with pytest.raises(SettingError, match="'port'"):
        set_in_config(home, "port", "ninety")
    with pytest.raises(SettingError, match="unknown setting 'prot'"):
        set_in_config(home, "prot", "1")
    assert (home / "config.toml").read_text() == "port = 9000\n"


def test_set_and_unset_can_repair_a_file_with_another_bad_key(tmp_path):
    home = tmp_path / "home"
    write_config(home, "prot = 9000\nport = \"x\"\n")
    assert unset_in_config(home, "prot") is True  # not a setting, but in the file: removable
    set_in_config(home, "port", "9000")
    assert load(home).port == 9000


def test_unset_of_a_name_that_is_neither_a_setting_nor_in_the_file_is_an_error(tmp_path):
    with pytest.raises(SettingError, match="unknown setting"):
        unset_in_config(tmp_path / "home", "nonsense")
    assert unset_in_config(tmp_path / "home", "port") is False
    assert not (tmp_path / "home" / "config.toml").exists()


# -- the real CLI ------------------------------------------------------------------------------------

def test_config_set_show_unset_round_trip(tmp_path):
    home = tmp_path / "home"
    assert run("config", "set", "port", "9001", "--home", home).exit_code == 0
    assert run("config", "set", "allowed_hosts", "a.example,b.example:8443", "--home", home).exit_code == 0
    shown = run("config", "show", "--json", "--home", home, env={"POCKETSTUDIO_WORKERS": "3"})
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["config_file"] == str(home.resolve() / "config.toml")
    rows = doc["settings"]
    assert rows["port"] == {"value": 9001, "source": "file", "env": "POCKETSTUDIO_PORT", "doc": rows["port"]["doc"]}
    assert rows["allowed_hosts"]["value"] == ["a.example", "b.example:8443"]
    assert (rows["workers"]["value"], rows["workers"]["source"]) == (3, "env")
    assert (rows["host"]["value"], rows["host"]["source"]) == ("127.0.0.1", "default")
    assert rows["tsa_url"]["value"] is None
    assert stat.S_IMODE(os.stat(home / "config.toml").st_mode) == 0o600
    human = run("config", "show", "--home", home)
    assert "9001" in human.stdout and "file" in human.stdout

    unset = run("config", "unset", "port", "--home", home)
    assert unset.exit_code == 0 and "default: 8000" in unset.stdout
    rows = json.loads(run("config", "show", "--json", "--home", home).stdout)["settings"]
    assert (rows["port"]["value"], rows["port"]["source"]) == (8000, "default")
    assert rows["allowed_hosts"]["source"] == "file"
    assert run("config", "path", "--home", home).stdout.strip() == str(home.resolve() / "config.toml")


def test_config_set_warns_when_the_environment_overrides_the_file(tmp_path):
    result = run("config", "set", "port", "9001", "--home", tmp_path / "home", env={"POCKETSTUDIO_PORT": "9100"})
    assert result.exit_code == 0 and "POCKETSTUDIO_PORT is set" in result.output


def test_config_set_of_a_bad_value_exits_1_and_names_the_key(tmp_path):
    result = run("config", "set", "compliance_profile", "mars", "--home", tmp_path / "home")
    assert result.exit_code == 1 and "'compliance_profile'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "home" / "config.toml").exists()


def test_config_show_json_stays_json_on_errors(tmp_path):
    home = tmp_path / "home"
    write_config(home, "port = \"x\"\n")
    result = run("config", "show", "--json", "--home", home)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "SettingError" and "'port'" in error["message"]
    write_config(home, "port = \n")
    assert "line 1" in json.loads(run("config", "show", "--json", "--home", home).stdout)["error"]["message"]
    result = run("config", "show", "--json", "--home", home / "nowhere", env={"POCKETSTUDIO_PORT": "x"})
    assert result.exit_code == 1 and "POCKETSTUDIO_PORT" in json.loads(result.stdout)["error"]["message"]


def _leaf_is_ed25519(home: Path) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ed25519

    leaf = x509.load_pem_x509_certificates((home / "keys" / "claim-signing.chain.pem").read_bytes())[0]
    return isinstance(leaf.public_key(), ed25519.Ed25519PublicKey)


def test_init_alg_precedence_through_the_cli(tmp_path):
    """signing_alg: default es256; config.toml ed25519; POCKETSTUDIO_SIGNING_ALG beats the file; --alg beats both."""
    homes = {name: tmp_path / name for name in ("default", "file", "env", "flag")}
    for name in ("file", "env", "flag"):
        write_config(homes[name], 'signing_alg = "ed25519"\n')
    env = {"POCKETSTUDIO_SIGNING_ALG": "es256"}
    assert run("init", "--home", homes["default"]).exit_code == 0
    assert run("init", "--home", homes["file"]).exit_code == 0
    assert run("init", "--home", homes["env"], env=env).exit_code == 0
    write_config(homes["flag"], 'signing_alg = "es256"\n')
    assert run("init", "--home", homes["flag"], "--alg", "ed25519", env=env).exit_code == 0
    assert {name: _leaf_is_ed25519(home) for name, home in homes.items()} == {
        "default": False, "file": True, "env": False, "flag": True}
    bad = run("init", "--home", tmp_path / "bad", "--alg", "rsa")
    assert bad.exit_code == 1 and "'signing_alg'" in bad.output and "rsa" in bad.output


def test_generate_takes_requester_purpose_and_size_from_flag_env_and_file(tmp_path, tiny_model_dir):
    home, out = tmp_path / "home", tmp_path / "pic.png"
    write_config(home, 'default_requester = "file-user"\ndefault_purpose = "file-purpose"\ndefault_size = 96\n')
    env = {"POCKETSTUDIO_DEFAULT_REQUESTER": "env-user", "POCKETSTUDIO_DEFAULT_PURPOSE": "env-purpose",
           "OMP_NUM_THREADS": "1"}
    result = run("generate", "a green star", "-o", out, "--model", tiny_model_dir, "--seed", "3",
                 "--requester", "flag-user", "--home", home, "--json", env=env)
    assert result.exit_code == 0, result.output
    released = json.loads(result.stdout)
    assert released["size"] == [96, 96]  # the file's default_size beats the default 512
    opened = json.loads(run("audit", "show", released["decision_id"], "--home", home).stdout)["opened"]
    assert (opened["requester"], opened["purpose"]) == ("flag-user", "env-purpose")


def test_verify_trust_adds_to_the_trust_anchor_files_setting(tmp_path):
    from PIL import Image

    home, image = tmp_path / "home", tmp_path / "plain.png"
    Image.new("RGB", (64, 64), "red").save(image)
    assert run("init", "--home", home).exit_code == 0
    run("config", "set", "trust_anchor_files", tmp_path / "from-setting.pem", "--home", home)
    # The setting's anchor is still read when --trust names another one (an unreadable one says so).
    kept = json.loads(run("verify", image, "--trust", home / "keys" / "root-ca.pem", "--home", home, "--json").stdout)
    assert "from-setting.pem" in kept["reason"]
    run("config", "set", "trust_anchor_files", home / "keys" / "root-ca.pem", "--home", home)
    added = json.loads(run("verify", image, "--trust", tmp_path / "from-flag.pem", "--home", home, "--json").stdout)
    assert "from-flag.pem" in added["reason"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, host: str, headers: dict | None = None) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_serve_takes_its_options_from_flag_env_and_file(tmp_path):
    """The installed command line, as an operator runs it: port from the environment over the file,
    max_bytes from the flag over both, max_pixels and allowed_hosts from the file, the operator
    token from POCKETSTUDIO_OPERATOR_TOKEN over the file's operator_token_file."""
    home, file_port, env_port = tmp_path / "home", _free_port(), _free_port()
    assert run("init", "--home", home).exit_code == 0
    (tmp_path / "token").write_text("file-token-0123456789")
    write_config(home, f'port = {file_port}\nmax_bytes = 1111\nmax_pixels = 3333\n'
                       f'allowed_hosts = ["verifier.example"]\noperator_token_file = "{tmp_path / "token"}"\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "POCKETSTUDIO_HOME": str(home), "POCKETSTUDIO_PORT": str(env_port),
           "POCKETSTUDIO_MAX_BYTES": "1500", "POCKETSTUDIO_OPERATOR_TOKEN": "env-token-0123456789"}
    proc = subprocess.Popen([sys.executable, "-c", "from pocketstudio.core.app.cli import main; main()", "serve",
                             "--max-bytes", "2222"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                status, body = _get(env_port, "/v1/limits", f"127.0.0.1:{env_port}")
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start listening"
                time.sleep(0.2)
        assert status == 200 and json.loads(body) == {"max_bytes": 2222, "max_pixels": 3333, "fetch_urls": False}
        assert _get(env_port, "/v1/limits", f"verifier.example:{env_port}")[0] == 200
        assert _get(env_port, "/v1/limits", f"other.example:{env_port}")[0] == 421
        proof = "/v1/audit/proof/dec_unknown"
        assert _get(env_port, proof, f"127.0.0.1:{env_port}", {"Authorization": "Bearer env-token-0123456789"})[0] == 404
        assert _get(env_port, proof, f"127.0.0.1:{env_port}", {"Authorization": "Bearer file-token-0123456789"})[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_a_bad_allowed_host_from_config_toml_before_starting(tmp_path):
    write_config(tmp_path / "home", 'allowed_hosts = ["bad host:x"]\n')
    result = run("serve", "--home", tmp_path / "home")
    assert result.exit_code == 1 and "allowed host 'bad host:x'" in result.output


def test_serve_reads_the_operator_token_file_named_in_config_toml(tmp_path):
    """A too-short token in the file the setting names is refused before serving: the file is read."""
    (tmp_path / "token").write_text("short")
    write_config(tmp_path / "home", f'operator_token_file = "{tmp_path / "token"}"\n')
    result = run("serve", "--home", tmp_path / "home", env={"POCKETSTUDIO_OPERATOR_TOKEN": ""})
    assert result.exit_code == 1 and "shorter than 16 characters" in result.output
