"""The verifier on files made by other tools (C2PA public test files; see tests/data/c2pa/NOTICE.md).

Expected outcomes follow the file names and what the reference reader (c2pa-rs) reports; none of
the signers is on our trust list, so a valid file is "valid-untrusted-signer", never "trusted".
"""

from pathlib import Path

import pytest

from pocketstudio.core.base.store import Store
from pocketstudio.provenance.keys import KeyStore
from pocketstudio.provenance.resolution import ManifestRepository
from pocketstudio.provenance.verify import Status, UnsafeSkipAudit, Verifier
from pocketstudio.provenance.watermark import all_detectors

DATA = Path(__file__).parent / "data" / "c2pa"

EXPECTED = {
    "adobe-20220124-A.jpg": (Status.NO_PROVENANCE, None),
    "adobe-20220124-C.jpg": (Status.VALID_UNTRUSTED, "signingCredential.untrusted"),
    "adobe-20220124-CA.jpg": (Status.VALID_UNTRUSTED, "signingCredential.untrusted"),
    "adobe-20220124-E-dat-CA.jpg": (Status.TAMPERED, "assertion.dataHash.mismatch"),
    "adobe-20220124-XCA.jpg": (Status.TAMPERED, "assertion.dataHash.mismatch"),
    "adobe-20220124-E-sig-CA.jpg": (Status.TAMPERED, "claimSignature.mismatch"),
    "adobe-20220124-E-uri-CA.jpg": (Status.TAMPERED, "assertion.hashedURI.mismatch"),
    "adobe-20220124-E-clm-CAICAI.jpg": (Status.TAMPERED, "ingredient.manifest.missing"),
    "adobe-20220124-CIE-sig-CA.jpg": (Status.TAMPERED, "claimSignature.mismatch (ingredient"),
    "nikon-20221019-building.jpeg": (Status.INVALID, "signingCredential.expired"),
}


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    from pocketstudio.core.base.config import Settings

    settings = Settings.load(tmp_path_factory.mktemp("home"))
    keys = KeyStore(settings)
    keys.ensure()
    # The conformance images come from other generators: no decision of theirs is in a log of ours.
    return Verifier(keys, all_detectors(keys.watermark_key()), ManifestRepository(Store.open(settings.db_path)),
                    audit=UnsafeSkipAudit("conformance images name no audit log of ours"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_public_test_files_get_their_expected_outcome(verifier, name):
    status, code = EXPECTED[name]
    verdict = verifier.verify_bytes((DATA / name).read_bytes())
    assert verdict.status is status, verdict.summary
    if code:
        c2pa_check = verdict.check("c2pa").evidence
        codes = c2pa_check["failure_codes"] + c2pa_check["ingredient_failure_codes"]
        assert any(c.startswith(code) for c in codes), codes
