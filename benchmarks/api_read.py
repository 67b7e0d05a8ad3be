"""Benchmark: one patient-read API call with cached data against a bare indexed lookup of the rows
it serves, on PostgreSQL, in one process.

The call is GET /api/v1/fhir/Patient/<id>/record/allergies through Django's whole stack in
process (middleware, OAuth2 token check, scope, rate limit, access.policy, the access event,
FHIR Bundle serialisation) for a patient with fresh snapshots from five sources; the baseline
is the SELECT of those five snapshot rows by their unique (link, category) index. Prints
medians, p95s, their ratio and requests per second. With --summary, the call is `$summary` of
the record `make bench` reads (5 sources x 11 headings x 10 items of the simulated sources'
resources), against the SELECT of its 55 snapshots; with --profile, where a call's time goes.

    .venv/bin/python -m benchmarks.api_read  (database: DATABASE_URL, or lcr_bench_api on the
    local PostgreSQL; --repeats N, --summary, --profile)
"""

import cProfile
import datetime
import json
import pstats
import statistics
import sys
import time

from benchmarks import postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lcr_bench_api"
ITEMS_PER_SOURCE = 10


def main() -> None:
    summary = "--summary" in sys.argv
    profile = "--profile" in sys.argv
    sys.argv = [arg for arg in sys.argv if arg not in ("--summary", "--profile")]
    options = postgres.options(__doc__, repeats=500)
    postgres.setup_django(DEFAULT_URL)
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.SECURE_SSL_REDIRECT = False
    patient, link_ids, client_id, secret = _scene(summary)
    http = Client()
    form = {"grant_type": "client_credentials"}
    answer = http.post("/api/oauth/token/", form, HTTP_AUTHORIZATION=_basic(client_id, secret))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}",
               "HTTP_X_END_USER": "bench.user"}  # fmt: skip
    url = f"/api/v1/fhir/Patient/{patient.pk}/record/allergies"
    categories = ["allergies"]
    if summary:
        from records.categories import ALL_CATEGORIES

        url, categories = f"/api/v1/fhir/Patient/{patient.pk}/$summary", list(ALL_CATEGORIES)

    def api_call() -> None:
        response = http.get(url, **headers)
        if response.status_code != 200:
            raise SystemExit(f"the API answered {response.status_code}: {response.content[:300]}")

    def bare_lookup() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT items FROM records_snapshot WHERE link_id = ANY(%s) AND category = ANY(%s)",
                [link_ids, categories],
            )
            rows = cursor.fetchall()
        if len(rows) != len(link_ids) * len(categories):
            raise SystemExit("the snapshots are missing")

    api_call()
    queries: list[str] = []  # counted by a wrapper: Django clears its log as a request starts

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        api_call()
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(options.repeats):
            api_call()
        profiler.disable()
        options.results.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(options.results / "api_read.prof")
        stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
        stats.print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)
        return
    results = {
        "API call": postgres.timed(api_call, options.repeats, warm_up=20),
        "bare indexed lookup": postgres.timed(bare_lookup, options.repeats, warm_up=20),
    }
    for name, run in (("API call", api_call), ("bare indexed lookup", bare_lookup)):
        started = time.perf_counter()
        cpu = []  # this process's CPU per call: steadier than wall time on a shared machine
        for _ in range(options.repeats):
            begun = time.process_time()
            run()
            cpu.append((time.process_time() - begun) * 1000)
        results[name]["requests_per_second"] = options.repeats / (time.perf_counter() - started)
        results[name]["cpu_median_ms"] = statistics.median(cpu)
    ratio = results["API call"]["median_ms"] / results["bare indexed lookup"]["median_ms"]
    cached = f"{len(categories)} heading(s) x 5 sources x {ITEMS_PER_SOURCE} items cached"
    print(f"GET {url} ({cached}), one process")
    print(f"{'':<22} {'median ms':>10} {'p95 ms':>8} {'requests/s':>11} {'CPU median ms':>14}")
    for name, figures in results.items():
        print(
            f"{name:<22} {figures['median_ms']:10.3f} {figures['p95_ms']:8.3f} "
            f"{figures['requests_per_second']:11.1f} {figures['cpu_median_ms']:14.3f}"
        )
    print(f"API call / bare lookup (medians): {ratio:.1f}; SQL queries per call: {len(queries)}")
    options.results.mkdir(parents=True, exist_ok=True)
    (options.results / ("api_summary.json" if summary else "api_read.json")).write_text(
        json.dumps(
            {
                "repeats": options.repeats,
                "results": results,
                "ratio": ratio,
                "queries_per_call": len(queries),
            },
            indent=2,
        )
    )


