"""A claim signer whose private key stays in a PKCS#11 token (an HSM, a smart card, SoftHSM2).

``keys use-pkcs11`` records which module, token and key (keys/pkcs11.json) and the certificate
chain of the token's public key (keys/pkcs11.chain.pem); the PIN is a secret, read from
POCKETSTUDIO_PKCS11_PIN when signing, never stored. The token signs the SHA-256 digest with
CKM_ECDSA (every token that holds P-256 keys has it; SoftHSM2 lacks CKM_ECDSA_SHA256) and answers
raw r‖s, which becomes DER like :class:`LocalKeySigner`'s. Each signature is checked against the
leaf's public key before c2pa gets it, so a token that holds another key under the label cannot
sign a manifest its chain would not vouch for.

python-pkcs11 is the ``pkcs11`` extra: imported only when a token is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pocketstudio.core.base.config import SECRET_ENV
from pocketstudio.core.base.errors import KeyMaterialError
from pocketstudio.core.base.keys import write_public

PIN_ENV = SECRET_ENV["pkcs11_pin"]
CONFIG = "pkcs11.json"
CHAIN = "pkcs11.chain.pem"


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the claim-signing key lives: the module (.so), the token's label, the key's label."""

    module: str
    token: str
    label: str

    def save(self, keys_dir: Path) -> None:
        write_public(keys_dir / CONFIG, (json.dumps(asdict(self), indent=2) + "\n").encode())

    @classmethod
    def load(cls, keys_dir: Path) -> Pkcs11Config | None:
        path = keys_dir / CONFIG
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(module=str(data["module"]), token=str(data["token"]), label=str(data["label"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyMaterialError(f"{path} is corrupt; run 'pocketstudio keys use-pkcs11' again "
                                   f"or 'pocketstudio keys use-local'") from exc

    def describe(self) -> str:
        return f"key '{self.label}' on PKCS#11 token '{self.token}' (module {self.module})"


def _pkcs11():
    try:
        import pkcs11
    except ImportError:
        raise KeyMaterialError("signing with a PKCS#11 token needs python-pkcs11: "
                               "pip install 'pocketstudio[pkcs11]'") from None
    return pkcs11


_LIBS: dict[str, object] = {}


def _pin() -> str:
    pin = os.environ.get(PIN_ENV)
    if not pin:
        raise KeyMaterialError(f"the PKCS#11 token needs its user PIN: set {PIN_ENV} "
                               f"(or switch back with 'pocketstudio keys use-local')")
    return pin


class Token:
    """One logged-in session on the configured token; every PKCS#11 failure becomes a
    KeyMaterialError that says what to do."""

    def __init__(self, config: Pkcs11Config, pin: str | None = None):
        self.config = config
        self._pin = pin
        self._session = None

    def __enter__(self) -> Token:
        p11 = _pkcs11()
        cfg = self.config
        if not Path(cfg.module).is_file():
            raise KeyMaterialError(f"PKCS#11 module {cfg.module} is missing; install it or give the right "
                                   f"path to 'pocketstudio keys use-pkcs11 --module'")
        try:
            lib = _LIBS.get(cfg.module) or _LIBS.setdefault(cfg.module, p11.lib(cfg.module))
            token = lib.get_token(token_label=cfg.token)
            self._session = token.open(user_pin=self._pin or _pin())
        except p11.exceptions.NoSuchToken:
            raise KeyMaterialError(f"no PKCS#11 token labelled '{cfg.token}' in {cfg.module}; plug it in, or "
                                   f"list the tokens (softhsm2-util --show-slots, pkcs11-tool -L)") from None
        except p11.exceptions.MultipleTokensReturned:
            raise KeyMaterialError(f"several PKCS#11 tokens are labelled '{cfg.token}'; give each its own label") from None
        except p11.exceptions.PinIncorrect:
            raise KeyMaterialError(f"the PKCS#11 token '{cfg.token}' refused the PIN: set {PIN_ENV} to its user "
                                   f"PIN (a few more wrong tries lock it)") from None
        except p11.exceptions.PinLocked:
            raise KeyMaterialError(f"the PKCS#11 token '{cfg.token}' is locked after wrong PINs; its security "
                                   f"officer must unlock it") from None
        except p11.exceptions.PKCS11Error as exc:
            raise KeyMaterialError(f"cannot open PKCS#11 token '{cfg.token}' with {cfg.module}: "
                                   f"{type(exc).__name__} {exc}".strip()) from None
        return self

    def __exit__(self, *exc) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _key(self, object_class):
        p11 = _pkcs11()
        try:
            return self._session.get_key(object_class=object_class, key_type=p11.KeyType.EC, label=self.config.label)
        except p11.exceptions.NoSuchKey:
            kind = "private" if object_class == p11.ObjectClass.PRIVATE_KEY else "public"
            raise KeyMaterialError(f"the PKCS#11 token '{self.config.token}' holds no EC {kind} key labelled "
                                   f"'{self.config.label}'") from None
        except p11.exceptions.MultipleObjectsReturned:
            raise KeyMaterialError(f"several keys on token '{self.config.token}' are labelled '{self.config.label}'; "
                                   f"give the claim-signing key a label of its own") from None

    def private_key(self):
        """The signing key, refused unless the token keeps it in (sensitive, never extractable)."""
        p11 = _pkcs11()
        key = self._key(p11.ObjectClass.PRIVATE_KEY)
        try:
            sensitive, extractable = key[p11.Attribute.SENSITIVE], key[p11.Attribute.EXTRACTABLE]
        except p11.exceptions.PKCS11Error:
            sensitive, extractable = False, True
        if not sensitive or extractable:
            raise KeyMaterialError(f"the key '{self.config.label}' on token '{self.config.token}' can leave the "
                                   f"token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); generate one with "
                                   f"CKA_SENSITIVE=true and CKA_EXTRACTABLE=false")
        return key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The token's public key, for a certificate the local root issues."""
        p11 = _pkcs11()
        from pkcs11.util.ec import encode_ec_public_key

        key = serialization.load_der_public_key(encode_ec_public_key(self._key(p11.ObjectClass.PUBLIC_KEY)))
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise KeyMaterialError(f"the key '{self.config.label}' is not an ECDSA P-256 key; Pocket Studio signs "
                                   f"with ES256 on tokens")
        return key

    def sign(self, data: bytes) -> bytes:
        """ES256 over ``data``: the token signs the digest, the answer r‖s becomes DER."""
        p11 = _pkcs11()
        digest = hashes.Hash(hashes.SHA256())
        digest.update(data)
        try:
            raw = self.private_key().sign(digest.finalize(), mechanism=p11.Mechanism.ECDSA)
        except p11.exceptions.PKCS11Error as exc:
            raise KeyMaterialError(f"the PKCS#11 token '{self.config.token}' failed to sign: "
                                   f"{type(exc).__name__} {exc}".strip()) from None
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@dataclass(frozen=True)
class Pkcs11Signer:
    """A claim signer on a token: each ``sign`` logs in, signs there and checks the signature
    against the leaf certificate; the private key never enters this process."""

    alg: str
    chain_pem: str
    config: Pkcs11Config
    leaf_key: ec.EllipticCurvePublicKey

    def sign(self, data: bytes) -> bytes:
        with Token(self.config) as token:
            signature = token.sign(data)
        try:
            self.leaf_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise KeyMaterialError(f"the signature of {self.config.describe()} does not verify under the "
                                   f"claim-signing certificate: run 'pocketstudio keys use-pkcs11' again") from None
        return signature
