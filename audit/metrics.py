"""What the audit trail tells Prometheus: looks made, access events written, and writes that
failed (each of which left a person with a "not available" page: fail closed).

The look (care_record.reading) and the writers of access events (audit.services) call these
hooks; labels are channels and kinds, never who or which patient.
"""

from django.db import transaction
from prometheus_client import Counter

from audit.models import DETAILS, Channel

LOOKS = Counter(
    "lcr_looks",
    "Reads of a patient's record through read_record, by channel and how they ended: shown "
    "(one access event), continued (an open look's update: no new event), refused (404), "
    "not_recorded (the event could not be written, nothing shown).",
    ["channel", "outcome"],
)
ACCESS_EVENTS = Counter(
    "lcr_access_events",
    "Access events committed to the trail, by channel and kind (record: a look at the record or "
    "a document; details: a look at who a patient is, on an administrator's or officer's page).",
    ["channel", "kind"],
)
AUDIT_WRITE_FAILURES = Counter(
    "lcr_audit_write_failures",
    "Audit writes that failed (the database refused or was unreachable), by what was written.",
    ["what"],
)


def look_read(*, channel: Channel, outcome: str) -> None:
    LOOKS.labels(channel=Channel(channel).value, outcome=outcome).inc()


def access_events_written(*, channel: Channel, categories: list[str], count: int = 1) -> None:
    """Counted when the transaction writing them commits: a rolled-back event was not written."""
    kind = "details" if categories == [DETAILS] else "record"
    counter = ACCESS_EVENTS.labels(channel=Channel(channel).value, kind=kind)
    transaction.on_commit(lambda: counter.inc(count))


def audit_write_failed(*, what: str) -> None:
    AUDIT_WRITE_FAILURES.labels(what=what).inc()
