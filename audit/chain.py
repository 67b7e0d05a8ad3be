"""The hash chain of access events: what is hashed, and how a chain is checked.

A row's hash is SHA-256 over the previous row's hash and a canonical JSON of the row's content,
so changing, removing or reordering any row breaks every hash after it in that chain.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GENESIS = "0" * 64
HASHED_FIELDS = (
    "chain",
    "sequence",
    "occurred_at",
    "user_id",
    "username",
    "client_id",
    "team_id",
    "team_name",
    "organisation_ods_code",
    "role",
    "patient_id",
    "categories",
    "resource_ids",
    "basis",
    "relationship_id",
    "break_glass_id",
    "channel",
    "purpose",
    "ip_address",
    "user_agent",
    "request_id",
    "end_user",
)
# Fields added after events were first written: hashed only when set, so older rows still verify.
HASHED_WHEN_SET = frozenset({"end_user"})


def event_hash(previous_hash: str, content: dict) -> str:
    canonical = json.dumps(
        {
            field: content[field]
            for field in HASHED_FIELDS
            if field not in HASHED_WHEN_SET or content[field]
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{previous_hash}|{canonical}".encode()).hexdigest()


def content_of(event) -> dict:
    """The hashed content of a saved event, as it was when it was hashed."""
    values = {field: getattr(event, field) for field in HASHED_FIELDS}
    values["occurred_at"] = event.occurred_at.isoformat()
    return values


@dataclass(frozen=True)
class Break:
    """Where a chain stops being what was written: its first event that does not follow (or, when
    the break is after its last stored event, that event or none), and why."""

    chain: int
    sequence: int
    event_id: int | None
    why: str


def first_break(
    chain: int,
    events: Iterable,
    head: tuple[int, str] | None = None,
    checkpoints: Mapping[int, str] | None = None,
    after: tuple[int, str] = (0, GENESIS),
) -> Break | None:
    """Walk one chain in sequence order; the first event that does not follow is named.

    `after` is where the walk starts, the (sequence, hash) of the event before the first one
    given: the start of the chain by default, or a head read earlier to check only what was
    appended since.

    `head` is the chain's recorded (last sequence, last hash): rows removed from the end of a
    chain leave every remaining hash intact, and only the head shows they are gone. Anyone who
    can write the table can also move the head back, or recompute every later hash with this
    (published) algorithm; `checkpoints` (sequence -> hash, from signatures already checked) are
    what they cannot forge without the signing key.
    """
    checkpoints = checkpoints or {}
    expected_previous, expected_sequence = after[1], after[0] + 1
    last_id = None
    for event in events:
        last_id = event.pk
        if event.sequence != expected_sequence:
            return Break(chain, event.sequence, event.pk, "a row is missing before it")
        if event.previous_hash != expected_previous:
            return Break(chain, event.sequence, event.pk, "it does not follow the row before")
        if event_hash(event.previous_hash, content_of(event)) != event.hash:
            return Break(chain, event.sequence, event.pk, "its content has been changed")
        if checkpoints.get(event.sequence, event.hash) != event.hash:
            return Break(
                chain,
                event.sequence,
                event.pk,
                "it is not the event signed at this place in a checkpoint: the chain has been "
                "rewritten",
            )
        expected_previous, expected_sequence = event.hash, event.sequence + 1
    last = expected_sequence - 1
    if head is not None and head[0] > last:
        if not last:
            return Break(chain, 0, None, "chain heads exist but their events are gone")
        return Break(chain, last, last_id, f"rows are missing from its end (head at {head[0]})")
    signed = max((sequence for sequence in checkpoints if sequence > last), default=None)
    if signed is not None:
        if not last:
            return Break(chain, 0, None, f"its events are gone (a checkpoint is at {signed})")
        return Break(
            chain, last, last_id, f"rows are missing from its end (checkpoint at {signed})"
        )
    if head is None:
        return Break(chain, last, last_id, "its chain head is gone") if last else None
    if head[0] < last:
        return Break(chain, last, last_id, f"rows follow its chain head (at {head[0]})")
    if head[1] != expected_previous:
        return Break(chain, last, last_id, "it is not the row its chain head records")
    return None
