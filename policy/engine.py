"""The policy engine: Cedar (cedarpy) over findings and consent grants, fail-closed.

One ``generate`` request per generation and one ``depict`` request per depicted registered
person (per grant on file); every one must allow. Any engine error, schema violation or missing
input is a deny with a reason — never an allow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cedarpy

from pocketstudio.core.base.errors import PolicyError

DEFAULT_POLICY_DIR = Path(__file__).parent / "policies"
SCHEMA_FILE = "schema.cedarschema"


@dataclass(frozen=True)
class ConsentFacts:
    """A consent grant as the policy sees it (times as Unix seconds)."""

    grant_id: str
    grantee: str
    purposes: tuple[str, ...]
    not_before: int
    not_after: int
    revoked: bool


@dataclass(frozen=True)
class DepictedPerson:
    """A registered person a check found (by prompt or face), with the grants on file for them."""

    person_id: str
    grants: tuple[ConsentFacts, ...] = ()
    # "unmatchable": only a face whose eyes cannot be seen was found (it might be anyone with a
    # face on file); Cedar sees it as context.band, so the policy decides. Otherwise not sent.
    band: str = "match"


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy evaluation: a value, audited whether it allows or denies."""

    decision_id: str
    effect: str  # "allow" | "deny"
    rule_ids: tuple[str, ...]
    reason: str
    policy_set_hash: str
    stage: str
    decided_at: str
    consent_grant_ids: tuple[str, ...] = field(default_factory=tuple)
    persons_checked: int = 0
    # The requests the engine evaluated (opaque ids only); the audit log stores a salted
    # commitment to them, never the clear values.
    inputs: tuple = field(default_factory=tuple, compare=False)
    # What the requester must not see (which grants on file were tried and why none allowed):
    # for the operator, in the audit log's openings only, never in a public field.
    operator_notes: tuple[str, ...] = field(default_factory=tuple, compare=False)

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


def new_decision_id() -> str:
    return uuid.uuid4().hex


