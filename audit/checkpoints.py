"""Signed checkpoints of the chain heads: what a rewrite of the trail cannot forge without a key.

Anyone who can write the audit tables (the database's owner, a superuser, whoever restores a
backup) can remove events from the end of a chain and move its head back, or edit an event and
recompute every later hash: the algorithm is published (audit/chain.py). A checkpoint is an
HMAC-SHA256 of a chain's head (chain, sequence, hash) and the time, with a key the database does
not hold (LCR_AUDIT_SIGNING_KEY from the environment; by default one derived from SECRET_KEY). A
periodic task signs every head that has moved since its last checkpoint, and verify_audit checks
every checkpoint against the events. Each checkpoint is logged as well, so that a copy lives
outside the database: removing checkpoints together with the events they vouch for is found only
by comparing with that copy.
"""

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from audit.models import ChainHead, Checkpoint

logger = logging.getLogger(__name__)

# salted_hmac derives the HMAC key from this and the secret: never the secret itself.
SALT = "lcr.audit.checkpoint"


def signature(
    chain: int, sequence: int, digest: str, signed_at: datetime.datetime, key: str
) -> str:
    message = f"{chain}|{sequence}|{digest}|{signed_at.isoformat()}"
    return salted_hmac(SALT, message, secret=key, algorithm="sha256").hexdigest()


def is_signed(checkpoint: Checkpoint) -> bool:
    """Whether the checkpoint carries the signature of this installation's key (or a former one)."""
    keys = [settings.LCR_AUDIT_SIGNING_KEY, *settings.LCR_AUDIT_SIGNING_KEY_FALLBACKS]
    return any(
        constant_time_compare(
            checkpoint.signature,
            signature(
                checkpoint.chain, checkpoint.sequence, checkpoint.hash, checkpoint.signed_at, key
            ),
        )
        for key in keys
    )


def sign_checkpoints() -> list[Checkpoint]:
    """Sign every chain head that has moved since its latest checkpoint; returns the new ones."""
    latest = dict(
        Checkpoint.objects.order_by()
        .values("chain")
        .annotate(sequence=Max("sequence"))
        .values_list("chain", "sequence")
    )
    signed = []
    for head in ChainHead.objects.filter(sequence__gt=0).order_by("chain"):
        if latest.get(head.chain, 0) >= head.sequence:
            continue
        signed_at = timezone.now()
        try:
            with transaction.atomic():
                checkpoint = Checkpoint.objects.create(
                    chain=head.chain,
                    sequence=head.sequence,
                    hash=head.hash,
                    signed_at=signed_at,
                    signature=signature(
                        head.chain,
                        head.sequence,
                        head.hash,
                        signed_at,
                        settings.LCR_AUDIT_SIGNING_KEY,
                    ),
                )
        except IntegrityError:  # another run signed this head just now
            continue
        logger.info(
            "audit checkpoint chain=%s sequence=%s hash=%s signed_at=%s signature=%s",
            checkpoint.chain,
            checkpoint.sequence,
            checkpoint.hash,
            signed_at.isoformat(),
            checkpoint.signature,
        )
        signed.append(checkpoint)
    return signed
