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


def check_connections_per_request() -> None:
    """Let the test client's requests start and end as a server's do. Django's handler, on both,
    closes a connection past its CONN_MAX_AGE and marks it to be checked (with
    CONN_HEALTH_CHECKS, a `SELECT 1` before the request's first query); the test client takes
    that receiver off for its requests (it keeps one connection), so without this the check's
    round trip is neither timed nor counted."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    def as_a_server_does(**kwargs) -> None:
        close_old_connections(**kwargs)

    request_started.connect(as_a_server_does, weak=False)
    request_finished.connect(as_a_server_does, weak=False)


def count_statements(run: Callable[[], object]) -> int:
    """How many statements the server ran for `run`'s database connections, read from the wire:
    libpq's trace of every answer, one CommandComplete (or ErrorResponse) a statement. It sees
    what Django's query log cannot: psycopg's own BEGIN and COMMIT, and the health check's
    `SELECT 1` on a bare psycopg cursor. Slow (every row is written to the trace): count a few
    requests apart from the timed ones."""
    import tempfile

    import psycopg
    from django.db import connections
    from django.db.backends.signals import connection_created

    traces: list = []

    def trace(wrapper) -> None:
        if wrapper.vendor != "postgresql" or wrapper.connection is None:
            return
        file = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, once read)
        pgconn = wrapper.connection.pgconn
        pgconn.trace(file.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append((pgconn, file))

    def created(sender, connection, **kwargs) -> None:  # a reconnection (CONN_MAX_AGE) on the way
        trace(connection)

    for wrapper in connections.all(initialized_only=True):
        trace(wrapper)
    connection_created.connect(created, weak=False)
    try:
        run()
    finally:
        connection_created.disconnect(created)
        answers = 0
        for pgconn, file in traces:
            pgconn.untrace()  # harmless on a connection closed meanwhile
            file.seek(0)
            answers += sum(
                1 for line in file if line.startswith(b"B\t") and line.split(b"\t", 3)[2] in ANSWERS
            )
            file.close()
    return answers


ANSWERS = (b"CommandComplete", b"ErrorResponse", b"EmptyQueryResponse")
