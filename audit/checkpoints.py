"""Signed checkpoints of the chain heads: what a rewrite of the trail cannot forge without a key,
kept outside the database too.

Anyone who can write the audit tables (the database's owner, a superuser, whoever restores a
backup) can remove events from the end of a chain and move its head back, or edit an event and
recompute every later hash: the algorithm is published (audit/chain.py). A checkpoint is an
Ed25519 signature over a chain's head (chain, sequence, hash), the time and the key's id, in the
canonical form of audit/verify_checkpoint.py, with a key the database does not hold
(audit/signing_keys.py). The periodic task (and `manage.py sign_audit_checkpoint`) signs every
head that has moved since its last checkpoint, stores it in the table, hands it to the sink
(`LCR_AUDIT_CHECKPOINT_SINK`, an append-only store of the deployment's choosing) and then appends
it to the checkpoint file (JSON Lines, `LCR_AUDIT_CHECKPOINT_FILE`), so that removing checkpoint
rows together with the events they vouch for is found from the copies.

The checkpoint table is append-only (no row can be marked "written out" afterwards), so the file
is the record of what was written out: a line is appended only once the sink has taken the
checkpoint. Each run first writes out again every checkpoint of the table that the file lacks
(a copy that failed, or a file truncated or rolled back), to the sink and then to the file, and
only then signs the heads that moved. A sink is therefore handed a checkpoint at least once, and
keys what it keeps by chain and sequence.
"""

import datetime
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.module_loading import import_string

from audit.models import ChainHead, Checkpoint
from audit.signing_keys import key_for_signing, public_keys
from audit.verify_checkpoint import FORMAT, key_id, read_json_lines, refusal, signed_message

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


@dataclass
class Signing:
    """What one run did: the checkpoints it signed, and those of the table it wrote out again
    because the file lacked them."""

    signed: list[Checkpoint] = field(default_factory=list)
    rewritten: list[Checkpoint] = field(default_factory=list)


def sign_checkpoints() -> list[Checkpoint]:
    """Sign every chain head that has moved since its latest checkpoint; returns the new ones.
    Checkpoints of the table missing from the file are written out again first (sign_run)."""
    return sign_run().signed


def sign_run() -> Signing:
    """Write out again every checkpoint of the table the file lacks, then sign every chain head
    that has moved since its latest checkpoint.

    Raises SigningKeyError when this host cannot sign (nothing is signed or written), and
    CheckpointNotWrittenOut, after doing all the rest, when a copy could not be written.
    """
    key = key_for_signing()
    deliver = sink()
    own_key = key_id(key.public_key())
    run, failures = Signing(), []
    try:
        missing = _missing_from_file()
    except OSError as error:
        missing = []
        failures.append(
            f"The checkpoint file {checkpoint_file()} cannot be read "
            f"({error.strerror or error}), so the checkpoints it lacks were not written again."
        )
    for checkpoint in missing:
        failures += _write_out(record_of(checkpoint), deliver)
        run.rewritten.append(checkpoint)
    if run.rewritten:
        logger.warning(
            "audit checkpoint file %s lacked %s checkpoints of the table: written out again",
            checkpoint_file(),
            len(run.rewritten),
        )
    # Checkpoints from before Ed25519 do not count: every head gets one a third party can check.
    latest = dict(
        Checkpoint.objects.exclude(key_id="")
        .order_by()
        .values("chain")
        .annotate(sequence=Max("sequence"))
        .values_list("chain", "sequence")
    )
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
        run.signed.append(checkpoint)
    if failures:
        raise CheckpointNotWrittenOut(" ".join(failures))
    return run


def file_records() -> list[dict]:
    """Every line of the checkpoint file that is a JSON object (none when there is no file)."""
    path = checkpoint_file()
    if not path.exists():
        return []
    return [record for _, record in read_json_lines(path) if isinstance(record, dict)]


def _missing_from_file() -> list[Checkpoint]:
    """The table's Ed25519 checkpoints whose signature verifies and whose exact record no line
    of the file holds, in order. One refused (altered or forged in the table) is not copied
    out: verify_audit names it."""
    written = {json.dumps(record, sort_keys=True) for record in file_records()}
    keys = public_keys()
    return [
        checkpoint
        for checkpoint in Checkpoint.objects.exclude(key_id="")
        .order_by("chain", "sequence")
        .iterator(2000)
        if json.dumps(record_of(checkpoint), sort_keys=True) not in written
        and refusal(record_of(checkpoint), keys) is None
    ]


def _write_out(record: dict, deliver: Callable[[dict], None] | None) -> list[str]:
    """Hand the checkpoint to the sink and then, once the sink has it, append it to the file;
    what failed, in sentences. A line in the file is what says it was written out."""
    where = f"chain {record['chain']} at sequence {record['sequence']}"
    path = checkpoint_file()
    if deliver is not None:
        try:
            deliver(dict(record))
        except Exception as error:  # a sink's failure is reported, never lets a copy go unsaid
            logger.exception("audit checkpoint of %s not handed to the sink", where)
            return [
                f"The checkpoint of {where} was not handed to the sink: {error}; it is written "
                f"to {path} once the sink takes it, at the next signing."
            ]
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
        return [
            f"The checkpoint of {where} was not written to {path}: {error.strerror or error}; "
            "it is written again at the next signing."
        ]
    return []