def _basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _scene(summary: bool):
    """A GP practice's EPR client, and a patient it cares for with five sources cached: their
    allergies, or (`summary`) every heading, as benchmarks.london caches them."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import ApiClient, CareRelationship, Role, Team
    from access.services import create_team, register_api_client, start_relationship
    from benchmarks.london import _items, _resources_by_category
    from records.models import Link, Patient, Snapshot, SourceSystem
    from records.sources.view_items import view_item

    setup, _ = get_user_model().objects.get_or_create(username="bench-setup")
    team = Team.objects.filter(name="Bench practice").first() or create_team(
        name="Bench practice", ods_code="F0", kind="gp_practice", actor=setup
    )
    secret = "bench-api-secret"  # noqa: S105 (a benchmark's own throwaway client)
    client = ApiClient.objects.filter(name="Bench EPR").first()
    if client is None:
        client, _ = register_api_client(
            name="Bench EPR", team=team, role=Role.GP, scopes=["patient.read"], actor=setup,
            client_id="bench-epr", client_secret=secret, rate="100000000/min",
        )  # fmt: skip
    patient, _ = Patient.objects.get_or_create(
        nhs_number="9991249060",
        defaults={"given_names": "Darren", "family_name": "Newton", "birth_date": "1954-01-15"},
    )
    if not CareRelationship.objects.filter(team=team, patient=patient).exists():
        start_relationship(
            patient=patient, team=team, kind="registered_gp", reason="b", actor=setup
        )
    now = timezone.now()
    later = now + datetime.timedelta(days=3650)  # stays fresh: no fetch is asked for
    pools = _resources_by_category() if summary else {}
    link_ids = []
    for n in range(5):
        source, _ = SourceSystem.objects.get_or_create(
            ods_code=f"S{n}",
            defaults={"name": f"Source {n}", "kind": "acute",
                      "base_url": f"http://127.0.0.1:9/source{n}/fhir"},
        )  # fmt: skip
        link, _ = Link.objects.get_or_create(
            source=source, local_id=f"L{n}",
            defaults={"patient": patient, "matched_by": "nhs_number", "confirmed_at": now},
        )  # fmt: skip
        link_ids.append(link.pk)
        cached = {
            "allergies": [view_item(_allergy(n, k)).as_dict() for k in range(ITEMS_PER_SOURCE)]
        }
        if summary:
            cached = {category: _items(pools[category], category, ITEMS_PER_SOURCE)
                      for category in pools}  # fmt: skip
        for category, items in cached.items():
            Snapshot.objects.update_or_create(
                link=link, category=category,
                defaults={"status": "fresh", "items": items, "item_count": len(items),
                          "fetched_at": later, "requested_at": now, "expires_at": later},
            )  # fmt: skip
    return patient, link_ids, client.application.client_id, secret


def _allergy(source: int, n: int) -> dict:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"allergy-{source}-{n}",
        "meta": {"lastUpdated": "2026-10-01T09:00:00+00:00"},
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005",
                             "display": "Allergy to penicillin"}]},
        "patient": {"reference": f"Patient/L{source}"},
        "recordedDate": "2026-10-01",
        "reaction": [{"manifestation": [{"text": "Rash"}]}],
    }  # fmt: skip


if __name__ == "__main__":
    main()
