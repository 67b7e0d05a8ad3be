"""What fetching tells Prometheus: each source's fetch latency and outcome, and its circuit state.

The fetching code calls `fetch_finished` once per attempt at a source; the circuit state is read
from the database when /metrics is scraped (`SourceHealthCollector`), so that every web and worker
process, on any host, reports the same state. Labels are sources' ODS codes, never patient data.
"""

from collections.abc import Iterator

from django.db.models import TextChoices
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from records.models import SourceSystem


class FetchResult(TextChoices):
    """How one attempt at one source ended (the `outcome` label)."""

    ANSWERED = "answered"  # the source answered every heading asked (some may be refused)
    UNAVAILABLE = "unavailable"  # down, slow or refusing for now: retried or failed with a reason
    PAUSED = "paused"  # not asked: its circuit is open
    SWITCHED_OFF = "switched_off"  # not asked: SourceSystem.enabled is off
    REFUSED = "refused"  # not asked: it speaks another FHIR version than configured
    TIMED_OUT = "timed_out"  # the look's deadline ran out before or during the attempt
    ERROR = "error"  # a fault on our side (logged)


SOURCE_FETCH_SECONDS = Histogram(
    "lcr_source_fetch_seconds",
    "Time one attempt at a source took (every heading asked of it), by source and outcome.",
    ["source", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)


def fetch_finished(*, source_ods_code: str, result: FetchResult, seconds: float) -> None:
    """Count one attempt at a source, with how long it took."""
    SOURCE_FETCH_SECONDS.labels(source=source_ods_code, outcome=result.value).observe(seconds)


class CircuitState(TextChoices):
    CLOSED = "closed"  # asked as usual
    OPEN = "open"  # paused after repeated failures (or its Retry-After): not asked until it ends
    TRIAL = "trial"  # cool-down over: the next attempt is the trial that closes or reopens it


def circuit_state(source: SourceSystem, now=None) -> CircuitState:
    circuit = getattr(source, "circuit", None)
    if circuit is None or circuit.open_until is None:
        return CircuitState.CLOSED
    return CircuitState.OPEN if circuit.open_until > (now or timezone.now()) else CircuitState.TRIAL


class SourceHealthCollector(Collector):
    """Read at scrape time, one query: each source's circuit state (one series a state, 1 for
    the state it is in), whether it is switched on, and its consecutive failures."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = GaugeMetricFamily(
            "lcr_source_circuit_state",
            "A source's circuit breaker: 1 for the state it is in (closed, open, trial).",
            labels=["source", "state"],
        )
        enabled = GaugeMetricFamily(
            "lcr_source_enabled",
            "1 when the source is switched on (SourceSystem.enabled), 0 when paused by hand.",
            labels=["source"],
        )
        failures = GaugeMetricFamily(
            "lcr_source_consecutive_failures",
            "Failed attempts at the source since its last answer.",
            labels=["source"],
        )
        now = timezone.now()
        sources = SourceSystem.objects.select_related("circuit").only(
            "ods_code",
            "enabled",
            "circuit__open_until",
            "circuit__consecutive_failures",
        )
        for source in sources.order_by("ods_code"):
            current = circuit_state(source, now)
            for each in CircuitState:
                state.add_metric([source.ods_code, each.value], 1.0 if each == current else 0.0)
            enabled.add_metric([source.ods_code], 1.0 if source.enabled else 0.0)
            circuit = getattr(source, "circuit", None)
            failures.add_metric([source.ods_code], circuit.consecutive_failures if circuit else 0)
        yield state
        yield enabled
        yield failures