class PolicyEngine:
    """A loaded, schema-validated policy set."""

    def __init__(self, policy_dir: str | Path | None = None, extend_defaults: bool = False):
        folders = [DEFAULT_POLICY_DIR] if policy_dir is None else ([DEFAULT_POLICY_DIR] if extend_defaults else []) + [Path(policy_dir)]
        texts: list[tuple[str, str]] = []
        schema_text = None
        for folder in folders:
            if not folder.is_dir():
                raise PolicyError(f"policy folder {folder} does not exist")
            for path in sorted(folder.glob("*.cedar")):
                texts.append((f"{folder.name}/{path.name}", path.read_text(encoding="utf-8")))
            if (folder / SCHEMA_FILE).exists():
                schema_text = (folder / SCHEMA_FILE).read_text(encoding="utf-8")
        if not texts:
            raise PolicyError(f"no *.cedar policies in {', '.join(map(str, folders))}")
        if schema_text is None:
            schema_text = (DEFAULT_POLICY_DIR / SCHEMA_FILE).read_text(encoding="utf-8")
        self.policies = "\n".join(text for _, text in texts)
        self.schema_text = schema_text
        try:
            self._schema = cedarpy.Schema.from_str(schema_text) if hasattr(cedarpy, "Schema") else schema_text
            result = cedarpy.validate_policies(self.policies, self._schema)
        except Exception as exc:
            raise PolicyError(f"policy set or schema does not parse: {exc}") from exc
        if not result.validation_passed:
            errors = "; ".join(str(e) for e in result.errors)
            raise PolicyError(f"policy set fails schema validation: {errors}")
        ids = [i for i in _id_annotations(self.policies)]
        if len(ids) != len(set(ids)):
            raise PolicyError("two policies share an @id")
        self._policy_set = cedarpy.PolicySet.from_str(self.policies) if hasattr(cedarpy, "PolicySet") else self.policies
        digest = hashlib.sha256()
        for name, text in texts + [(SCHEMA_FILE, schema_text)]:
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        self.policy_set_hash = digest.hexdigest()

    def _ask(self, request: dict) -> tuple[bool, list[str], list[str]]:
        try:
            result = cedarpy.is_authorized(request, self._policy_set, [], schema=self._schema)
            reasons = result.diagnostics.reasons
            by_reason = result.diagnostics.id_annotations_by_reason if hasattr(result.diagnostics, "id_annotations_by_reason") else {}
            # Sorted: Cedar reports them in no fixed order, and the same decision must read the same.
            rule_ids = sorted(by_reason.get(r, r) for r in reasons)
            errors = list(result.diagnostics.errors)
            # Cedar skips a policy whose evaluation errors, which would let an erroring `forbid`
            # fall silent: any evaluation error is a deny here.
            return result.allowed and not errors, rule_ids, errors
        except Exception as exc:  # any engine failure is a deny
            return False, [], [f"policy engine error: {exc}"]

    def evaluate(self, *, requester: str, purpose: str, persons: Iterable[DepictedPerson],
                 now: dt.datetime, stage: str, decision_id: str | None = None) -> Decision:
        """Decide a generation at ``stage`` ("pre" or "post"): allow only if every request allows."""
        if not requester or not purpose:
            return self._decision("deny", (), "missing requester or purpose", stage, now, decision_id)
        decision_id = decision_id or new_decision_id()
        base = {"requester": requester, "purpose": purpose, "now": int(now.timestamp()), "stage": stage}
        principal = {"type": "User", "id": requester}
        asked: list[dict] = []

        def ask(request: dict):
            asked.append(request)
            return self._ask(request)

        allowed, rules, errors = ask({
            "principal": principal, "action": 'Action::"generate"',
            "resource": {"type": "Generation", "id": decision_id}, "context": base})
        all_rules = list(rules)
        if not allowed:
            return self._decision("deny", all_rules, "; ".join(errors) or "generation not permitted", stage, now,
                                  decision_id, inputs=asked)
        used_grants: list[str] = []
        persons = list(persons)
        notes: list[str] = []
        for person in persons:
            ok, rules, grant_id, errors = self._depict(ask, principal, base, person, notes)
            all_rules += rules
            if not ok:
                # No identification oracle: the reason never says whose likeness it was, nor
                # (see _depict) whether they consented to anyone else.
                reason = "a registered likeness without valid consent was found"
                if errors:
                    reason += " (policy evaluation error: denied)"
                return self._decision("deny", rules or ["default-deny"], reason, stage, now,
                                      decision_id, persons_checked=len(persons), inputs=asked, notes=notes)
            if grant_id is not None:
                used_grants.append(grant_id)
        return self._decision("allow", all_rules, "all checks allowed", stage, now, decision_id,
                              tuple(used_grants), len(persons), inputs=asked, notes=notes)

    def _depict(self, ask, principal: dict, base: dict, person: DepictedPerson,
                notes: list[str]) -> tuple[bool, list[str], str | None, list[str]]:
        """May the requester depict ``person``? Allowed by the first grant on file that the policy
        allows; failing that, decided as if no grant were on file.

        A grant that does not allow counts as no grant, so that a deny tells the requester nothing
        about the grants on file: registered without consent, consent for someone else, for another
        purpose, expired, not yet valid or revoked all give the rule ids and reason of the request
        without consent. Which grants were tried and what they met is the operator's (``notes``;
        the evaluated requests are in ``inputs``). Returns (allowed, rule ids, grant used, errors)."""

        def request(grant: ConsentFacts | None) -> dict:
            context = dict(base)
            if person.band == "unmatchable":
                context["band"] = person.band
            if grant is not None:
                context["consent"] = {
                    "grant_id": grant.grant_id, "grantee": grant.grantee, "purposes": list(grant.purposes),
                    "not_before": grant.not_before, "not_after": grant.not_after, "revoked": grant.revoked}
            return {"principal": principal, "action": 'Action::"depict"',
                    "resource": {"type": "Person", "id": person.person_id}, "context": context}

        for grant in person.grants:
            ok, rules, errors = ask(request(grant))
            if ok:
                return True, rules, grant.grant_id, []
            notes.append(f"grant {grant.grant_id} of {person.person_id} does not allow: "
                         f"{', '.join(rules) or 'no permit applies'}{'; errors: ' + '; '.join(errors) if errors else ''}")
        ok, rules, errors = ask(request(None))
        return ok, rules, None, errors

    def _decision(self, effect, rule_ids, reason, stage, now, decision_id, grants=(), persons_checked=0,
                  inputs=(), notes=()) -> Decision:
        return Decision(
            decision_id=decision_id or new_decision_id(), effect=effect,
            rule_ids=tuple(dict.fromkeys(rule_ids)), reason=reason, policy_set_hash=self.policy_set_hash,
            stage=stage, decided_at=now.astimezone(dt.timezone.utc).isoformat(),
            consent_grant_ids=tuple(grants), persons_checked=persons_checked, inputs=tuple(inputs),
            operator_notes=tuple(notes))


def _id_annotations(policies: str) -> list[str]:
    import re

    return re.findall(r'@id\("([^"]+)"\)', policies)
