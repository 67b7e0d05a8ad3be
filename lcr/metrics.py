"""Prometheus metrics of the web process, and `/metrics`, which serves every layer's.

`request_finished` is the request hook (lcr/request_observation.py); the other layers keep their
own hooks (records/metrics.py, audit/metrics.py, lcr/task_metrics.py). With
PROMETHEUS_MULTIPROC_DIR set (several gunicorn or Celery processes), prometheus-client writes each
process's values to files there and `/metrics` adds up all of them; the circuit states and the
queues are read when scraped, the same from any process. `/metrics` is not public: it answers
only addresses in LCR_METRICS_ALLOWED_ADDRESSES or a bearer token equal to LCR_METRICS_TOKEN,
and everyone else gets the plain not-found page, as for any address that does not exist.
"""

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lcr import broker_state
from records.metrics import SourceHealthCollector

logger = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "lcr_http_request_seconds",
    "Time to answer a request, by the URL's name (never its path), method and status.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def request_finished(*, view: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(view=view, method=method, status=str(status)).observe(seconds)


class QueueCollector(Collector):
    """Each Celery queue's length and the age of its oldest waiting task, where the broker lets
    us read them (lcr/broker_state.py), and whether the broker answered at all."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("lcr_broker_up", "1 when the Celery broker answered this scrape.")
        try:
            depths = broker_state.queue_depths(timeout=settings.LCR_BROKER_CHECK_TIMEOUT_SECONDS)
        except Exception as error:
            logger.warning("metrics: the broker's queues unread: %s", type(error).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        if depths is None:
            return  # a broker whose queues cannot be read without taking from them
        length = GaugeMetricFamily(
            "lcr_celery_queue_length", "Tasks waiting in the queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "lcr_celery_queue_oldest_task_seconds",
            "How long the oldest task in the queue has waited (0 when the queue is empty).",
            labels=["queue"],
        )
        for depth in depths:
            length.add_metric([depth.queue], depth.length)
            oldest.add_metric([depth.queue], depth.oldest_seconds or 0.0)
        yield length
        yield oldest


class Guarded(Collector):
    """A collector that reads the database or the broker: if it fails, the scrape still answers,
    and lcr_metrics_collector_up says which part is missing."""

    def __init__(self, name: str, inner: Collector) -> None:
        self.name, self.inner = name, inner

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "lcr_metrics_collector_up",
            "1 when this part of the metrics could be read at this scrape.",
            labels=["collector"],
        )
        try:
            families = list(self.inner.collect())
        except Exception as error:
            logger.warning("metrics: %s could not be read: %s", self.name, type(error).__name__)
            up.add_metric([self.name], 0.0)
            yield up
            return
        up.add_metric([self.name], 1.0)
        yield up
        yield from families


def exposition() -> bytes:
    """Every metric, in Prometheus's text format: this process's own (or, in multiprocess mode,
    all processes' sharing PROMETHEUS_MULTIPROC_DIR), then what is read at scrape time."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(Guarded("sources", SourceHealthCollector()))
    scraped.register(QueueCollector())
    return generate_latest(processes) + generate_latest(scraped)


def may_scrape(request: HttpRequest) -> bool:
    return may_scrape_with(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )


def may_scrape_with(*, authorization: str, remote_addr: str) -> bool:
    """The configured bearer token, or a configured address (REMOTE_ADDR: what the socket
    says, never a header a client could set)."""
    token = settings.LCR_METRICS_TOKEN
    scheme, _, given = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(entry, strict=False)
        for entry in settings.LCR_METRICS_ALLOWED_ADDRESSES
    ]


@login_not_required
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """For Prometheus only; anyone else is told there is nothing here."""
    if request.method != "GET" or not may_scrape(request):
        return render(request, "404.html", status=404)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
