import pytest

from pocketstudio.core.base.errors import PolicyError
from pocketstudio.policy.engine import ConsentFacts, DepictedPerson, PolicyEngine, DEFAULT_POLICY_DIR

from .conftest import NOW

T = int(NOW.timestamp())


def grant(**kw):
    base = dict(grant_id="g1", grantee="alice", purposes=("general",), not_before=T - 3600, not_after=T + 3600, revoked=False)
    base.update(kw)
    return ConsentFacts(**base)


def decide(engine, persons, requester="alice", purpose="general"):
    return engine.evaluate(requester=requester, purpose=purpose, persons=persons, now=NOW, stage="pre")


@pytest.fixture(scope="module")
def engine():
    return PolicyEngine()


def test_default_set_validates_against_schema_and_allows_plain_generation(engine):
    d = decide(engine, [])
    assert d.allowed and d.rule_ids == ("generate.default-allow",)
    assert len(d.policy_set_hash) == 64


def test_registered_person_without_consent_is_denied_without_naming_them(engine):
    d = decide(engine, [DepictedPerson("person_abc")])
    assert not d.allowed
    assert d.rule_ids == ("likeness.no-consent",)
    assert "person_abc" not in d.reason


def test_valid_consent_allows_and_is_reported(engine):
    d = decide(engine, [DepictedPerson("person_abc", (grant(),))])
    assert d.allowed and "likeness.consent" in d.rule_ids and d.consent_grant_ids == ("g1",)


@pytest.mark.parametrize("bad", [
    dict(revoked=True), dict(grantee="bob"), dict(purposes=("advertising",)),
    dict(not_before=T + 10), dict(not_after=T - 10), dict(not_after=T),
], ids=["revoked", "other-grantee", "other-purpose", "not-yet-valid", "expired", "expires-now"])
def test_consent_that_does_not_fit_denies(engine, bad):
    assert not decide(engine, [DepictedPerson("p", (grant(**bad),))]).allowed


def test_wildcard_grantee_and_any_valid_grant_among_several(engine):
    assert decide(engine, [DepictedPerson("p", (grant(grantee="*"),))], requester="zoe").allowed
    d = decide(engine, [DepictedPerson("p", (grant(revoked=True, grant_id="old"), grant(grant_id="new")))])
    assert d.allowed and d.consent_grant_ids == ("new",)


def test_every_depicted_person_must_allow(engine):
    assert not decide(engine, [DepictedPerson("p1", (grant(),)), DepictedPerson("p2")]).allowed


def test_missing_requester_is_a_deny(engine):
    assert not engine.evaluate(requester="", purpose="general", persons=[], now=NOW, stage="pre").allowed


def _copy_defaults(tmp_path, extra: str = "", replace: str | None = None):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "schema.cedarschema").write_text((DEFAULT_POLICY_DIR / "schema.cedarschema").read_text())
    text = (DEFAULT_POLICY_DIR / "default.cedar").read_text() if replace is None else replace
    (folder / "default.cedar").write_text(text + extra)
    return folder


def test_forbid_hard_stop_wins_over_valid_consent(tmp_path):
    folder = _copy_defaults(tmp_path, '\n@id("hard-stop.advertising")\nforbid (principal, action, resource)\n'
                                      'when { context.purpose == "advertising" };\n')
    engine = PolicyEngine(folder)
    d = decide(engine, [DepictedPerson("p", (grant(purposes=("advertising",)),))], purpose="advertising")
    assert not d.allowed and "hard-stop.advertising" in d.rule_ids


def test_malformed_policy_is_a_typed_error(tmp_path):
    with pytest.raises(PolicyError, match="parse"):
        PolicyEngine(_copy_defaults(tmp_path, replace="permit (principal, action, resource) when { oops"))


def test_policy_violating_schema_is_refused(tmp_path):
    text = '@id("x")\npermit (principal, action == Action::"depict", resource) when { context.no_such_field };\n'
    with pytest.raises(PolicyError, match="schema"):
        PolicyEngine(_copy_defaults(tmp_path, replace=text))


def test_missing_folder_and_hash_tracks_content(tmp_path):
    with pytest.raises(PolicyError):
        PolicyEngine(tmp_path / "nope")
    changed = PolicyEngine(_copy_defaults(tmp_path, "\n// a comment changes the hash\n"))
    assert changed.policy_set_hash != PolicyEngine().policy_set_hash


def test_a_policy_that_errors_at_evaluation_denies(tmp_path):
    # Validates against the schema, but overflows at run time: Cedar would skip the erroring
    # forbid and allow; the engine must deny instead.
    folder = _copy_defaults(tmp_path, '\n@id("overflowing-stop")\nforbid (principal, action, resource)\n'
                                      'when { context.now + 9223372036854775807 > 0 };\n')
    d = decide(PolicyEngine(folder), [])
    assert not d.allowed and "error" in d.reason


def test_user_policies_extend_the_defaults(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "extra.cedar").write_text('@id("no-ads")\nforbid (principal, action, resource) when { context.purpose == "advertising" };\n')
    engine = PolicyEngine(folder, extend_defaults=True)
    assert decide(engine, []).allowed
    assert decide(engine, [], purpose="advertising").rule_ids == ("no-ads",)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match="no \\*.cedar"):
        PolicyEngine(tmp_path / "empty")


def test_decision_records_what_the_engine_saw(engine):
    d = decide(engine, [DepictedPerson("person_x", (grant(),))])
    assert [r["action"] for r in d.inputs] == ['Action::"generate"', 'Action::"depict"']
    assert d.inputs[1]["resource"] == {"type": "Person", "id": "person_x"}
