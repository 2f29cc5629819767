"""Generation in the service through the official ``openai`` client (issue 22): the OpenAI Images API
answers with the signed, watermarked release; tokens bind requesters; the queue is bounded."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import threading
import time

import httpx
import openai
import pytest

from pocketstudio.core.app.openai_api import GenerationService
from pocketstudio.core.app.server import create_app
from pocketstudio.core.app.tokens import TOKENS_FILE, TokenBook
from pocketstudio.provenance.verify import Status, Verifier
from pocketstudio.safety.registry import Registry

PROMPT = "a red circle on a blue background"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_generator):
    """A real uvicorn serving create_app with the tiny model; two requesters' tokens."""
    import uvicorn

    from pocketstudio.core.base.config import Settings

    settings = Settings.load(tmp_path_factory.mktemp("svc") / "home")
    generation = GenerationService(settings, generator=tiny_generator, max_queue=0)
    app = create_app(settings, generation=generation, operator_token="operator-token-0123456789")
    book = TokenBook(settings)
    alice, _ = book.create("alice")
    bob, _ = book.create("bob")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    yield {"url": url, "settings": settings, "generation": generation, "alice": alice, "bob": bob,
           "client": openai.OpenAI(base_url=url + "/v1", api_key=alice, max_retries=0)}
    server.should_exit = True
    thread.join(timeout=10)


def _audit(served):
    return served["generation"].studio.audit


def test_openai_client_gets_the_signed_release(served):
    answer = served["client"].images.generate(prompt=PROMPT, size="128x128", response_format="b64_json",
                                              user="end-user-42", extra_body={"seed": 7, "steps": 2})
    assert len(answer.data) == 1 and answer.size == "128x128"
    data = base64.b64decode(answer.data[0].b64_json)
    verdict = Verifier.open(served["settings"]).verify(data)
    assert verdict.status is Status.TRUSTED
    info = answer.data[0].model_extra["pocketstudio"]
    assert verdict.asset_id == info["asset_id"] and info["seed"] == "7" and info["steps"] == 2
    record = _audit(served).get(info["decision_id"])
    details = _audit(served).details(record)
    # the requester is the token's; `user` is only committed
    assert record.outcome == "released" and details["requester"] == "alice"
    assert details["client"] == {"user": "end-user-42"} and "end-user-42" not in json.dumps(record.record)


def test_url_answer_serves_the_same_signed_bytes(served):
    answer = served["client"].images.generate(prompt=PROMPT, size="128x128", response_format="url", n=2,
                                              extra_body={"seed": 3})
    assert len(answer.data) == 2
    bodies = [httpx.get(item.url).content for item in answer.data]
    assert bodies[0] != bodies[1]
    for body in bodies:
        assert Verifier.open(served["settings"]).verify(body).status is Status.TRUSTED


def test_models_lists_the_service_model(served):
    assert [m.id for m in served["client"].models.list().data] == ["pocketstudio"]


