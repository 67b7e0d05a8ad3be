"""Whether the background processes are alive and fetching keeps up: heartbeats and readiness.

Beat records its heartbeat each time it has sent the heartbeat task to the broker; a worker
records its own each time one of its pool processes has run that task. `readiness` turns the two
heartbeats and the fetches waiting past their deadline into what `/readyz` answers.
"""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from records.fetching import overdue_after
from records.models import Heartbeat, Snapshot

# The readiness check reads at most this many overdue fetches: its cost stays bounded.
OVERDUE_SHOWN = 100


def record_heartbeat(*, process: Heartbeat.Process, now: datetime.datetime | None = None) -> None:
    """Note that `process` has just shown it is working."""
    Heartbeat.objects.update_or_create(process=process, defaults={"seen_at": now or timezone.now()})


@dataclass
class Readiness:
    """Each check's state (no patient data: ages and counts only) and what is wrong, in words."""

    checks: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "status": "ok" if self.ready else "failing",
            "problems": self.problems,
            "checks": self.checks,
        }


def readiness(now: datetime.datetime | None = None) -> Readiness:
    """Is every heartbeat recent, and is no fetch waiting past its deadline? Two queries."""
    now = now or timezone.now()
    result = Readiness()
    seen = dict(Heartbeat.objects.values_list("process", "seen_at"))
    stale_after = settings.LCR_HEARTBEAT_STALE_SECONDS
    for process in Heartbeat.Process:
        seen_at = seen.get(process.value)
        age = None if seen_at is None else max(0, round((now - seen_at).total_seconds()))
        if age is None:
            state, problem = "missing", "no heartbeat yet"
        elif age > stale_after:
            state, problem = "stale", f"no heartbeat for {age} s (stale after {stale_after} s)"
        else:
            state, problem = "ok", ""
        result.checks[process.value] = {"status": state, "seconds_since_heartbeat": age}
        if problem:
            if process == Heartbeat.Process.WORKER and result.checks["beat"]["status"] != "ok":
                problem += "; beat, which sends the heartbeat task, is not working either"
            result.problems.append(f"{process.value}: {problem}")
    result.checks["fetches"] = _fetches(now, result)
    return result


def _fetches(now: datetime.datetime, result: Readiness) -> dict:
    """Fetches still pending well past their deadline: the sweep that ends them has not run, or
    the worker takes no fetches."""
    deadline = overdue_after() + datetime.timedelta(
        seconds=2 * settings.LCR_FETCH_OVERDUE_SWEEP_SECONDS
    )
    waiting = list(
        Snapshot.objects.filter(status=Snapshot.Status.PENDING, requested_at__lt=now - deadline)
        .order_by("requested_at")
        .values_list("requested_at", flat=True)[:OVERDUE_SHOWN]
    )
    if not waiting:
        return {"status": "ok", "overdue": 0}
    oldest = round((now - waiting[0]).total_seconds())
    count = f"{len(waiting)} or more" if len(waiting) == OVERDUE_SHOWN else str(len(waiting))
    result.problems.append(
        f"fetches: {count} pending past their deadline ({round(deadline.total_seconds())} s), "
        f"the oldest asked for {oldest} s ago"
    )
    return {"status": "overdue", "overdue": len(waiting), "oldest_waiting_seconds": oldest}
