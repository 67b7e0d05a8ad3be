"""Checking the whole audit trail (`manage.py verify_audit`): every chain, against its head and
against every signed checkpoint of it.

The chains' set is every chain that has events, a head that has moved, or a checkpoint: a chain
whose events were all removed is still checked, and found empty.
"""

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

from audit.chain import Break, first_break
from audit.checkpoints import is_signed
from audit.models import AccessEvent, ChainHead, Checkpoint


@dataclass
class Verdict:
    events: int = 0
    chains: int = 0
    checkpoints: int = 0
    # Events after their chain's latest checkpoint: only the chain itself vouches for them.
    since_checkpoints: int = 0
    problems: list[str] = field(default_factory=list)


def verify_trail() -> Verdict:
    """Walk every chain; each broken one is named by its first broken link."""
    verdict = Verdict()
    heads = {
        chain: (sequence, digest)
        for chain, sequence, digest in ChainHead.objects.values_list("chain", "sequence", "hash")
    }
    chains = (
        set(AccessEvent.objects.order_by().values_list("chain", flat=True).distinct())
        | set(Checkpoint.objects.order_by().values_list("chain", flat=True).distinct())
        | {chain for chain, (sequence, _) in heads.items() if sequence}
    )
    verdict.chains = len(chains)
    for chain in sorted(chains):
        signed = _signed_checkpoints(chain, verdict)
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


def describe(broken: Break) -> str:
    if broken.event_id is None:
        return f"Chain {broken.chain} is broken: {broken.why}."
    return (
        f"Chain {broken.chain} is broken at sequence {broken.sequence} "
        f"(access event {broken.event_id}): {broken.why}."
    )


def _signed_checkpoints(chain: int, verdict: Verdict) -> dict[int, str]:
    """The chain's checkpoints that carry our signature (sequence -> hash); the others are named."""
    signed = {}
    for checkpoint in Checkpoint.objects.filter(chain=chain).order_by("sequence").iterator(2000):
        verdict.checkpoints += 1
        if is_signed(checkpoint):
            signed[checkpoint.sequence] = checkpoint.hash
        else:
            verdict.problems.append(
                f"Checkpoint {checkpoint.pk} of chain {chain} (sequence {checkpoint.sequence}) is "
                "not signed with this installation's key: it was forged or altered."
            )
    return signed


class _Counter:
    n = 0

    def count(self, events) -> Iterator:
        for event in events:
            self.n += 1
            yield event
