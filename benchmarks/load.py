"""Benchmark: the product served as production runs it (gunicorn, a Celery worker, PostgreSQL,
Redis, the simulated sources), under locust at 1, 4, 16 and 64 concurrent users.

On the London data of benchmarks.london (--scale), in a database of its own: the busy team's
staff signed in beforehand (sessions written as a sign-in writes them, assurance level 3), its
EPR through the partner API (a client-credentials token), and an A&E clinician's emergency access
now and then (benchmarks/load_users.py). For each concurrency, for --seconds: requests/s,
p50/p95/p99, errors, the web and worker processes' CPU per request, PostgreSQL's time per
request, and the access events written against the looks made; then every audit chain's
events since the start, checked link by link. Exits 1 if a request failed, a look left no access
event or a chain is broken.

With --hosts N, N hosts (a gunicorn and a Celery worker each, environments of their own, sharing
PostgreSQL and Redis) behind HAProxy, and the checks across them first: benchmarks/load_hosts.py.

    .venv/bin/python -m benchmarks.load [--scale 0.01] [--users 1,4,16,64] [--seconds 30]
        [--hosts 2]
    (database: DATABASE_URL, or lcr_bench_load on the local PostgreSQL; Redis on 127.0.0.1:6379,
    databases 10 and 11: CACHE_URL, CELERY_BROKER_URL)
"""

import argparse
import base64
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from benchmarks import load_hosts, london_data, postgres
from benchmarks.london import _commit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lcr_bench_load"
CACHE_URL = "redis://127.0.0.1:6379/10"
BROKER_URL = "redis://127.0.0.1:6379/11"
API_SECRET = "bench-load-secret-of-its-own-database"  # noqa: S105 (its own database)
# The locustfile's request names that are looks: each must leave one access event.
RECORD = "record page"
EMERGENCY_RECORD = "record page under emergency access"
API_SUMMARY = "API $summary"
LOOKS = (RECORD, EMERGENCY_RECORD, API_SUMMARY)
VAR = postgres.ROOT / "var" / "bench-load"
PYTHON = sys.executable


def request_id_of(run: str, name: str, number: int) -> str:
    """The X-Request-ID a request of the load is sent with: its run, its kind and a number (the
    product keeps it in the access event when it is plain: audit.request_context)."""
    return f"{run}-{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')}-{number}"


def main() -> int:
    options = _options()
    os.environ.setdefault("CACHE_URL", CACHE_URL)
    os.environ.setdefault("CELERY_BROKER_URL", BROKER_URL)
    os.environ.setdefault("HTTPS_ONLY", "false")  # plain HTTP on loopback, as make run serves
    os.environ["LCR_PORT"] = str(options.port)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    postgres.setup_django(DEFAULT_URL)
    sizes = london_data.ensure(options.scale)
    scene = _scene(options)
    VAR.mkdir(parents=True, exist_ok=True)
    scene_file = VAR / "scene.json"
    scene_file.write_text(json.dumps(scene))

    from audit.integrity import chain_heads, verify_appended
    from demo.supervisor import Supervisor

    supervisor = Supervisor(env=_environment(scene_file), cwd=postgres.ROOT, logs=VAR)
    hosts = _hosts(options, supervisor.env)
    # Stopped whole whatever happens: Ctrl-C, SIGTERM (a CI timeout) or an error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    heads = chain_heads()
    checks = []
    try:
        _start(supervisor, options, hosts)
        scene["api_token"] = _api_token(options, scene)
        scene_file.write_text(json.dumps(scene))
        if len(hosts) > 1:
            run = f"hosts{int(time.time())}"
            checks = load_hosts.across_hosts(hosts, scene, run=run, request_id=request_id_of)
        levels = [_level(supervisor, options, users, scene_file) for users in options.users]
    finally:
        supervisor.stop()
    return _report(options, sizes, levels, checks, verify_appended(heads))


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--users", default="1,4,16,64", help="concurrencies, one run each")
    parser.add_argument("--seconds", type=int, default=60, help="how long each concurrency runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="Celery pool size")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--source-port", type=int, default=8401, help="first of 5 sources")
    parser.add_argument(
        "--hosts", type=int, default=1, help="hosts behind a proxy on --port (HAProxy)"
    )
    parser.add_argument(
        "--host-port", type=int, help="the first host's port (default: after the sources')"
    )
    parser.add_argument("--results", type=Path, default=postgres.ROOT / "benchmarks" / "results")
    options = parser.parse_args()
    options.users = [int(n) for n in options.users.split(",")]
    if options.host_port is None:
        options.host_port = options.source_port + 5
    return options


