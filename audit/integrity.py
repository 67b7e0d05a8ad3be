"""Checking the whole audit trail (`manage.py verify_audit`): every chain, against its head,
every signed checkpoint of it in the table, and every one in the checkpoint file.

The chains' set is every chain that has events, a head that has moved, or a checkpoint (in the
table or the file): a chain whose events were all removed is still checked, and found empty.
The file is the copy outside the database: a checkpoint there and not in the table was removed
from the table, and its place in the chain is checked all the same; a signed checkpoint in the
table and not in the file means the file was truncated or rolled back, is not the signing host's
file, or its copy has not been written out yet (the next signing writes it again).
"""

from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import GENESIS, Break, first_break
from audit.checkpoints import checkpoint_file, is_legacy_signed, record_of
from audit.models import AccessEvent, ChainHead, Checkpoint
from audit.signing_keys import public_keys
from audit.verify_checkpoint import read_json_lines, refusal


class CheckpointFileUnreadable(Exception):
    """The checkpoint file is there but cannot be read: said in one sentence."""


@dataclass
class Verdict:
    events: int = 0
    chains: int = 0
    checkpoints: int = 0
    # Checkpoints in the file outside the database, whose signatures verify.
    file_checkpoints: int = 0
    # Events after their chain's latest checkpoint: only the chain itself vouches for them.
    since_checkpoints: int = 0
    problems: list[str] = field(default_factory=list)


def verify_trail() -> Verdict:
    """Walk every chain; each broken one is named by its first broken link.

    Raises SigningKeyError when a configured key cannot be read, and CheckpointFileUnreadable.
    """
    verdict = Verdict()
    keys = public_keys()
    in_file = _file_checkpoints(keys, verdict)
    heads = chain_heads()
    chains = (
        set(AccessEvent.objects.order_by().values_list("chain", flat=True).distinct())
        | set(Checkpoint.objects.order_by().values_list("chain", flat=True).distinct())
        | {chain for chain, (sequence, _) in heads.items() if sequence}
        | set(in_file)
    )
    in_table = Checkpoint.objects.exclude(key_id="").exists()
    if not checkpoint_file().exists() and in_table:
        verdict.problems.append(
            f"The checkpoint file {checkpoint_file()} is missing while the table holds signed "
            "checkpoints: it was removed, or this is not where they are written "
            "(LCR_AUDIT_CHECKPOINT_FILE)."
        )
    verdict.chains = len(chains)
    for chain in sorted(chains):
        signed = _signed_checkpoints(
            chain, keys, in_file.get(chain, {}), verdict, file_exists=checkpoint_file().exists()
        )
        counted = _Counter()
        events = AccessEvent.objects.filter(chain=chain).order_by("sequence").iterator(2000)
        # Closed here, not by the garbage collector after the database connection has gone.
        with closing(events):
            broken = first_break(chain, counted.count(events), heads.get(chain), signed)
        if broken is not None:
            verdict.problems.append(describe(broken))
            continue
        verdict.events += counted.n
        verdict.since_checkpoints += counted.n - max(signed, default=0)
    return verdict


def chain_heads() -> dict[int, tuple[int, str]]:
    """Every chain's head now, (sequence, hash) by chain: where `verify_appended` starts."""
    return {
        chain: (sequence, digest)
        for chain, sequence, digest in ChainHead.objects.values_list("chain", "sequence", "hash")
    }


def verify_appended(since: Mapping[int, tuple[int, str]]) -> Verdict:
    """Walk only what was appended to each chain after `since` (chain_heads() read earlier),
    up to its head now: each chain's new events must follow on from where its head stood, one
    after the other, as written. For a check after a run of looks, whatever came before."""
    verdict = Verdict()
    for chain, head in sorted(chain_heads().items()):
        start = since.get(chain, (0, GENESIS))
        if head == start:
            continue
        verdict.chains += 1
        counted = _Counter()
        events = (
            AccessEvent.objects.filter(chain=chain, sequence__gt=start[0])
            .order_by("sequence")
            .iterator(2000)
        )
        with closing(events):
            broken = first_break(chain, counted.count(events), head, after=start)
        if broken is not None:
            verdict.problems.append(describe(broken))
        verdict.events += counted.n
    return verdict