def test_attack_generation_without_a_token_is_refused(served):
    client = openai.OpenAI(base_url=served["url"] + "/v1", api_key="psk-not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(prompt=PROMPT, size="128x128")
    assert httpx.post(served["url"] + "/v1/images/generations", json={"prompt": PROMPT}).status_code == 401


def test_attack_operator_token_does_not_generate(served):
    client = openai.OpenAI(base_url=served["url"] + "/v1", api_key="operator-token-0123456789", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(prompt=PROMPT, size="128x128")


def test_attack_generation_token_does_not_unlock_audit_proofs(served):
    """A denied decision's proof is the operator's only; a generation token is not the operator's."""
    Registry(_audit(served).store).register("Jane Example", ["Janey"])
    client = served["client"]
    with pytest.raises(openai.BadRequestError) as denied:
        client.images.generate(prompt="a portrait of Jane Example", size="128x128")
    assert denied.value.code == "content_policy_violation"
    decision_id = denied.value.body["pocketstudio"]["decision_id"]
    assert _audit(served).get(decision_id).outcome == "denied"
    proof = served["url"] + f"/v1/audit/proof/{decision_id}"
    assert httpx.get(proof, headers={"Authorization": f"Bearer {served['alice']}"}).status_code == 401
    assert httpx.get(proof).status_code == 404  # not public
    operator = httpx.get(proof, headers={"Authorization": "Bearer operator-token-0123456789"})
    assert operator.status_code not in (401, 404), operator.text


def test_attack_token_cannot_choose_its_requester(served):
    """Neither the requester header nor `user` makes bob's token generate as alice."""
    refused = httpx.post(served["url"] + "/v1/images/generations", json={"prompt": PROMPT, "size": "128x128"},
                         headers={"Authorization": f"Bearer {served['bob']}", "Pocketstudio-Requester": "alice"})
    assert refused.status_code == 400
    client = openai.OpenAI(base_url=served["url"] + "/v1", api_key=served["bob"], max_retries=0)
    answer = client.images.generate(prompt=PROMPT, size="128x128", user="alice", extra_body={"purpose": "alice"})
    record = _audit(served).get(answer.data[0].model_extra["pocketstudio"]["decision_id"])
    assert _audit(served).details(record)["requester"] == "bob"


def test_full_queue_answers_429(served):
    generation = served["generation"]
    assert generation._slots.acquire(blocking=False)  # a generation running, max_queue=0: no room to wait
    try:
        with pytest.raises(openai.RateLimitError):
            served["client"].images.generate(prompt=PROMPT, size="128x128")
    finally:
        generation._slots.release()


def test_publish_failed_appends_a_not_published_amendment(served):
    answer = served["client"].images.generate(prompt=PROMPT, size="128x128")
    decision_id = answer.data[0].model_extra["pocketstudio"]["decision_id"]
    route = served["url"] + f"/v1/releases/{decision_id}/publish-failed"
    other = httpx.post(route, json={"reason": "disk full"}, headers={"Authorization": f"Bearer {served['bob']}"})
    assert other.status_code == 404  # only the requester it was released to
    ok = httpx.post(route, json={"reason": "disk full"}, headers={"Authorization": f"Bearer {served['alice']}"})
    assert ok.status_code == 200, ok.text
    [amendment] = _audit(served).amendments(decision_id)
    assert amendment.record["event"] == "not-published"


def test_bad_requests_name_the_parameter(served):
    client = served["client"]
    for kwargs, param in (({"size": "huge"}, "size"), ({"n": 9}, "n"), ({"model": "dall-e-3"}, "model"),
                          ({"extra_body": {"steps": "four"}}, "steps")):
        with pytest.raises(openai.BadRequestError) as bad:
            client.images.generate(prompt=PROMPT, **kwargs)
        assert bad.value.param == param


def test_tokens_are_stored_hashed_and_private(served):
    path = served["settings"].home / TOKENS_FILE
    text = path.read_text()
    assert served["alice"] not in text and served["bob"] not in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_token_create_binds_a_new_token_to_its_requester(settings):
    from typer.testing import CliRunner

    from pocketstudio.core.app.cli import app

    made = CliRunner().invoke(app, ["token", "create", "--requester", "carol", "--json", "--home", str(settings.home)])
    assert made.exit_code == 0, made.output
    token = json.loads(made.stdout)["token"]
    book = TokenBook(settings)
    assert book.requester_of(f"Bearer {token}") == "carol" and book.requester_of(f"Bearer {token}x") is None
    listed = CliRunner().invoke(app, ["token", "list", "--json", "--home", str(settings.home)])
    [row] = json.loads(listed.stdout)
    assert row["requester"] == "carol" and token not in listed.stdout
    assert CliRunner().invoke(app, ["token", "revoke", row["token_id"], "--home", str(settings.home)]).exit_code == 0
    assert TokenBook(settings).requester_of(f"Bearer {token}") is None


@pytest.fixture
def service_file(served):
    from pocketstudio.core.app.local_service import remove_service_file, write_service_file

    port = int(served["url"].rsplit(":", 1)[1])
    write_service_file(served["settings"], "127.0.0.1", port, served["generation"].local_token)
    yield
    remove_service_file(served["settings"], served["generation"].local_token)


def _cli(*args):
    from typer.testing import CliRunner

    from pocketstudio.core.app.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cli_generate_goes_through_the_running_service(served, service_file, tmp_path):
    out = tmp_path / "via.png"
    done = _cli("generate", PROMPT, "-o", out, "--size", "128", "--seed", "5", "--requester", "dave", "--json",
                "--home", served["settings"].home)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["via_service"] == served["url"] and result["path"] == str(out) and result["seed"] == "5"
    assert Verifier.open(served["settings"]).verify(out.read_bytes()).status is Status.TRUSTED
    record = _audit(served).get(result["decision_id"])
    assert _audit(served).details(record)["requester"] == "dave"  # the local token names the CLI's requester


def test_attack_output_refused_before_the_service_generates(served, service_file, tmp_path):
    """The CLI checks -o as in-process does, before asking the service: nothing is generated."""
    size = _audit(served).size()
    os.mkfifo(tmp_path / "fifo.png")
    done = _cli("generate", PROMPT, "-o", tmp_path / "fifo.png", "--size", "128", "--home", served["settings"].home)
    assert done.exit_code == 1 and "FIFO" in done.output
    assert _audit(served).size() == size


def test_attack_file_appearing_during_a_service_generation_is_kept_and_audited(served, service_file, tmp_path):
    """A file created at -o while the service generates is not replaced; the service's log gets
    a not-published amendment for the decision, reported by the CLI."""
    out = tmp_path / "raced.png"
    studio = served["generation"].studio
    studio.on_step = lambda name: out.write_bytes(b"someone else's") if name == "sign" else None
    try:
        done = _cli("generate", PROMPT, "-o", out, "--size", "128", "--json", "--home", served["settings"].home)
    finally:
        studio.on_step = None
    assert done.exit_code == 1 and out.read_bytes() == b"someone else's"
    failed = json.loads(done.stdout)
    assert failed["released"] is False and failed["step"] == "publish"
    [amendment] = _audit(served).amendments(failed["decision_id"])
    assert amendment.record["event"] == "not-published"


def test_no_service_file_of_a_dead_process_is_used(settings):
    from pocketstudio.core.app.local_service import find_service, service_file

    settings.ensure_home()
    service_file(settings).write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 12345, "token": "x"}))
    assert find_service(settings) is None
