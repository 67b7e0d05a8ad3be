"""Signed checkpoints of the chain heads: what a rewrite of the trail cannot forge without a key,
kept outside the database too.

Anyone who can write the audit tables (the database's owner, a superuser, whoever restores a
backup) can remove events from the end of a chain and move its head back, or edit an event and
recompute every later hash: the algorithm is published (audit/chain.py). A checkpoint is an
Ed25519 signature over a chain's head (chain, sequence, hash), the time and the key's id, in the
canonical form of audit/verify_checkpoint.py, with a key the database does not hold
(audit/signing_keys.py). The periodic task (and `manage.py sign_audit_checkpoint`) signs every
head that has moved since its last checkpoint, stores it in the table, appends it to the
checkpoint file (JSON Lines, `LCR_AUDIT_CHECKPOINT_FILE`) and hands it to the sink
(`LCR_AUDIT_CHECKPOINT_SINK`, an append-only store of the deployment's choosing), so that
removing checkpoint rows together with the events they vouch for is found from the copies.
"""

import datetime
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.module_loading import import_string

from audit.models import ChainHead, Checkpoint
from audit.signing_keys import signing_key
from audit.verify_checkpoint import FORMAT, key_id, signed_message

logger = logging.getLogger(__name__)

# The HMAC checkpoints written before Ed25519 (their key_id is empty): salted_hmac derived the
# HMAC key from this and the secret.
LEGACY_SALT = "lcr.audit.checkpoint"


class CheckpointNotWrittenOut(Exception):
    """A checkpoint was signed and stored but its copy outside the database failed."""


def signed_at_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_of(checkpoint: Checkpoint) -> dict:
    """The checkpoint as the file and the sink carry it: the signed fields and the signature."""
    return {
        "format": FORMAT,
        "chain": checkpoint.chain,
        "sequence": checkpoint.sequence,
        "hash": checkpoint.hash,
        "signed_at": signed_at_text(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def is_legacy_signed(checkpoint: Checkpoint) -> bool:
    """Whether a checkpoint from before Ed25519 carries the HMAC of one of LCR_AUDIT_HMAC_KEYS."""
    message = (
        f"{checkpoint.chain}|{checkpoint.sequence}|{checkpoint.hash}|"
        f"{checkpoint.signed_at.isoformat()}"
    )
    return any(
        constant_time_compare(
            checkpoint.signature,
            salted_hmac(LEGACY_SALT, message, secret=key, algorithm="sha256").hexdigest(),
        )
        for key in settings.LCR_AUDIT_HMAC_KEYS
    )


def checkpoint_file() -> Path:
    return Path(settings.LCR_AUDIT_CHECKPOINT_FILE)


def sink() -> Callable[[dict], None] | None:
    return (
        import_string(settings.LCR_AUDIT_CHECKPOINT_SINK)
        if settings.LCR_AUDIT_CHECKPOINT_SINK
        else None
    )


def sign_checkpoints() -> list[Checkpoint]:
    """Sign every chain head that has moved since its latest checkpoint; returns the new ones.

    Raises SigningKeyError when the key cannot be read (nothing is signed), and
    CheckpointNotWrittenOut, after signing them all, when a copy could not be written.
    """
    key = signing_key(create=True)
    deliver = sink()
    own_key = key_id(key.public_key())
    # Checkpoints from before Ed25519 do not count: every head gets one a third party can check.
    latest = dict(
        Checkpoint.objects.exclude(key_id="")
        .order_by()
        .values("chain")
        .annotate(sequence=Max("sequence"))
        .values_list("chain", "sequence")
    )
    signed, failures = [], []
    for head in ChainHead.objects.filter(sequence__gt=0).order_by("chain"):
        if latest.get(head.chain, 0) >= head.sequence:
            continue
        checkpoint = Checkpoint(
            chain=head.chain,
            sequence=head.sequence,
            hash=head.hash,
            signed_at=timezone.now().replace(microsecond=0),
            key_id=own_key,
        )
        checkpoint.signature = key.sign(signed_message(record_of(checkpoint))).hex()
        try:
            with transaction.atomic():
                checkpoint.save()
        except IntegrityError:  # another run signed this head just now (or a legacy one did)
            continue
        record = record_of(checkpoint)
        logger.info(
            "audit checkpoint chain=%s sequence=%s hash=%s signed_at=%s key_id=%s signature=%s",
            *(record[field] for field in ("chain", "sequence", "hash", "signed_at")),
            record["key_id"],
            record["signature"],
        )
        failures += _write_out(record, deliver)
        signed.append(checkpoint)
    if failures:
        raise CheckpointNotWrittenOut(" ".join(failures))
    return signed


def _write_out(record: dict, deliver: Callable[[dict], None] | None) -> list[str]:
    """Append the checkpoint to the file and hand it to the sink; what failed, in sentences."""
    failures = []
    where = f"chain {record['chain']} at sequence {record['sequence']}"
    path = checkpoint_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        # One write of one line to a file opened for appending, made durable before going on.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        logger.error("audit checkpoint of %s not written to %s: %s", where, path, error)
        failures.append(
            f"The checkpoint of {where} was not written to {path}: {error.strerror or error}."
        )
    if deliver is not None:
        try:
            deliver(dict(record))
        except Exception as error:  # a sink's failure is reported, never lets a copy go unsaid
            logger.exception("audit checkpoint of %s not handed to the sink", where)
            failures.append(f"The checkpoint of {where} was not handed to the sink: {error}.")
    return failures