def describe(broken: Break) -> str:
    if broken.event_id is None:
        return f"Chain {broken.chain} is broken: {broken.why}."
    return (
        f"Chain {broken.chain} is broken at sequence {broken.sequence} "
        f"(access event {broken.event_id}): {broken.why}."
    )


def _file_checkpoints(
    keys: Mapping[str, Ed25519PublicKey], verdict: Verdict
) -> dict[int, dict[int, str]]:
    """The file's checkpoints whose signatures verify (chain -> sequence -> hash); every line
    refused is named."""
    path = checkpoint_file()
    found: dict[int, dict[int, str]] = {}
    if not path.exists():
        return found
    try:
        lines = list(read_json_lines(path))
    except OSError as error:
        raise CheckpointFileUnreadable(
            f"The checkpoint file {path} cannot be read: {error.strerror or error}."
        ) from None
    for number, record in lines:
        why = refusal(record, keys)
        if why:
            verdict.problems.append(
                f"Line {number} of the checkpoint file {path} is refused: {why}."
            )
            continue
        verdict.file_checkpoints += 1
        found.setdefault(record["chain"], {})[record["sequence"]] = record["hash"]
    return found


def _signed_checkpoints(
    chain: int,
    keys: Mapping[str, Ed25519PublicKey],
    in_file: dict[int, str],
    verdict: Verdict,
    *,
    file_exists: bool,
) -> dict[int, str]:
    """The chain's checkpoints whose signatures verify, from the table and the file (sequence ->
    hash); the others, the file's that the table has lost or holds differently, and the table's
    Ed25519 ones the file lacks, are named."""
    signed = {}
    not_in_file = []
    for checkpoint in Checkpoint.objects.filter(chain=chain).order_by("sequence").iterator(2000):
        verdict.checkpoints += 1
        if checkpoint.key_id:
            why = refusal(record_of(checkpoint), keys)
        else:
            why = None if is_legacy_signed(checkpoint) else "its HMAC does not verify"
        if why:
            verdict.problems.append(
                f"Checkpoint {checkpoint.pk} of chain {chain} (sequence {checkpoint.sequence}) "
                f"is not signed by any of the known keys: {why}."
            )
            continue
        copied = in_file.get(checkpoint.sequence)
        if copied is None and checkpoint.key_id:
            not_in_file.append(checkpoint.sequence)
        if copied is not None and copied != checkpoint.hash:
            verdict.problems.append(
                f"Checkpoint {checkpoint.pk} of chain {chain} (sequence {checkpoint.sequence}) "
                "differs from the checkpoint file's at that place."
            )
        signed[checkpoint.sequence] = checkpoint.hash
    lost = sorted(set(in_file) - set(signed))
    if lost:
        verdict.problems.append(
            f"The checkpoint file holds {len(lost)} checkpoints of chain {chain} that the table "
            f"does not (the latest at sequence {lost[-1]}): checkpoint rows were removed."
        )
    # A missing file is named once, for every chain (verify_trail).
    if not_in_file and file_exists:
        verdict.problems.append(
            f"The checkpoint file {checkpoint_file()} lacks {len(not_in_file)} signed "
            f"checkpoints of chain {chain} that the table holds (the latest at sequence "
            f"{not_in_file[-1]}): the file was truncated or rolled back, or it is not the "
            "signing host's file (LCR_AUDIT_CHECKPOINT_FILE), or writing them out failed and "
            "the next signing has not written them again yet."
        )
    # The copy outside the database wins where the two disagree.
    return {**signed, **in_file}


class _Counter:
    n = 0

    def count(self, events) -> Iterator:
        for event in events:
            self.n += 1
            yield event
