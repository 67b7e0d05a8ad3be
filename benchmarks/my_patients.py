"""Benchmark: "my patients" for a team that cares for 5,000 of 1,000,000 patients, on PostgreSQL.

Compares access.selectors.my_patients (first page and count) with django-guardian's stock
get_objects_for_user for the same user, and prints each one's median, p95 and query count; then
the home page itself through Django's test client, its median CPU (the process's time) and
database time (spent in the statements' round trips), the figures the load test gives per request.

    .venv/bin/python -m benchmarks.my_patients  (database: DATABASE_URL, or lcr_bench_access on
    the local PostgreSQL; --scale 0.01 for a quick run; the data is reused while its size matches)
"""

import io
import json
import re
import statistics
import sys
import time

from benchmarks import postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lcr_bench_access"


def main() -> None:
    options = postgres.options(__doc__, repeats=30)
    postgres.setup_django(DEFAULT_URL)
    from django.db import connection

    patients = int(1_000_000 * options.scale)
    related = int(5_000 * options.scale)
    user = _population(patients, related)

    from django.db import reset_queries
    from django.test.utils import CaptureQueriesContext
    from guardian.shortcuts import get_objects_for_user

    from access.policy import actor_for
    from access.selectors import my_patients_page
    from records.models import Patient

    actor = actor_for(user)

    def ours() -> tuple[list, int]:
        page = my_patients_page(actor, 1)
        return list(page), page.paginator.count

    def guardians() -> tuple[list, int]:
        chosen = get_objects_for_user(
            user,
            "records.view_record",
            klass=Patient,
            accept_global_perms=False,
            with_superuser=False,
        ).order_by("family_name", "given_names", "pk")
        return list(chosen[:50]), chosen.count()

    results = {}
    for name, run in (("my_patients_page", ours), ("guardian get_objects_for_user", guardians)):
        run()  # warm the caches once
        times = []
        for _ in range(options.repeats):
            reset_queries()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                page, count = run()
                times.append(time.perf_counter() - started)
        if count != related or len(page) != min(50, related):
            sys.exit(f"{name} found {count} patients ({len(page)} on the page), not {related}")
        times.sort()
        results[name] = {
            "median_ms": statistics.median(times) * 1000,
            "p95_ms": times[int(0.95 * (len(times) - 1))] * 1000,
            "queries": len(queries),
        }
    home = _home_page(user, options.repeats, related)
    ratio = (
        results["my_patients_page"]["median_ms"]
        / results["guardian get_objects_for_user"]["median_ms"]
    )
    print(f"{patients:,} patients; the team cares for {related:,} (first page of 50 and the count)")
    print(f"{'query':<34} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for name, figures in results.items():
        median, p95, queries = figures["median_ms"], figures["p95_ms"], figures["queries"]
        print(f"{name:<34} {median:10.1f} {p95:8.1f} {queries:8}")
    print(f"my_patients_page / guardian median: {ratio:.2f}")
    print(
        f"home page: CPU {home['cpu_median_ms']:.1f} ms + DB {home['db_median_ms']:.1f} ms "
        f"(medians), wall {home['median_ms']:.1f} ms, {home['queries']} queries"
    )
    options.results.mkdir(parents=True, exist_ok=True)
    (options.results / "my_patients.json").write_text(
        json.dumps(
            {
                "patients": patients,
                "related": related,
                "results": results,
                "ratio": ratio,
                "home_page": home,
            },
            indent=2,
        )
    )


def _home_page(user, repeats: int, related: int) -> dict:
    """The home page of the team's GP, signed in: CPU (time.process_time) and database time (the
    statements' round trips, timed around each execute) per request, as medians."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    # As tests/conftest.py does: the test client speaks plain HTTP to "testserver", and pages
    # find static files through the finders, without a collectstatic manifest.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    postgres.check_connections_per_request()
    import lcr.wsgi  # noqa: F401 (as a gunicorn worker starts: every view loaded, then frozen)

    client = Client()
    client.force_login(user)
    in_database = [0.0, 0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            in_database[0] += time.perf_counter() - started
            in_database[1] += 1

    for _ in range(3):  # the session's activity stamped, the caches warm
        client.get("/")
    cpu, db, wall = [], [], []
    with connection.execute_wrapper(timed):
        for _ in range(repeats):
            in_database[:] = [0.0, 0]
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get("/")
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            db.append(in_database[0])
            if response.status_code != 200:
                sys.exit(f"the home page answered {response.status_code}")
    listed = len(re.findall(r'href="/patients/\d+/"', response.content.decode()))
    if listed < min(50, related):
        sys.exit(f"the home page listed {listed} patients, not {min(50, related)}")
    return {
        "cpu_median_ms": statistics.median(cpu) * 1000,
        "db_median_ms": statistics.median(db) * 1000,
        "median_ms": statistics.median(wall) * 1000,
        "queries": in_database[1],
    }


def _population(patients: int, related: int):
    """1,000,000 patients (by COPY), 2,000 teams holding grants, and one busy team with 5,000."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction

    from access.models import Role, Team
    from access.services import add_member, create_team
    from records.models import Patient

    users = get_user_model().objects
    setup, _ = users.get_or_create(username="bench-setup")
    if Patient.objects.count() == patients and Team.objects.filter(name="Busy practice").exists():
        return users.get(username="bench-gp")
    print(f"Building {patients:,} patients (once; reused while the size matches) ...", flush=True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Cascades to the audit trail, whose triggers refuse TRUNCATE: as the superuser the
            # benchmark connects as, with triggers off for this transaction.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "TRUNCATE records_patient, access_team, auth_group RESTART IDENTITY CASCADE"
            )
            # Triggers on again for the data: the database copies each relationship's patient's
            # names (access migration 0012), as it does for every writer.
            cursor.execute("SET LOCAL session_replication_role = origin")
        with connection.cursor() as cursor:
            rows = io.StringIO()
            empty = "\t".join([""] * 8)  # prefix, address, city, phone, email, GP practice, GP
            stamp = "2026-01-01 00:00:00+00"
            for n in range(patients):
                rows.write(
                    f"{9_000_000_000 + n:010d}\tGiven{n % 977}\tFamily{n % 15013}\t"
                    f"{1930 + n % 90}-{1 + n % 12:02d}-{1 + n % 28:02d}\tunknown\t"
                    f"E{1 + n % 20} 1AA\t{empty}\t{stamp}\t{stamp}\tU\n"
                )
            rows.seek(0)
            with cursor.cursor.copy(
                "COPY records_patient (nhs_number, given_names, family_name, birth_date, sex, "
                "postcode, prefix, address_lines, city, phone, email, gp_practice_ods_code, "
                "gp_practice_name, gp_name, created_at, updated_at, confidentiality) FROM STDIN"
            ) as copy:
                copy.write(rows.read())
        teams = [
            create_team(name=f"Team {n}", ods_code=f"T{n}", kind="community_team", actor=setup)
            for n in range(1999)
        ]
        busy = create_team(name="Busy practice", ods_code="F0", kind="gp_practice", actor=setup)
        user, _ = users.get_or_create(username="bench-gp")
        add_member(team=busy, user=user, role=Role.GP, reason="bench", actor=setup)
        permission = Permission.objects.get(codename="view_record")
        first = Patient.objects.order_by("pk").values_list("pk", flat=True).first()
        grants, relationships = io.StringIO(), io.StringIO()
        # Every other team holds grants too, so that the tables are the size they would be.
        for n, team in enumerate([busy, *teams]):
            count = related if team is busy else max(1, related // 5)
            for k in range(count):
                patient = first + (n * 7919 + k * 104729) % patients
                grants.write(f"{team.group_id}\t{permission.pk}\t{patient}\n")
                relationships.write(
                    f"{patient}\t{team.pk}\tregistered_gp\t2026-01-01\tbench\t{setup.pk}\t"
                    "2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t\n"
                )
        with connection.cursor() as cursor:
            grants.seek(0)
            with cursor.cursor.copy(
                "COPY access_patientgroupobjectpermission (group_id, permission_id, "
                "content_object_id) FROM STDIN"
            ) as copy:
                copy.write(grants.read())
            relationships.seek(0)
            with cursor.cursor.copy(
                "COPY access_carerelationship (patient_id, team_id, kind, starts_on, reason, "
                "created_by_id, created_at, granted_at, end_reason) FROM STDIN"
            ) as copy:
                copy.write(relationships.read())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, on a database in use
    return user


if __name__ == "__main__":
    main()
