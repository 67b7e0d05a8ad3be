"""The Ed25519 key the checkpoints are signed with, and the public keys they are checked with.

The private key never enters the database: it is `LCR_AUDIT_SIGNING_KEY` (PEM text, from the
environment) or `LCR_AUDIT_SIGNING_KEY_FILE` (a PEM file). With neither, as in the embedded demo
and the tests, one is made once for this checkout in var/ (`check --deploy` warns). Public keys
of former signing keys (`LCR_AUDIT_VERIFY_KEYS`, `LCR_AUDIT_VERIFY_KEYS_FILE`) still verify the
checkpoints they signed.
"""

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from django.conf import settings

from audit.verify_checkpoint import key_id, load_public_keys


class SigningKeyError(Exception):
    """A configured audit key cannot be read or is not an Ed25519 key: said in one sentence."""


def generated_key_path() -> Path:
    return Path(settings.VAR_DIR) / "audit-signing-key.pem"


def uses_generated_key() -> bool:
    return not settings.LCR_AUDIT_SIGNING_KEY and not settings.LCR_AUDIT_SIGNING_KEY_FILE


def signing_key(*, create: bool = False) -> Ed25519PrivateKey | None:
    """This installation's signing key; None when it is the checkout's own and not made yet
    (made now if `create`)."""
    if settings.LCR_AUDIT_SIGNING_KEY:
        try:
            return _private(settings.LCR_AUDIT_SIGNING_KEY.encode(), "LCR_AUDIT_SIGNING_KEY")
        except SigningKeyError as error:
            raise SigningKeyError(
                f"{error} An HMAC key from before Ed25519 belongs in LCR_AUDIT_HMAC_KEYS."
            ) from None
    if settings.LCR_AUDIT_SIGNING_KEY_FILE:
        path = Path(settings.LCR_AUDIT_SIGNING_KEY_FILE)
        return _private(_read(path, "LCR_AUDIT_SIGNING_KEY_FILE"), f"the key file {path}")
    path = generated_key_path()
    if not path.exists():
        if not create:
            return None
        _generate(path)
    return _private(_read(path, "the audit signing key made for this checkout"), str(path))


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a checkpoint may be signed with (key id -> public key): the signing key's own
    and the former ones."""
    keys = {}
    if settings.LCR_AUDIT_VERIFY_KEYS:
        keys.update(_public(settings.LCR_AUDIT_VERIFY_KEYS.encode(), "LCR_AUDIT_VERIFY_KEYS"))
    if settings.LCR_AUDIT_VERIFY_KEYS_FILE:
        path = Path(settings.LCR_AUDIT_VERIFY_KEYS_FILE)
        keys.update(_public(_read(path, "LCR_AUDIT_VERIFY_KEYS_FILE"), f"the key file {path}"))
    current = signing_key()
    if current is not None:
        keys[key_id(current.public_key())] = current.public_key()
    return keys


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SigningKeyError(
            f"{what} ({path}) cannot be read: {error.strerror or error}."
        ) from None


def _private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{where} is not an unencrypted Ed25519 private key in PEM "
            "(openssl genpkey -algorithm ed25519 makes one)."
        )
    return key


def _public(pem: bytes, where: str) -> dict[str, Ed25519PublicKey]:
    try:
        return load_public_keys(pem, where)
    except ValueError as error:
        raise SigningKeyError(str(error)) from None


def _generate(path: Path) -> None:
    """Made beside its final name and linked into place: of two processes starting at once,
    one key wins and both use it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    # Readable by its owner only from the start, not chmod-ed after being written.
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(pem)
    with contextlib.suppress(FileExistsError):
        os.link(draft, path)
    draft.unlink()