def _scene(options: argparse.Namespace) -> dict:
    """Sources pointed at the simulated ones, sessions signed in, an API client; what locust
    needs, as JSON (no patient data leaves this machine: it is all synthetic)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from access.models import ApiClient, Membership, Role
    from access.services import register_api_client
    from records.models import SourceSystem

    for n, source in enumerate(SourceSystem.objects.order_by("ods_code")):
        base = f"http://127.0.0.1:{options.source_port + n}/fhir"
        SourceSystem.objects.filter(pk=source.pk).update(base_url=base)
    users = get_user_model().objects
    busy = Membership.objects.get(user__username="user0").team
    gps = [m.user for m in Membership.objects.filter(team=busy).select_related("user")]
    ae = Membership.objects.filter(team__kind="ae_department").select_related("user", "team")[0]
    setup, _ = users.get_or_create(username="bench-setup")
    client = ApiClient.objects.filter(name="Bench load EPR").first()
    if client is None:
        client, _ = register_api_client(
            name="Bench load EPR", team=busy, role=Role.GP, scopes=["patient.read"],
            rate="100000000/min", actor=setup, client_secret=API_SECRET,
        )  # fmt: skip
    columns = "p.id, p.nhs_number, p.family_name, to_char(p.birth_date, 'DD/MM/YYYY')"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM records_patient p JOIN access_carerelationship r "  # noqa: S608 (fixed text)
            "ON r.patient_id = p.id WHERE r.team_id = %s AND r.ended_at IS NULL ORDER BY p.id",
            [busy.pk],
        )
        patients = cursor.fetchall()
        # Nobody the A&E team cares for, nor anyone this clinician has reached before.
        cursor.execute(
            f"SELECT {columns} FROM records_patient p WHERE NOT EXISTS (SELECT 1 FROM "  # noqa: S608
            "access_carerelationship r WHERE r.patient_id = p.id AND r.team_id = %s) "
            "AND NOT EXISTS (SELECT 1 FROM access_breakglassaccess b WHERE b.patient_id = p.id "
            "AND b.user_id = %s) ORDER BY p.id DESC LIMIT 5000",
            [ae.team_id, ae.user_id],
        )
        emergencies = cursor.fetchall()

    def as_dicts(rows: list[tuple]) -> list[dict]:
        keys = ("id", "nhs_number", "family_name", "birth_date")
        found = [dict(zip(keys, row, strict=True)) for row in rows]
        for patient in found:  # as the pages show it (3 3 4): what a page must hold
            number = patient["nhs_number"]
            patient["shown_nhs_number"] = f"{number[:3]} {number[3:6]} {number[6:]}"
        return found

    most = max(options.users)
    return {
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "busy_team_id": busy.pk,
        "gp_sessions": [_signed_in(gps[n % len(gps)]) for n in range(most)],
        "sign_out_session": _signed_in(gps[0]),  # for load_hosts' check: signed out on one host
        "ae_sessions": [_signed_in(ae.user) for _ in range(min(most, 4))],
        "patients": as_dicts(patients),
        "emergency_patients": as_dicts(emergencies),
        "api_client_id": client.application.client_id,
        "api_client_secret": API_SECRET,
    }


def _signed_in(user) -> str:
    """A session as lcr.sign_in_views writes one after a smartcard sign-in through CIS2 (assurance
    level 3: two factors proved to the provider, as lcr.signin.SecondFactorRequired accepts)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.module_loading import import_string

    from lcr.signin import SESSION_ASSURANCE, SESSION_SIGNED_IN_AT

    session = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[SESSION_ASSURANCE] = 3
    session[SESSION_SIGNED_IN_AT] = time.time()
    session.save()
    return session.session_key


