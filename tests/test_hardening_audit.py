"""Issue 17, items 2-5: the audit log tells the truth, survives truncation and row edits, and
publishes only what is public. Each test replays one attack on a real data directory."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pocketstudio.core.base.errors import AuditError, PolicyDenied, ReleaseBlocked
from pocketstudio.core.app.studio import GenerationRequest, Studio
from pocketstudio.policy.audit import (AMENDMENT, CONSENT, DECISION, NOT_PUBLISHED, PUBLIC_FIELDS, AuditLog,
                                       proven_amendments, verify_proof_bundle)
from pocketstudio.policy.checkpoint import Checkpoint
from pocketstudio.safety.registry import new_person_key

from .conftest import NOW


def request(prompt="a red circle on a blue background", **kw):
    return GenerationRequest(prompt=prompt, requester="alice", **kw)


def _sql(studio, *statements, params=None):
    with studio.store.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement, params or ())


def _released(studio, tmp_path, n=3):
    return [studio.generate(request(seed=i, size=128), tmp_path / f"r{i}.png", now=NOW) for i in range(n)]


# -- item 2: one decision leaf per decision; follow-ups are amendments --------------------------------

class _RacingGenerator:
    """The real tiny generator; while it runs, the attacker puts a directory where the file goes."""

    def __init__(self, inner, where):
        self.inner, self.where = inner, where

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, *args, **kw):
        out = self.inner.generate(*args, **kw)
        os.mkdir(self.where)
        return out


def test_attack_output_replaced_by_directory_during_generation_leaves_released_plus_not_published(
        settings, tiny_generator, tmp_path):
    out = tmp_path / "out.png"
    studio = Studio(settings, generator=_RacingGenerator(tiny_generator, out))
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(request(seed=1, size=128), out, now=NOW)
    assert blocked.value.step == "publish" and out.is_dir()
    decision_id = blocked.value.decision_id
    leaves = studio.audit.records()
    decisions = [r for r in leaves if r.kind == DECISION and r.decision_id == decision_id]
    amendments = [r for r in leaves if r.kind == AMENDMENT]
    assert [r.outcome for r in decisions] == ["released"]  # exactly one decision leaf, not lost
    assert [(a.record["amends"], a.record["event"]) for a in amendments] == [(decision_id, NOT_PUBLISHED)]
    assert "publish" in studio.audit.details(amendments[0])["reason"]
    assert studio.audit.verify()["records"] == len(leaves)
    # Recovery through the watermark would find the stored manifest: its audit check says the file
    # never left, from a proof bundle that carries the amendment.
    bundle = json.loads(json.dumps(studio.audit.prove(decision_id)))
    assert [a["event"] for a in proven_amendments(bundle, studio.audit.verifier)] == [NOT_PUBLISHED]
    from pocketstudio.provenance.verify import ManifestSummary, Verifier

    stored = studio.manifests.get(bundle_asset(studio, decision_id))
    assert stored is not None and stored.decision_id == decision_id  # the manifest a watermark would recover
    check = Verifier.open(studio.settings)._audit_check(
        ManifestSummary(decision_id=decision_id, audit_log_origin=studio.audit.origin), stored.asset_id, NOW)
    assert check.ok is False and "never published" in check.summary
    assert check.evidence["published"] is False


def test_attack_kept_checkpoint_unwritable_after_commit_publishes_nothing_and_amends(settings, tiny_generator,
                                                                                    tmp_path):
    """The release's leaves commit through the group commit, but no checkpoint can be kept outside
    the database (its lock file is a folder): nothing is published, the decision keeps exactly
    one leaf, and exactly one follow-up says the file never left."""
    studio = Studio(settings, generator=tiny_generator)
    lock = studio.audit.checkpoint_file.with_name(studio.audit.checkpoint_file.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.mkdir()
    out = tmp_path / "out.png"
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(request(seed=1, size=128), out, now=NOW)
    assert blocked.value.step == "witness" and not out.exists()
    assert list(tmp_path.glob("*.png")) == [] and list(tmp_path.glob(".*partial*")) == []
    lock.rmdir()
    again = Studio(settings, generator=tiny_generator)
    leaves = again.audit.records()
    decisions = [r for r in leaves if r.kind == DECISION]
    assert [(r.decision_id, r.outcome) for r in decisions] == [(blocked.value.decision_id, "released")]
    events = [(r.record["amends"], r.record["event"]) for r in leaves if r.kind == AMENDMENT]
    assert events == [(blocked.value.decision_id, NOT_PUBLISHED)]  # once: committed, so not spooled again
    assert again.audit.verify()["records"] == len(leaves)


def test_attack_kept_checkpoint_unwritable_still_denies_with_the_deny_logged_once(settings, tiny_generator, tmp_path):
    """A denied request whose leaf committed while no checkpoint could be kept is a denial (the
    deny is in the log), not "the deny could not be audited"."""
    from pocketstudio.safety.registry import Registry

    studio = Studio(settings, generator=tiny_generator)
    Registry(studio.store).register("Jane Example", ["Janey"])
    lock = studio.audit.checkpoint_file.with_name(studio.audit.checkpoint_file.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.mkdir()
    with pytest.raises(PolicyDenied) as denied:
        studio.generate(request("a portrait of jane EXAMPLE at the beach", size=128), tmp_path / "x.png", now=NOW)
    lock.rmdir()
    leaves = Studio(settings, generator=tiny_generator).audit.records()
    decisions = [(r.decision_id, r.outcome) for r in leaves if r.kind == DECISION]
    assert decisions == [(denied.value.decision.decision_id, "denied")]
    assert [r for r in leaves if r.kind == AMENDMENT] == []


def bundle_asset(studio, decision_id):
    return studio.audit.get(decision_id).asset_id


class _DatabaseGoneAudit(AuditLog):
    """The real log, whose database refuses every write (as when it is locked or the disk is full)."""

    broken = True

    def _append(self, conn, items):
        if self.broken:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return super()._append(conn, items)


class _FailingGenerator:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, *args, **kw):
        raise RuntimeError("GPU fell off the bus")


def test_attack_failure_while_recording_a_failure_still_leaves_a_signed_trace(settings, tiny_generator):
    plain = Studio(settings, generator=tiny_generator)
    audit = _DatabaseGoneAudit(plain.store, plain.keys.audit_signer(), checkpoint_file=settings.audit_checkpoint_file)
    studio = Studio(settings, generator=_FailingGenerator(tiny_generator), audit=audit)
    with pytest.raises(ReleaseBlocked) as blocked:
        studio.generate(request(seed=1, size=128), now=NOW)
    assert "audit-spool" in blocked.value.reason and "GPU fell off the bus" in blocked.value.reason
    assert studio.audit.size() == 0
    with pytest.raises(AuditError, match="wait in"):
        plain.audit.verify()  # a pending trace is not "intact"
    # A tampered spool line is refused, not appended.
    spool = settings.audit_checkpoint_file.with_name("audit-spool.jsonl")
    assert spool.stat().st_mode & 0o777 == 0o600
    # The next start appends the spooled failure as the decision's one leaf.
    audit.broken = False
    reopened = Studio(settings, generator=tiny_generator)
    record = reopened.audit.get(blocked.value.decision_id)
    assert record.kind == DECISION and record.outcome == "failed:generate"
    assert "GPU fell off the bus" in reopened.audit.details(record)["failure"]
    assert reopened.audit.verify()["records"] == 1
    assert not spool.exists()


def test_attack_forged_spool_line_is_refused(settings, tiny_generator):
    studio = Studio(settings, generator=tiny_generator)
    spool = settings.audit_checkpoint_file.with_name("audit-spool.jsonl")
    spool.write_text(json.dumps({"entry": json.dumps({"public": {"kind": "decision"}, "private": {}}),
                                 "signature": base64.b64encode(b"\0" * 64).decode()}) + "\n")
    with pytest.raises(AuditError, match="not a spooled record signed by this log"):
        studio.audit.replay_spool()


# -- item 3: truncation is detected -----------------------------------------------------------------

def _truncate(studio, keep: int):
    _sql(studio, f"DELETE FROM audit_log WHERE leaf_index >= {keep}",
         f"DELETE FROM merkle_nodes WHERE (idx + 1) * (1 << level) > {keep}",
         f"DELETE FROM checkpoints WHERE size > {keep}",
         "DELETE FROM audit_openings WHERE entry_id NOT IN (SELECT entry_id FROM audit_log)")


def test_attack_truncate_tail_with_its_nodes_and_checkpoints_is_detected(studio, tmp_path):
    releases = _released(studio, tmp_path, 3)
    studio.audit.checkpoint(NOW)
    assert studio.audit.verify()["kept_checkpoint"] == 3
    _truncate(studio, 2)
    _sql(studio, f"DELETE FROM fingerprints WHERE asset_id = '{releases[2].asset_id}'",
         f"DELETE FROM manifests WHERE asset_id = '{releases[2].asset_id}'")
    with pytest.raises(AuditError, match="log truncated: the checkpoint kept in .* covers 3 leaves, the log now holds 2"):
        studio.audit.verify()


def test_attack_delete_every_checkpoint_and_the_tail_is_detected(studio, tmp_path):
    _released(studio, tmp_path, 3)
    studio.audit.checkpoint(NOW)
    _sql(studio, "DELETE FROM checkpoints")
    assert studio.audit.verify()["checkpoints"] == 0  # deleting checkpoints alone loses nothing
    _truncate(studio, 1)
    _sql(studio, "DELETE FROM fingerprints", "DELETE FROM manifests")
    result = CliRunner().invoke(_cli(), ["audit", "verify", "--home", str(studio.settings.home)])
    assert result.exit_code == 1 and "log truncated" in result.output


def test_attack_rewritten_log_is_inconsistent_with_a_checkpoint_a_verifier_saved(studio, tmp_path):
    _released(studio, tmp_path, 2)
    saved = tmp_path / "saved-checkpoint.txt"
    saved.write_text(studio.audit.current_checkpoint()[1])
    # The operator rebuilds the log from scratch, with the same key, and drops the kept file.
    _sql(studio, "DELETE FROM audit_log", "DELETE FROM merkle_nodes", "DELETE FROM checkpoints",
         "DELETE FROM audit_openings", "DELETE FROM fingerprints", "DELETE FROM manifests")
    studio.settings.audit_checkpoint_file.unlink()
    (tmp_path / "again").mkdir()
    _released(studio, tmp_path / "again", 3)
    assert studio.audit.verify()["records"] == 3  # self-consistent…
    runner = CliRunner()
    result = runner.invoke(_cli(), ["audit", "verify", "--checkpoint", str(saved), "--home", str(studio.settings.home)])
    assert result.exit_code == 1 and "inconsistent with the log (rewritten)" in result.output  # …but not the log we saw


def test_attack_stored_manifest_without_its_decision_leaf_is_named(studio, tmp_path):
    [release] = _released(studio, tmp_path, 1)
    _sql(studio, "UPDATE manifests SET decision_id = 'forged-decision' WHERE asset_id = ?", params=(release.asset_id,))
    with pytest.raises(AuditError, match=f"manifest of asset {release.asset_id} has no decision leaf"):
        studio.audit.verify()


def test_kept_checkpoint_only_moves_forward_and_is_private(studio, tmp_path):
    _released(studio, tmp_path, 2)
    path = studio.settings.audit_checkpoint_file
    assert path.stat().st_mode & 0o777 == 0o600
    kept = Checkpoint.verify(path.read_text(), studio.audit.verifier, studio.audit.origin)
    assert kept.size == studio.audit.size()
    older = Checkpoint(studio.audit.origin, 1, studio.audit.root(1)).sign(studio.audit.signer)
    path.write_text(older)
    assert studio.audit.witness().size == 2  # the next witness restores the newest


# -- item 4: consent history cannot be rewritten by editing a row -----------------------------------

@pytest.fixture
def jane(studio):
    key, public = new_person_key()
    person = studio.likeness.registry.register("Jane Example", ["Janey"], public_key=public, now=NOW)
    grant = studio.consent.grant(person.person_id, key, grantee="alice", purposes=["general"],
                                 not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=1), now=NOW)
    return person, key, grant


def test_consent_events_are_signed_leaves(studio, jane):
    person, _, grant = jane
    events = [r.record for r in studio.audit.records(kind=CONSENT)]
    assert [e["event"] for e in events] == ["history-start", "enrol", "grant"]
    assert events[2]["grant_id"] == grant.grant_id and events[1]["person_id"] == person.person_id
    assert "Jane" not in json.dumps(events)  # names never enter the log
    studio.consent.revoke(grant.grant_id, NOW)
    assert studio.audit.records(kind=CONSENT)[-1].record["event"] == "revoke"
    assert studio.audit.verify()["records"] == 4


def test_attack_revocation_undone_by_editing_the_row_does_not_resurrect_the_grant(studio, jane, tmp_path):
    person, _, grant = jane
    assert studio.generate(request("Janey waving", seed=1, size=128), tmp_path / "ok.png", now=NOW)
    studio.consent.revoke(grant.grant_id, NOW)
    _sql(studio, "UPDATE consent_grants SET revoked_at = NULL")
    with pytest.raises(PolicyDenied):
        studio.generate(request("Janey waving", seed=1, size=128), tmp_path / "again.png", now=NOW)
    with pytest.raises(AuditError, match=f"grant {grant.grant_id}: revocation undone"):
        studio.audit.verify()


def test_attack_swapped_person_key_and_self_signed_grant_are_unusable(studio, jane, tmp_path):
    from pocketstudio.safety.consent import grant_payload

    person, _, _ = jane
    attacker, attacker_public = new_person_key()
    _sql(studio, "UPDATE persons SET public_key = ? WHERE person_id = ?", params=(attacker_public, person.person_id))
    gid = "grant_" + "ab" * 8
    nb, na = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30)
    signature = base64.b64encode(attacker.sign(grant_payload(gid, person.person_id, "mallory", ["general"], nb, na))).decode()
    _sql(studio, "INSERT INTO consent_grants VALUES (?, ?, 'mallory', '[\"general\"]', ?, ?, ?, ?, NULL)",
         params=(gid, person.person_id, nb.isoformat(), na.isoformat(), signature, NOW.isoformat()))
    with pytest.raises(PolicyDenied):
        studio.generate(GenerationRequest(prompt="Janey waving", requester="mallory", size=128), tmp_path / "x.png",
                        now=NOW)
    with pytest.raises(AuditError) as broken:
        studio.audit.verify()
    assert f"person {person.person_id}: names, key or face templates differ" in str(broken.value)
    assert f"grant {gid}: not in the signed history (inserted)" in str(broken.value)


def test_attack_alias_deleted_from_the_registry_row_is_named(studio, jane):
    person, _, _ = jane
    _sql(studio, "UPDATE persons SET aliases = '[]' WHERE person_id = ?", params=(person.person_id,))
    with pytest.raises(AuditError, match=f"person {person.person_id}: names, key or face templates differ"):
        studio.audit.verify()


def test_rows_of_an_earlier_release_are_adopted_once(settings, tiny_generator, tmp_path):
    from pocketstudio.safety.registry import Registry

    studio = Studio(settings, generator=tiny_generator)
    key, public = new_person_key()
    Registry(studio.store).register("Old Person", public_key=public)  # written without the log, as before
    assert studio.audit.records(kind=CONSENT) == []
    reopened = Studio(settings, generator=tiny_generator)
    assert [r.record["event"] for r in reopened.audit.records(kind=CONSENT)] == ["enrol", "history-start"]
    assert reopened.audit.verify()["records"] == 2
    Studio(settings, generator=tiny_generator)  # no second adoption
    assert len(reopened.audit.records(kind=CONSENT)) == 2


# -- item 5: public records, proofs only for released decisions --------------------------------------

def _cli():
    from pocketstudio.core.app.cli import app

    return app


def _client(studio, token=None):
    from pocketstudio.core.app.server import create_app

    return TestClient(create_app(studio.settings, operator_token=token), base_url="http://127.0.0.1")


def test_public_decision_leaf_holds_only_public_fields_and_commitments(studio, jane, tmp_path):
    release = studio.generate(request("Janey waving, a secret prompt", seed=1, size=128), tmp_path / "p.png", now=NOW)
    record = studio.audit.get(release.decision.decision_id).record
    assert set(record) == set(PUBLIC_FIELDS) | {"commitments"}
    text = json.dumps(record)
    for private in ("secret prompt", "alice", "general", jane[0].person_id, jane[2].grant_id, "distance"):
        assert private not in text
    assert {"prompt", "requester", "purpose", "reason", "findings", "consent_grant_ids"} <= set(record["commitments"])


def test_attack_proof_by_sequence_number_or_of_a_denial_is_refused_without_the_operator_token(studio, jane, tmp_path):
    release = studio.generate(request(seed=3, size=128), tmp_path / "a.png", now=NOW)
    with pytest.raises(PolicyDenied) as denied:
        studio.generate(GenerationRequest(prompt="Janey waving", requester="bob", size=128), tmp_path / "d.png", now=NOW)
    deny_id = denied.value.decision.decision_id
    client = _client(studio, token="operator-token-0123456789")
    for ref in ("0", "1", "2", "3", deny_id, release.asset_id, deny_id[:10]):
        answer = client.get(f"/v1/audit/proof/{ref}")
        assert answer.status_code == 404, ref
        assert "purpose" not in answer.text and "distance" not in answer.text
    public = client.get(f"/v1/audit/proof/{release.decision.decision_id}")
    assert public.status_code == 200
    assert verify_proof_bundle(public.json(), studio.audit.verifier)["asset_id"] == release.asset_id
    assert client.get(f"/v1/audit/proof/{deny_id}", headers={"Authorization": "Bearer wrong"}).status_code == 401
    operator = client.get(f"/v1/audit/proof/{deny_id}", headers={"Authorization": "Bearer operator-token-0123456789"})
    assert operator.status_code == 200 and verify_proof_bundle(operator.json(), studio.audit.verifier)["effect"] == "deny"


def test_attack_legacy_record_is_served_to_the_operator_only_and_verifies_as_not_available(studio, tmp_path):
    release = studio.generate(request(seed=4, size=128), tmp_path / "a.png", now=NOW)
    # Re-sign the leaf in the earlier format (details in clear), as a data directory of the last
    # release holds it, and rebuild the tree over it.
    leaf = studio.audit.get(release.decision.decision_id)
    legacy = {k: v for k, v in leaf.record.items() if k not in ("commitments", "kind", "index")}
    legacy.update(v=1, seq=leaf.index + 1, purpose="general", reason="allowed", findings=[])
    _resign(studio, leaf.index, legacy)
    assert studio.audit.verify()["records"] == studio.audit.size()
    client = _client(studio, token="operator-token-0123456789")
    refused = client.get(f"/v1/audit/proof/{release.decision.decision_id}")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator-only"
    assert client.get(f"/v1/audit/proof/{release.decision.decision_id}",
                      headers={"Authorization": "Bearer operator-token-0123456789"}).status_code == 200


def _resign(studio, index, record):
    from pocketstudio.policy import merkle
    from pocketstudio.policy.audit import RECORD_SIG_CONTEXT, canonical

    body = canonical(record)
    signature = base64.b64encode(studio.audit.signer.private_key.sign(RECORD_SIG_CONTEXT + body)).decode()
    with studio.store.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET record = ?, signature = ?, leaf_hash = ? WHERE leaf_index = ?",
                             (body.decode(), signature, merkle.hash_leaf(body), index))
        hashes = [r[0] for r in conn.exec_driver_sql("SELECT leaf_hash FROM audit_log ORDER BY leaf_index")]
        tree = merkle.MemoryTree()
        for h in hashes:
            tree.append_leaf_hash(h)
        conn.exec_driver_sql("DELETE FROM merkle_nodes")
        conn.exec_driver_sql("DELETE FROM checkpoints")
        for level, nodes in enumerate(tree.levels):
            for i, h in enumerate(nodes):
                conn.exec_driver_sql("INSERT INTO merkle_nodes VALUES (?, ?, ?)", (level, i, h))
    studio.settings.audit_checkpoint_file.unlink()
    studio.audit.witness()
