"""Signed checkpoints of the audit chains, checked with the public key alone (docs/audit.md).

A third party runs `python -m audit.verify_checkpoint --public-key key.pem checkpoints.jsonl`
with this file and audit/chain.py, which need only the standard library and `cryptography`; the
service signs and verifies its checkpoints with the same functions, so the format has one
definition. With `--events`, an export of one chain (`manage.py export_audit_chain`) is checked
against the checkpoints of that chain too.
"""

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from audit.chain import GENESIS, HASHED_FIELDS, event_hash

FORMAT = "lcr-audit-checkpoint/1"
# The signed message is the canonical JSON of these fields (sorted keys, no spaces, ASCII).
SIGNED_FIELDS = ("format", "chain", "sequence", "hash", "signed_at", "key_id")
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX128 = re.compile(r"[0-9a-f]{128}")
SIGNED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PEM_PUBLIC_KEY = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\r?\n.+?-----END PUBLIC KEY-----", re.DOTALL
)
VERIFIED, REFUSED, UNREADABLE = 0, 1, 2


def signed_message(record: Mapping) -> bytes:
    """The bytes a checkpoint's signature is over."""
    signed = {field: record[field] for field in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the public key's DER SubjectPublicKeyInfo, in hex: `openssl pkey -pubin
    -outform DER | sha256sum` gives the same."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_public_keys(pem: bytes, where: str) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key in PEM text (one or more blocks), by key id."""
    blocks = PEM_PUBLIC_KEY.findall(pem)
    if not blocks:
        raise ValueError(f"{where} holds no public key in PEM (-----BEGIN PUBLIC KEY-----).")
    keys = {}
    for number, block in enumerate(blocks, start=1):
        try:
            key = load_pem_public_key(block)
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"Public key {number} in {where} is not an Ed25519 public key.")
        keys[key_id(key)] = key
    return keys


def refusal(record: object, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why a checkpoint record is refused, or None when its signature verifies with one of
    `keys` (key id -> public key)."""
    if not isinstance(record, dict):
        return "it is not a checkpoint (not a JSON object)"
    shape = {
        "format": lambda value: value == FORMAT,
        "chain": lambda value: type(value) is int and value >= 0,
        "sequence": lambda value: type(value) is int and value >= 1,
        "hash": lambda value: isinstance(value, str) and HEX64.fullmatch(value),
        "signed_at": lambda value: isinstance(value, str) and SIGNED_AT.fullmatch(value),
        "key_id": lambda value: isinstance(value, str) and HEX64.fullmatch(value),
        "signature": lambda value: isinstance(value, str) and HEX128.fullmatch(value),
    }
    wrong = [field for field, fits in shape.items() if not fits(record.get(field))]
    if wrong:
        return f"it is not a checkpoint ({', '.join(wrong)} missing or malformed)"
    key = keys.get(record["key_id"])
    if key is None:
        return f"it is signed with key {record['key_id']}, which is not one of the known keys"
    try:
        key.verify(bytes.fromhex(record["signature"]), signed_message(record))
    except InvalidSignature:
        return "its signature does not verify: it was altered or forged"
    return None


def read_json_lines(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON or None when the line is not JSON) of each non-empty line of a
    checkpoint file or an export."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, None


def export_heads(path: Path) -> tuple[dict[int, dict[int, str]], list[str]]:
    """Walk an export of chains (one event a line, in sequence order): chain -> {sequence: hash}
    of every event that follows from the start, and what does not follow."""
    hashes: dict[int, dict[int, str]] = {}
    problems = []
    for number, event in read_json_lines(path):
        if (
            not isinstance(event, dict)
            or not {*HASHED_FIELDS, "previous_hash", "hash"} <= event.keys()
            or type(event["chain"]) is not int
            or type(event["sequence"]) is not int
        ):
            problems.append(f"Line {number} of {path} is not an exported event.")
            continue
        chain = hashes.setdefault(event["chain"], {})
        previous = chain.get(event["sequence"] - 1, GENESIS if event["sequence"] == 1 else None)
        if previous is None or event["previous_hash"] != previous:
            problems.append(
                f"Line {number} of {path} (chain {event['chain']}, sequence "
                f"{event['sequence']}) does not follow the event before it."
            )
        elif event_hash(previous, event) != event["hash"]:
            problems.append(
                f"Line {number} of {path} (chain {event['chain']}, sequence "
                f"{event['sequence']}) does not hash to its recorded hash: it was changed."
            )
        else:
            chain[event["sequence"]] = event["hash"]
    return hashes, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify_checkpoint",
        description="Check the signatures of audit checkpoints (JSON Lines) with public keys "
        "alone, and optionally an export of chains against them.",
    )
    parser.add_argument(
        "--public-key",
        action="append",
        required=True,
        type=Path,
        help="a PEM file of one or more Ed25519 public keys (repeatable)",
    )
    parser.add_argument("--events", type=Path, help="an export of chains (export_audit_chain)")
    parser.add_argument("checkpoints", type=Path, help="the checkpoint file (JSON Lines)")
    arguments = parser.parse_args(argv)
    try:
        keys = {}
        for path in arguments.public_key:
            keys.update(load_public_keys(path.read_bytes(), str(path)))
        checkpoints = list(read_json_lines(arguments.checkpoints))
        exported, problems = export_heads(arguments.events) if arguments.events else ({}, [])
    except (OSError, ValueError) as error:
        print(f"Could not read the inputs, so nothing was checked: {error}", file=sys.stderr)
        return UNREADABLE
    verified = 0
    for number, record in checkpoints:
        why = refusal(record, keys)
        if why:
            problems.append(f"Line {number} of {arguments.checkpoints} is refused: {why}.")
            continue
        verified += 1
        chain, sequence, digest = record["chain"], record["sequence"], record["hash"]
        print(
            f"Line {number}: chain {chain} at sequence {sequence}, hash {digest}, signed at "
            f"{record['signed_at']} with key {record['key_id']}: the signature verifies."
        )
        if chain in exported:
            found = exported[chain].get(sequence)
            if found == digest:
                print(f"  The export of chain {chain} reaches this checkpoint and agrees with it.")
            elif found is not None or max(exported[chain], default=0) >= sequence:
                problems.append(
                    f"The export's chain {chain} differs from the checkpoint at sequence "
                    f"{sequence} (line {number}): the chain was rewritten."
                )
    if not checkpoints:
        problems.append(f"{arguments.checkpoints} holds no checkpoints: nothing is vouched for.")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{verified} of {len(checkpoints)} checkpoints verified.")
    return REFUSED if problems else VERIFIED


if __name__ == "__main__":
    sys.exit(main())
