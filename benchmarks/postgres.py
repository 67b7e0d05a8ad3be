"""What the PostgreSQL benchmarks share: their options, their own database, and timing."""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def options(description: str, *, repeats: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args()


def setup_django(default_url: str) -> None:
    """Point Django at the benchmark's own database (made if missing) and migrate it."""
    os.environ.setdefault("DATABASE_URL", default_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    sys.path.insert(0, str(ROOT))
    create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("This benchmark runs on PostgreSQL: set DATABASE_URL to a postgres:// URL.")
    call_command("migrate", verbosity=0)


def use_shared_cache(url: str = "redis://127.0.0.1:6379/14") -> str:
    """Run as production does, with the cache every process shares (sessions are read from it),
    when Redis is there; otherwise the embedded default (sessions in the database)."""
    import socket

    if "CACHE_URL" in os.environ:
        return os.environ["CACHE_URL"]
    host, port = url.split("//")[1].split("/")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return "no shared cache (Redis not reachable): sessions in the database"
    os.environ["CACHE_URL"] = url
    return url


def create_database(url: str) -> None:
    """Create the benchmark's own database if it is missing (never the one you work in)."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def timed(run: Callable[[], object], repeats: int, warm_up: int = 1) -> dict[str, float]:
    """Median and p95, in milliseconds, of `repeats` calls after `warm_up` unmeasured ones."""
    for _ in range(warm_up):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(0.95 * (len(times) - 1))] * 1000,
    }
