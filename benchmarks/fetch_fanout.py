"""Benchmark: fetch one patient's whole record from five sources through a real Celery worker.

Each simulated source adds its own latency to every request. The fan-out total is printed as a
ratio to the slowest source fetched alone (the ideal is 1.0; fetching one source after another
would be about the sum of all five).

    .venv/bin/python -m benchmarks.fetch_fanout [--repeats 5]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Far beyond the slowest source (0.25 s a request): a lost task or a dead worker, not a slow one.
WAIT_SECONDS = 60
LATENCY_MS = {"gp": 50, "acute": 100, "community": 150, "mental_health": 200, "social_care": 250}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    options = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="lcr-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    # The embedded default broker, as `make run` uses it, unless CELERY_BROKER_URL says otherwise.
    os.environ.setdefault("CELERY_BROKER_DIR", str(scratch / "broker"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    os.environ["LCR_SNAPSHOT_FRESH_SECONDS"] = "0"  # every look is a fetch
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from celery.contrib.testing.worker import start_worker
    from django.core.management import call_command
    from django.db.models import Q

    from demo.load import register_population, register_sources
    from demo.population import generate
    from demo.sources import Behaviour, serve_all
    from lcr.celery import app
    from records.fetching import fetch_link, request_refresh
    from records.identity_sync import sync_source_identities
    from records.models import Link, Patient, Snapshot
    from records.sources.gp_connect import NOT_CARRIED

    app.conf.task_default_queue = f"lcr-bench-{os.getpid()}"
    call_command("migrate", verbosity=0)

    population = generate(seed=7, patients=20)
    person = population.people[0]  # known to all five sources
    servers = serve_all(population, base_port=0, gp_connect=True)  # the GP as GP Connect
    try:
        register_population(population)
        for source in register_sources(population, servers=servers):
            sync_source_identities(source_id=source.pk)
        for server in servers:
            server.behaviour = Behaviour(latency_ms=LATENCY_MS[server.source.key])
        patient = Patient.objects.get(nhs_number=person.nhs_number)
        links = list(Link.objects.filter(patient=patient).select_related("source"))

        alone = {}
        for link in links:
            times = []
            for _ in range(options.repeats):
                started = time.perf_counter()
                fetch_link(link_id=link.pk, categories=_all(), final_attempt=True)
                times.append(time.perf_counter() - started)
            alone[link.source.name] = statistics.median(times)

        fanned = []
        # A real worker in this process (threads pool), on the configured broker.
        with start_worker(app, pool="threads", concurrency=8, perform_ping_check=False):
            for _ in range(options.repeats):
                Snapshot.objects.all().delete()
                started = time.perf_counter()
                request_refresh(patient=patient)
                # Settled: every heading of every source answered. A GP Connect practice's
                # headings its structured record does not carry end failed at once, saying so.
                while Snapshot.objects.exclude(
                    Q(status=Snapshot.Status.FRESH)
                    | Q(status=Snapshot.Status.FAILED, reason=NOT_CARRIED)
                ).exists() or (Snapshot.objects.count() < len(links) * len(_all())):
                    if time.perf_counter() - started > WAIT_SECONDS:
                        sys.exit(f"the worker fetched {_states()} in {WAIT_SECONDS} s; gave up")
                    time.sleep(0.01)
                fanned.append(time.perf_counter() - started)
    finally:
        for server in servers:
            server.stop()

    slowest, total = max(alone.values()), statistics.median(fanned)
    sequential = sum(alone.values())
    print(f"{'source (alone)':<50} {'seconds':>8}")
    for name, seconds in sorted(alone.items(), key=lambda item: item[1]):
        print(f"{name:<50} {seconds:8.3f}")
    print(f"{'sequential (sum of the five)':<50} {sequential:8.3f}")
    print(f"{'fan-out through Celery (median)':<50} {total:8.3f}")
    print(
        f"ratio to the slowest source: {total / slowest:.2f} (ideal 1.0; sequential would be "
        f"{sequential / slowest:.2f})"
    )
    options.results.mkdir(parents=True, exist_ok=True)
    (options.results / "fetch_fanout.json").write_text(
        json.dumps(
            {
                "latency_ms": LATENCY_MS,
                "alone_seconds": alone,
                "sequential_seconds": sequential,
                "fanout_seconds": fanned,
                "ratio_to_slowest": total / slowest,
                "sequential_ratio": sequential / slowest,
                "broker": app.conf.broker_url.split("@")[-1],
                "database": os.environ["DATABASE_URL"].split("@")[-1],
            },
            indent=2,
        )
    )


def _states() -> dict[str, int]:
    from django.db.models import Count

    from records.models import Snapshot

    counted = Snapshot.objects.values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in counted}


def _all() -> list[str]:
    from records.categories import ALL_CATEGORIES

    return list(ALL_CATEGORIES)


if __name__ == "__main__":
    main()
