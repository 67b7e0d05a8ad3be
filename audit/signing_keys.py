"""The Ed25519 key the checkpoints are signed with, and the public keys they are checked with.

The private key never enters the database: it is `LCR_AUDIT_SIGNING_KEY` (PEM text, from the
environment) or `LCR_AUDIT_SIGNING_KEY_FILE` (a PEM file), and only the signing worker holds it.
Every other host (web servers, an auditor's machine) verifies with the current public key alone,
`LCR_AUDIT_PUBLIC_KEY` (PEM text) or `LCR_AUDIT_PUBLIC_KEY_FILE`; where neither is set, the
public key is the signing key's own. With no key set at all, as in the embedded demo and the
tests, one is made once for this checkout in var/ (`check --deploy` warns); a host given only a
public key never makes one, and refuses to sign. Public keys of former signing keys
(`LCR_AUDIT_VERIFY_KEYS`, `LCR_AUDIT_VERIFY_KEYS_FILE`) still verify the checkpoints they signed.
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
    """A configured audit key cannot be read or is not an Ed25519 key, or this host cannot sign:
    said in one sentence."""


class KeyMismatch(SigningKeyError):
    """The signing key is not the private half of the configured public key."""


def generated_key_path() -> Path:
    return Path(settings.VAR_DIR) / "audit-signing-key.pem"


def signing_key_configured() -> bool:
    return bool(settings.LCR_AUDIT_SIGNING_KEY or settings.LCR_AUDIT_SIGNING_KEY_FILE)


def public_key_configured() -> bool:
    return bool(settings.LCR_AUDIT_PUBLIC_KEY or settings.LCR_AUDIT_PUBLIC_KEY_FILE)


def uses_generated_key() -> bool:
    """Whether this host signs with the key made for this checkout (no key configured at all)."""
    return not signing_key_configured() and not public_key_configured()


def signing_key(*, create: bool = False) -> Ed25519PrivateKey | None:
    """This host's signing key; None when it has none: only a public key is configured, or the
    key is the checkout's own and not made yet (made now if `create`)."""
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
    if public_key_configured():  # a verify-only host never makes a key of its own
        return None
    path = generated_key_path()
    if not path.exists():
        if not create:
            return None
        _generate(path)
    return _private(_read(path, "the audit signing key made for this checkout"), str(path))


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def key_for_signing() -> Ed25519PrivateKey:
    """The key to sign with now (the checkout's own made if need be); SigningKeyError when this
    host cannot sign: no private key, an unreadable one, or one that is not the private half of
    the configured public key (its checkpoints would not verify)."""
    key = signing_key(create=True)
    if key is None:
        raise SigningKeyError(
            "This host has only the public key (LCR_AUDIT_PUBLIC_KEY or "
            "LCR_AUDIT_PUBLIC_KEY_FILE), so it verifies checkpoints but does not sign them: "
            "the signing worker, which holds LCR_AUDIT_SIGNING_KEY_FILE, signs (docs/audit.md)."
        )
    published = configured_public_key()
    if published is not None and key_id(published) != key_id(key.public_key()):
        raise KeyMismatch(
            f"The signing key (key id {key_id(key.public_key())}) is not the private half of "
            f"the public key LCR_AUDIT_PUBLIC_KEY(_FILE) names (key id {key_id(published)}), so "
            "its checkpoints would not verify where that public key is used."
        )
    return key


def configured_public_key() -> Ed25519PublicKey | None:
    """The current public key as configured (LCR_AUDIT_PUBLIC_KEY or its file), if it is."""
    if settings.LCR_AUDIT_PUBLIC_KEY:
        pem, where = settings.LCR_AUDIT_PUBLIC_KEY.encode(), "LCR_AUDIT_PUBLIC_KEY"
    elif settings.LCR_AUDIT_PUBLIC_KEY_FILE:
        path = Path(settings.LCR_AUDIT_PUBLIC_KEY_FILE)
        pem, where = _read(path, "LCR_AUDIT_PUBLIC_KEY_FILE"), f"the key file {path}"
    else:
        return None
    keys = _public(pem, where)
    if len(keys) != 1:
        raise SigningKeyError(
            f"{where} holds {len(keys)} public keys, not the one current key; former keys "
            "belong in LCR_AUDIT_VERIFY_KEYS."
        )
    return next(iter(keys.values()))


def current_public_key() -> Ed25519PublicKey | None:
    """The public key of the current signing key: as configured, or else the signing key's own
    (read only where no public key is configured); None where there is neither."""
    if public_key_configured():
        return configured_public_key()
    current = signing_key()
    return None if current is None else current.public_key()


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a checkpoint may be signed with (key id -> public key): the current one and the
    former ones. The private key is read only where no public key is configured."""
    keys = {}
    if settings.LCR_AUDIT_VERIFY_KEYS:
        keys.update(_public(settings.LCR_AUDIT_VERIFY_KEYS.encode(), "LCR_AUDIT_VERIFY_KEYS"))
    if settings.LCR_AUDIT_VERIFY_KEYS_FILE:
        path = Path(settings.LCR_AUDIT_VERIFY_KEYS_FILE)
        keys.update(_public(_read(path, "LCR_AUDIT_VERIFY_KEYS_FILE"), f"the key file {path}"))
    current = current_public_key()
    if current is not None:
        keys[key_id(current)] = current
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