def _environment(scene_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["LCR_LOAD_SCENE"] = str(scene_file)
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def _hosts(options: argparse.Namespace, env: dict[str, str]) -> list[load_hosts.Host]:
    """One host on --port; or --hosts of them from --host-port on, behind the proxy."""
    if options.hosts == 1:
        return [load_hosts.Host(1, options.port, env)]
    from django.conf import settings

    shared = load_hosts.deployment_env(env, settings.SECRET_KEY)
    return load_hosts.hosts_of(options.hosts, options.host_port, shared, VAR)


def _start(supervisor, options: argparse.Namespace, hosts: list[load_hosts.Host]) -> None:
    """The simulated sources (all FHIR R4, as the London data's sources speak), then on each
    host a Celery worker and gunicorn, as demo.launch starts them (static files collected
    first), and the proxy in front when there are several; each waited for."""
    sources = [PYTHON, "-m", "demo.sources", "--patients", "40", "--fhir-r4-gp"]
    sources += ["--base-port", str(options.source_port), "--log-level", "WARNING"]
    supervisor.start("sources", sources)
    for n in range(5):
        _wait_for(supervisor, f"http://127.0.0.1:{options.source_port + n}/fhir/metadata")
    alone = len(hosts) == 1
    for host in hosts:
        manage = [PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0"]
        subprocess.run(manage, env=host.env, cwd=postgres.ROOT, check=True)  # noqa: S603
        worker = [PYTHON, "-m", "celery", "-A", "lcr", "worker", "--loglevel", "WARNING"]
        worker += ["--concurrency", str(options.worker_concurrency)]
        worker += [] if alone else ["--hostname", f"{host.name}@%h"]
        supervisor.start("worker" if alone else f"worker-{host.name}", worker, host.env)
        web = [PYTHON, "-m", "gunicorn", "lcr.wsgi", "--bind", f"127.0.0.1:{host.port}"]
        web += ["--workers", str(options.workers), "--threads", str(options.threads)]
        # gunicorn's control socket is one per machine by default: one per host here.
        web += [] if alone else ["--control-socket", str(VAR / host.name / "gunicorn.ctl")]
        supervisor.start("web" if alone else f"web-{host.name}", web, host.env)
    for host in hosts:
        _wait_for(supervisor, f"{host.url}/healthz")
    if not alone:
        supervisor.start("proxy", load_hosts.proxy_command(options.port, hosts, VAR))
        _wait_for(supervisor, f"http://127.0.0.1:{options.port}/healthz")


def _api_token(options: argparse.Namespace, scene: dict) -> str:
    """The EPR's token, from the token endpoint by client credentials (benchmarks.api_read)."""
    pair = f"{scene['api_client_id']}:{scene['api_client_secret']}".encode()
    asked = urllib.request.Request(
        f"http://127.0.0.1:{options.port}/api/oauth/token/",
        data=b"grant_type=client_credentials",
        headers={"Authorization": "Basic " + base64.b64encode(pair).decode(),
                 "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    with urllib.request.urlopen(asked, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())["access_token"]


def _wait_for(supervisor, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stopped = supervisor.stopped()
        if stopped is not None:
            raise RuntimeError(f"{stopped.name} stopped; see {supervisor.log_of(stopped.name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our loopback)
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"nothing answered at {url} within a minute")


def _level(supervisor, options: argparse.Namespace, users: int, scene_file: Path) -> dict:
    """One concurrency for --seconds: locust's figures, and the server's CPU, DB time and
    access events over the same span."""
    prefix = VAR / f"locust-{users}"
    command = [PYTHON, "-m", "locust", "-f", str(postgres.ROOT / "benchmarks" / "load_users.py")]
    command += ["--headless", "--users", str(users), "--spawn-rate", str(users)]
    command += ["--run-time", f"{options.seconds}s", "--host", f"http://127.0.0.1:{options.port}"]
    command += ["--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--stop-timeout"]
    command += ["10"]
    print(f"  {users} user(s) for {options.seconds} s ...", flush=True)
    run = f"load{int(time.time())}u{users}"
    looks_file = VAR / f"looks-{users}.json"
    looks_file.unlink(missing_ok=True)
    env = {**supervisor.env, "LCR_LOAD_RUN": run, "LCR_LOAD_LOOKS": str(looks_file)}
    before = _server_counters(supervisor)
    served_before = _served_by_host(options)
    done = subprocess.run(  # noqa: S603 (our own command)
        command, env=env, cwd=postgres.ROOT, capture_output=True, text=True
    )
    time.sleep(1.5)  # PostgreSQL publishes a session's statistics at most once a second
    after = _server_counters(supervisor)
    served_after = _served_by_host(options)
    stopped = supervisor.stopped()
    if stopped is not None:
        raise RuntimeError(f"{stopped.name} stopped; see {supervisor.log_of(stopped.name)}")
    rows = _locust_rows(prefix, done)
    total = rows.pop("Aggregated")
    requests = total["requests"] or 1
    if not looks_file.exists():
        raise RuntimeError(f"locust wrote no looks (exit {done.returncode}): {done.stderr[-2000:]}")
    looks = json.loads(looks_file.read_text())
    trail = _events_by_request(run)
    return {
        "users": users,
        "seconds": options.seconds,
        **total,
        "cpu_ms_per_request": (after["cpu"] - before["cpu"]) * 1000 / requests,
        "db_ms_per_request": (after["db_ms"] - before["db_ms"]) / requests,
        "db_time_from": after["db_from"],
        "looks": len(looks),
        "access_events": after["events"] - before["events"],
        "looks_without_event": [rid for rid in looks if trail.get(rid, 0) == 0],
        "looks_with_more_than_one_event": [rid for rid in looks if trail.get(rid, 0) > 1],
        "events_of_other_requests": _other_events(trail, set(looks)),
        "by_request": rows,
        "failures_seen": _failures(prefix),
        "requests_by_host": {
            host: served_after[host] - served_before.get(host, 0) for host in served_after
        },
    }


def _served_by_host(options: argparse.Namespace) -> dict[str, int]:
    """The proxy's count of requests each host was sent (nothing with a single host)."""
    return load_hosts.requests_by_host(VAR) if options.hosts > 1 else {}


def _events_by_request(run: str) -> dict[str, int]:
    """Access events written for the run's requests, by request id."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT request_id, count(*) FROM audit_accessevent WHERE request_id LIKE %s "
            "AND occurred_at > now() - interval '1 day' GROUP BY request_id",
            [f"{run}-%"],
        )
        return dict(cursor.fetchall())


def _other_events(trail: dict[str, int], looks: set[str]) -> dict[str, int]:
    """Events of requests that are not looks of a record, by kind of request (an emergency
    access's start, an API search that found someone: each recorded as a look at who they are)."""
    kinds: dict[str, int] = {}
    for request_id, count in trail.items():
        if request_id not in looks:
            kind = request_id.split("-")[1]
            kinds[kind] = kinds.get(kind, 0) + count
    return kinds


def _server_counters(supervisor) -> dict:
    """CPU seconds of the web and worker processes (and all they started), PostgreSQL's time in
    statements, and the access events stored."""
    from django.db import connection

    cpu = 0.0
    for child in supervisor.children:
        if not child.name.startswith(("web", "worker")):
            continue
        main = psutil.Process(child.process.pid)
        for process in [main, *main.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            cpu += times.user + times.system
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accessevent")
        events = cursor.fetchone()[0]
        db_ms, db_from = _db_time(cursor)
    return {"cpu": cpu, "events": events, "db_ms": db_ms, "db_from": db_from}


def _db_time(cursor) -> tuple[float, str]:
    """pg_stat_statements' total execution time when the server loads it, else pg_stat_database's
    active_time (time sessions spent running statements in this database); both include this
    benchmark's own few counting queries, which are noise beside the load's."""
    cursor.execute(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements' "
        "AND current_setting('shared_preload_libraries') LIKE '%%pg_stat_statements%%'"
    )
    if cursor.fetchone():
        cursor.execute(
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
        )
        return float(cursor.fetchone()[0]), "pg_stat_statements total_exec_time"
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute("SELECT active_time FROM pg_stat_database WHERE datname = current_database()")
    return float(cursor.fetchone()[0]), "pg_stat_database active_time"


def _locust_rows(prefix: Path, done: subprocess.CompletedProcess) -> dict[str, dict]:
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(
            f"locust wrote no figures (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    rows = {}
    with stats.open() as lines:
        for row in csv.DictReader(lines):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_second": float(row["Requests/s"]),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
            }
    return rows


def _number(text: str) -> float | None:
    return None if text in ("", "N/A") else float(text)


def _failures(prefix: Path) -> list[dict]:
    failures = Path(f"{prefix}_failures.csv")
    if not failures.exists():
        return []
    with failures.open() as lines:
        return list(csv.DictReader(lines))


def _hosts_said(options: argparse.Namespace) -> str:
    if options.hosts == 1:
        return ""
    return f"{options.hosts} hosts behind HAProxy (round robin), each with "


def _report(
    options: argparse.Namespace,
    sizes: london_data.Sizes,
    levels: list[dict],
    checks: list[load_hosts.Check],
    trail,
) -> int:
    """The tables, the checks across hosts and the audit trail's verdict; JSON; exit status."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    commit = _commit()
    print(
        f"\ncommit {commit}: {sizes.patients:,} patients, busy team of {sizes.busy:,}; "
        f"{_hosts_said(options)}gunicorn "
        f"{options.workers} x {options.threads} threads, Celery pool {options.worker_concurrency}; "
        f"{options.seconds} s per concurrency; DB time from {levels[0]['db_time_from']}\n"
    )
    print(
        "| users | req/s | p50 ms | p95 ms | p99 ms | errors | CPU ms/req | DB ms/req "
        "| looks | their events | events, all |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for level in levels:
        print(
            f"| {level['users']} | {level['requests_per_second']:.1f} | {ms(level['p50_ms'])} "
            f"| {ms(level['p95_ms'])} | {ms(level['p99_ms'])} | {level['failures']} "
            f"| {level['cpu_ms_per_request']:.1f} | {level['db_ms_per_request']:.1f} "
            f"| {level['looks']} | {level['looks'] - len(level['looks_without_event'])} "
            f"| {level['access_events']} |"
        )
    print("\n| users | request | count | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for level in levels:
        for name, row in level["by_request"].items():
            print(
                f"| {level['users']} | {name} | {row['requests']} | "
                f"{row['requests_per_second']:.1f} | {ms(row['p50_ms'])} | {ms(row['p95_ms'])} "
                f"| {ms(row['p99_ms'])} | {row['failures']} |"
            )
    if options.hosts > 1:
        names = sorted(levels[0]["requests_by_host"])
        print(f"\n| users | {' | '.join(names)} |")
        print(f"| ---: |{' ---: |' * len(names)}")
        for level in levels:
            served = level["requests_by_host"]
            print(f"| {level['users']} | {' | '.join(str(served[n]) for n in names)} |")
    if checks:
        print("\n| across hosts | | what was seen |")
        print("| --- | --- | --- |")
        for check in checks:
            print(f"| {check.what} | {'ok' if check.ok else 'FAILED'} | {check.said} |")
    chains_said = (
        f"{trail.events} access events appended to {trail.chains} chains during the run: "
        + ("intact, link by link" if not trail.problems else "BROKEN")
    )
    print(f"\nAudit trail: {chains_said}")
    options.results.mkdir(parents=True, exist_ok=True)
    hosts_part = f"-hosts{options.hosts}" if options.hosts > 1 else ""
    name = options.results / f"load-{options.scale:g}{hosts_part}.json"
    data = {
        "scale": options.scale,
        "sizes": sizes.__dict__,
        "commit": commit,
        "workers": options.workers,
        "threads": options.threads,
        "worker_concurrency": options.worker_concurrency,
        "hosts": options.hosts,
        "checks_across_hosts": [check.__dict__ for check in checks],
        "audit_trail": {
            "events_appended": trail.events,
            "chains": trail.chains,
            "problems": trail.problems,
        },
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "levels": levels,
    }
    name.write_text(json.dumps(data, indent=2))
    print(f"\nJSON: {name}")
    problems = []
    for level in levels:
        if level["failures"]:
            seen = "; ".join(
                f"{f['Method']} {f['Name']}: {f['Error']} ({f['Occurrences']})"
                for f in level["failures_seen"]
            )
            problems.append(f"{level['failures']} request(s) failed at {level['users']}: {seen}")
        missing = level["looks_without_event"]
        if missing:
            problems.append(
                f"{len(missing)} look(s) left no access event at {level['users']} users: "
                f"{', '.join(missing[:10])}"
            )
        doubled = level["looks_with_more_than_one_event"]
        if doubled:
            problems.append(f"{len(doubled)} look(s) left more than one event: {doubled[:10]}")
        if options.hosts > 1 and not all(level["requests_by_host"].values()):
            problems.append(f"a host served nothing at {level['users']}: the proxy did not spread")
    problems += [f"across hosts, {c.what}: {c.said}" for c in checks if not c.ok]
    problems += [f"audit trail: {problem}" for problem in trail.problems]
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
