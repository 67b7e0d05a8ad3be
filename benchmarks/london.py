"""Benchmark: the shared care record at London scale on PostgreSQL (issue 8), against its targets.

Builds (once, by COPY; see benchmarks.london_data) 1,000,000 patients, 3,000,000 links, 2,000
teams, 20,000 users, 2,000,000 care relationships and 10,000,000 access events, and caches the
records of a peak hour's 26,000 patients; then times the hot pages through Django's test
client, each beside a bare SQL lookup of the same rows (and django-guardian's stock query for
"my patients"), with each page's statements: Django's query log, and every one the server ran.
The record page and the API read are timed for the one most looked-at record, and for a
different patient of the busy team's each request, their data just fetched and minutes old.

    .venv/bin/python -m benchmarks.london [--scale 0.01] [--repeats N] [--results DIR]
    (database: DATABASE_URL, or lcr_bench on the local PostgreSQL)
"""

import datetime
import itertools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from benchmarks import london_data, postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lcr_bench"
EXPORT_REPEATS = 3  # a whole report's PDF is seconds at London scale: timed a few times
WARM_UP = 2
STATEMENT_SAMPLES = 5  # requests whose statements are read from the wire, after the timed ones
MINUTES_OLD = datetime.timedelta(minutes=2)  # "fetched 2 minutes ago": fresh, served from cache
API_SECRET = "bench-only-secret-of-the-benchmark-database"  # noqa: S105 (its own database)


@dataclass
class Figure:
    name: str
    median_ms: float | None = None
    p95_ms: float | None = None
    queries: int | None = None
    baseline: str = ""
    baseline_median_ms: float | None = None
    baseline_p95_ms: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    query_counts: list[int] = field(default_factory=list)
    statements: int | None = None
    statement_counts: list[int] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.median_ms is None or not self.baseline_median_ms:
            return None
        return self.median_ms / self.baseline_median_ms


def measure(
    run: Callable[[], object], repeats: int, *, wire: int = STATEMENT_SAMPLES
) -> tuple[dict[str, float], dict[str, object]]:
    """Median and p95 of `repeats` calls, the SQL query count of each call in Django's log, and
    every statement the server ran for `wire` more calls."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    counts: list[int] = []

    def counted() -> None:
        # The log keeps the last 9,000 queries only: emptied first, or a long run counts 0.
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            run()
        counts.append(len(queries))

    figures = postgres.timed(counted, repeats, warm_up=WARM_UP)
    statements = [postgres.count_statements(run) for _ in range(wire)]
    return figures, query_figures(counts[WARM_UP:], statements)


def query_figures(counts: list[int], statements: list[int]) -> dict[str, object]:
    """A page's query count, the one most of its requests made, and every count seen; the
    fewest statements the server ran for one of the few requests read from the wire, and every
    count seen. A signed-in page stamps the session's activity once a minute
    (lcr.signin.SessionTimeouts), three statements more on the one request that does, whatever
    the data; the team's members were all stamped at the start, so they come due together and
    could be most of the few."""
    return {
        "queries": statistics.mode(counts),
        "query_counts": sorted(set(counts)),
        "statements": min(statements) if statements else None,
        "statement_counts": sorted(set(statements)),
    }


def bare(sql: str, params: list) -> Callable[[], list]:
    """A raw cursor fetching the same rows: the floor a page cannot go below."""
    from django.db import connection

    def run() -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return run


def page(client, url: str, **headers) -> Callable[[], None]:
    def run() -> None:
        response = client.get(url, **headers)
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")

    return run


def in_turn(clients: list, urls: list[str], says: bytes = b"", **headers) -> Callable[[], None]:
    """Each call a GET of the next url by the next client, round and round: a different patient
    (and member of the team) each request. Each answer must be a 200 saying `says`."""
    turn = itertools.count()

    def run() -> None:
        n = next(turn)
        url = urls[n % len(urls)]
        response = clients[n % len(clients)].get(url, **headers)
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
        if says not in response.content:
            sys.exit(f"GET {url} did not say {says.decode()!r}")

    return run


def bare_in_turn(sql: str, params: list[list]) -> Callable[[], list]:
    """The floor of `in_turn`: a raw cursor fetching the rows of the next parameters in turn."""
    turn = itertools.count()
    floors = [bare(sql, each) for each in params]
    return lambda: floors[next(turn) % len(floors)]()


def download(client, url: str) -> Callable[[], None]:
    """A file, read to its end (a streamed one is made only as it is read)."""

    def run() -> None:
        response = client.get(url)
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
        if response.streaming:
            for _ in response.streaming_content:
                pass

    return run


def main() -> None:
    options = postgres.options(__doc__, repeats=200)
    options.cache = postgres.use_shared_cache()
    postgres.setup_django(DEFAULT_URL)
    from django.conf import settings

    # As tests/conftest.py does: the test client speaks plain HTTP to "testserver".
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # Pages find static files through the finders, without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    sizes = london_data.ensure(options.scale)
    pools = _resources_by_category()
    cached = london_data.ensure_cached_records(options.scale, sizes, _cached_items(pools))
    scene = _scene(sizes, pools)
    postgres.check_connections_per_request()
    # As a gunicorn worker starts: the WSGI module loads every view and freezes what is loaded
    # out of the garbage collector's sweeps (lcr.wsgi.settle).
    import lcr.wsgi  # noqa: F401

    figures = _measure_all(scene, options.repeats)
    _report(options, sizes, cached, figures)


@dataclass
class Scene:
    gp: object
    officer: object
    record_patient: object
    found_patient: object
    team: object
    members: list = field(default_factory=list)
    read_patients: list[int] = field(default_factory=list)


def _scene(sizes: london_data.Sizes, pools: dict[str, list[dict]]) -> Scene:
    """The busy practice's first GP and all its members, a privacy officer, the patient whose
    record is read (known to all five sources, every heading cached and fresh; also the most
    looked-at), and the practice's other patients, whose records are cached too."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import Membership, Role, Team
    from access.services import add_member, create_team
    from records.categories import ALL_CATEGORIES
    from records.models import Link, Patient, Snapshot

    users = get_user_model().objects
    gp = users.get(username="user0")
    team = Membership.objects.get(user=gp).team
    setup, _ = users.get_or_create(username="bench-setup")
    officer, _ = users.get_or_create(username="bench-privacy-officer")
    office = Team.objects.filter(name="Record office").first()
    if office is None:
        office = create_team(name="Record office", ods_code="R0", kind="record_office", actor=setup)
        add_member(
            team=office, user=officer, role=Role.PRIVACY_OFFICER, reason="bench", actor=setup
        )
    first = Patient.objects.order_by("pk").first()
    found = Patient.objects.get(pk=first.pk + london_data.patient_of(0, 1, sizes.patients))
    now = timezone.now()
    later = now + datetime.timedelta(days=3650)  # each row dates the data it reads (_date)
    for link in Link.objects.filter(patient=first):
        for category in ALL_CATEGORIES:
            items = _items(pools[category], category, ITEMS_PER_SNAPSHOT)
            Snapshot.objects.update_or_create(
                link=link, category=category,
                defaults={"status": "fresh", "items": items, "item_count": len(items),
                          "fetched_at": now, "requested_at": now, "expires_at": later},
            )  # fmt: skip
    members = [m.user for m in Membership.objects.filter(team=team).order_by("user_id")]
    # The busy team's cached patients after the first (the most looked-at, read on its own).
    read_patients = [
        first.pk + london_data.patient_of(0, k, sizes.patients) for k in range(1, sizes.busy)
    ]
    return Scene(
        gp=gp, officer=officer, record_patient=first, found_patient=found, team=team,
        members=members, read_patients=read_patients,
    )  # fmt: skip


ITEMS_PER_SNAPSHOT = 10  # 5 sources x 11 headings x 10: 550 items on the record page


def _cached_items(pools: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Each heading's items in the peak hour's cached records (benchmarks.london_data)."""
    from records.categories import ALL_CATEGORIES

    count = london_data.CACHED_ITEMS_PER_SNAPSHOT
    return {category: _items(pools[category], category, count) for category in ALL_CATEGORIES}


def _date(patients: list[int], age: datetime.timedelta) -> None:
    """Make these patients' cached records `age` old (fetched then, fresh, asked by no one)."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    fetched = timezone.now() - age
    expires = fetched + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE records_snapshot s SET status = 'fresh', fetched_at = %s, requested_at = %s, "
            "updated_at = %s, expires_at = %s, request_token = '', deadline_at = NULL, "
            "lease_until = NULL, attempt = 0 "
            "FROM records_link l WHERE l.id = s.link_id AND l.patient_id = ANY(%s)",
            [fetched, fetched, fetched, expires, patients],
        )


def _served_from_cache(patients: list[int], what: str) -> None:
    """Stop unless every look of a row found its data fresh: one that found it stale asked the
    sources again (a pending snapshot), and would not have been a look at a cached record."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM records_snapshot s JOIN records_link l ON l.id = s.link_id "
            "WHERE l.patient_id = ANY(%s) AND s.status <> 'fresh'",
            [patients],
        )
        (asked,) = cursor.fetchone()
    if asked:
        sys.exit(
            f"{what}: {asked} snapshots were asked again (the data went stale during the row: "
            f"fewer --repeats, or a longer LCR_SNAPSHOT_FRESH_SECONDS)"
        )


def _resources_by_category() -> dict[str, list[dict]]:
    """The simulated sources' FHIR resources (as make run serves them) for a few people, by the
    heading that shows them."""
    from demo.clinical import resources_for
    from demo.population import generate
    from records.sources.resource_types import CATEGORY_RESOURCE_TYPES

    population = generate(seed=7, patients=40)
    by_type: dict[str, list[dict]] = {}
    for person in population.people:
        for source in population.sources:
            for resource_type, found in resources_for(population, person, source.key).items():
                by_type.setdefault(resource_type, []).extend(found)
    return {
        category: [r for t in types for r in by_type.get(t, [])]
        for category, types in CATEGORY_RESOURCE_TYPES.items()
    }


def _items(resources: list[dict], category: str, count: int) -> list[dict]:
    """`count` view items as the fetcher stores them (the plain view and the source's resource),
    each with an id of its own."""
    from records.sources.view_items import view_item

    return [
        view_item({**resources[k % len(resources)], "id": f"{category}-{k}"}).as_dict()
        for k in range(count)
    ]


def _second_factor_passed(client, user) -> None:
    """A privacy officer's pages need the second factor: their session has passed it, as after
    signing in with an authenticator (force_login skips the sign-in pages)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="benchmark", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def _measure_all(scene: Scene, repeats: int) -> list[Figure]:
    from django.test import Client
    from guardian.shortcuts import get_objects_for_user

    from access.policy import actor_for
    from audit.models import AccessEvent
    from records.models import Patient

    gp = Client()
    gp.force_login(scene.gp)
    members = []
    for member in scene.members:
        members.append(Client())
        members[-1].force_login(member)
        # Its session's activity stamped now (lcr.signin.SessionTimeouts): not in the first counts.
        members[-1].get("/")
    officer = Client()
    officer.force_login(scene.officer)
    _second_factor_passed(officer, scene.officer)
    found, first = scene.found_patient, scene.record_patient
    figures = []

    def add(
        name: str, run, baseline: str, floor, target: str, limit: float | None, times: int = 0
    ) -> Figure:
        # A whole report's export is seconds at London scale: its statements read once.
        timing, counts = measure(run, times or repeats, wire=1 if times else STATEMENT_SAMPLES)
        figure = Figure(name=name, **timing, **counts)
        if floor is not None:
            base, _ = measure(floor, times or repeats, wire=0)
            figure.baseline = baseline
            figure.baseline_median_ms, figure.baseline_p95_ms = base["median_ms"], base["p95_ms"]
        figure.target = target
        if limit is not None:
            figure.met = figure.p95_ms < limit
        figures.append(figure)
        print(f"  {name}: median {figure.median_ms:.1f} ms, p95 {figure.p95_ms:.1f} ms", flush=True)
        return figure

    nhs_floor = bare(
        "SELECT id, nhs_number, given_names, family_name, birth_date FROM records_patient "
        "WHERE nhs_number = %s",
        [found.nhs_number],
    )
    add(
        "NHS number search page",
        page(gp, f"/patients/?nhs_number={found.nhs_number}"),
        "SELECT patient by nhs_number",
        nhs_floor,
        "p95 < 10 ms",
        10,
    )
    add(
        "Name + date of birth search page",
        page(
            gp,
            f"/patients/?family_name={found.family_name}&given_name={found.given_names}"
            f"&birth_date={found.birth_date:%d/%m/%Y}",
        ),
        "SELECT patient by upper(name), DOB",
        bare(
            "SELECT id, nhs_number, given_names, family_name, birth_date FROM records_patient "
            "WHERE upper(family_name) = upper(%s) AND birth_date = %s",
            [found.family_name, found.birth_date],
        ),
        "p95 < 50 ms",
        50,
    )
    _search_selectors(scene, repeats, add)
    my_patients_floor = bare(
        "SELECT p.id, p.nhs_number, p.given_names, p.family_name, p.birth_date "
        "FROM records_patient p "
        "JOIN access_carerelationship r ON r.patient_id = p.id "
        "WHERE r.team_id = %s AND r.ended_at IS NULL "
        "ORDER BY p.family_name, p.given_names, p.id LIMIT 50",
        [scene.team.pk],
    )
    add(
        "My patients: home page, first 50, a member each",
        in_turn(members, ["/"]),
        "SELECT first 50 by relationships",
        my_patients_floor,
        "p95 < 100 ms",
        100,
    )

    def guardians() -> None:
        chosen = get_objects_for_user(
            scene.gp, "records.view_record", klass=Patient,
            accept_global_perms=False, with_superuser=False,
        ).order_by("family_name", "given_names", "pk")  # fmt: skip
        list(chosen[:50]), chosen.count()

    def selector() -> None:
        from access.selectors import my_patients_page

        page = my_patients_page(actor_for(scene.gp), 1)
        list(page), page.paginator.count

    add(
        "My patients: selector, page + count",
        selector,
        "peer: guardian get_objects_for_user",
        guardians,
        "",
        None,
    )
    snapshots_floor = bare(SNAPSHOTS, [first.pk])
    _date([first.pk], datetime.timedelta(0))
    add(
        "Record page, 5 sources cached (+ audit write)",
        page(gp, f"/patients/{first.pk}/"),
        "SELECT the patient's snapshots",
        snapshots_floor,
        "p95 < 150 ms",
        150,
    )
    http, headers = _api_client(scene)
    summary = page(http, f"/api/v1/fhir/Patient/{first.pk}/$summary", **headers)
    figures.append(_api_read("API patient read ($summary)", summary, repeats, snapshots_floor))
    _served_from_cache([first.pk], "the most looked-at record")
    _reads_in_turn(scene, repeats, add, members, (http, headers), figures)
    figures.append(_api_search(scene, repeats, nhs_floor, http, headers))
    _audit_write(scene, repeats, add)
    looks = AccessEvent.objects.filter(patient=first).count()
    report = f"/audit/patients/{first.pk}/"
    add(
        f"Access report page (first 100 of {looks:,})",
        page(officer, report),
        "SELECT newest 100 events",
        bare(
            "SELECT * FROM audit_accessevent WHERE patient_id = %s "
            "ORDER BY occurred_at DESC, id DESC LIMIT 100",
            [first.pk],
        ),
        "p95 < 200 ms",
        200,
    )
    # The whole report of the most looked-at patient, as a subject access request sends it:
    # against reading every one of their events, a few times (each is seconds at London scale).
    every_event = bare(
        "SELECT * FROM audit_accessevent WHERE patient_id = %s ORDER BY occurred_at DESC, id DESC",
        [first.pk],
    )
    for label, kind in (("CSV", "csv"), ("PDF", "pdf")):
        add(
            f"Access report {label}, all {looks:,} looks",
            download(officer, f"{report}?format={kind}"),
            "SELECT every event of the patient",
            every_event,
            "",
            None,
            times=EXPORT_REPEATS,
        )
    return figures


SNAPSHOTS = (
    "SELECT s.category, s.status, s.items, s.fetched_at FROM records_snapshot s "
    "JOIN records_link l ON l.id = s.link_id WHERE l.patient_id = %s"
)


def _reads_in_turn(scene: Scene, repeats: int, add, members: list, api, figures: list) -> None:
    """The record page and the API read of a different cached patient of the busy team's each
    request (the page by each member of the team in turn), their data just fetched and then
    minutes old: what most looks find (fresh for LCR_SNAPSHOT_FRESH_SECONDS, so served from the
    cache, saying "fetched N minutes ago")."""
    from records.categories import ALL_CATEGORIES

    # Each row reads patients of its own, one a request (round again only when the team has
    # fewer): none of them read by the row before, so none of them left in shared_buffers.
    team, reads = scene.read_patients, repeats + WARM_UP + STATEMENT_SAMPLES
    rows = itertools.count()

    def patients_dated(age: datetime.timedelta) -> tuple[list[int], Callable[[], list]]:
        start = next(rows) * reads
        patients = [team[(start + n) % len(team)] for n in range(min(reads, len(team)))]
        _date(patients, age)
        return patients, bare_in_turn(SNAPSHOTS, [[pk] for pk in patients])

    items = (
        london_data.LINKS_PER_PATIENT * len(ALL_CATEGORIES) * london_data.CACHED_ITEMS_PER_SNAPSHOT
    )
    ages = (
        ("just fetched", datetime.timedelta(0), b""),
        (f"{MINUTES_OLD.seconds // 60} minutes old", MINUTES_OLD, b"minutes ago"),
    )
    for age_name, age, says in ages:
        name = f"Record page, a patient each ({items} items), {age_name}"
        patients, floor = patients_dated(age)
        urls = [f"/patients/{pk}/" for pk in patients]
        add(name, in_turn(members, urls, says), "SELECT that patient's snapshots", floor,
            "p95 < 150 ms", 150)  # fmt: skip
        _served_from_cache(patients, name)
    http, headers = api
    for age_name, age, _ in ages:
        name = f"API $summary, a patient each, {age_name}"
        patients, floor = patients_dated(age)
        urls = [f"/api/v1/fhir/Patient/{pk}/$summary" for pk in patients]
        figures.append(_api_read(name, in_turn([http], urls, **headers), repeats, floor))
        _served_from_cache(patients, name)


def _search_selectors(scene: Scene, repeats: int, add) -> None:
    """The searches without the page around them: where a search page's time goes."""
    from access.policy import actor_for
    from access.selectors import PatientQuery, find_my_patients

    found = scene.found_patient
    by_number = PatientQuery(nhs_number=found.nhs_number)
    by_name = PatientQuery(
        family_name=found.family_name, given_name=found.given_names, birth_date=found.birth_date
    )
    for name, query in (("NHS number", by_number), ("name + DOB", by_name)):

        def search(query: PatientQuery = query, name: str = name) -> None:
            if found not in find_my_patients(actor_for(scene.gp), query):
                sys.exit(f"The {name} search did not find patient {found.pk}")

        add(f"  {name}: find_my_patients alone", search, "", None, "", None)


def _audit_write(scene: Scene, repeats: int, add) -> None:
    """One access event appended to its chain, against one bare INSERT of a row like it."""
    from access.policy import actor_for
    from audit.services import RequestContext, record_access

    actor = actor_for(scene.gp)

    def write() -> None:
        record_access(
            user=scene.gp, team=actor.team, role=actor.role, patient=scene.record_patient,
            categories=("allergies", "medicines"), resource_ids=["S1/AllergyIntolerance/1"],
            basis="relationship", relationship_id=None, break_glass_id=None, channel="web",
            purpose="direct_care", context=RequestContext(ip_address="10.0.0.1"),
        )  # fmt: skip

    def insert() -> None:
        digest = uuid.uuid4().hex * 2
        bare(
            "INSERT INTO audit_accessevent (chain, sequence, occurred_at, user_id, username, "
            "client_id, team_id, team_name, organisation_ods_code, role, patient_id, "
            "categories, resource_ids, basis, channel, purpose, ip_address, user_agent, "
            "request_id, previous_hash, hash, end_user) VALUES (999, 0, now(), %s, 'floor', '', "
            "NULL, '', '', 'gp', %s, '[]', '[]', 'relationship', 'web', 'direct_care', NULL, "
            "'', '', %s, %s, '') RETURNING id",
            [scene.gp.pk, scene.record_patient.pk, digest, digest],
        )()

    add("Audit write (one access event)", write, "bare INSERT of one row", insert, "", None)


def _api_read(name: str, run, repeats: int, floor) -> Figure:
    """A patient summary read through the partner API (`run`: its GETs), against its floor."""
    figure = _api_figure(name, run, repeats, "SELECT the patient's snapshots", floor)
    figure.target = "p95 < 3 x bare + 5 ms"
    figure.met = figure.p95_ms < 3 * figure.baseline_p95_ms + 5
    return figure


def _api_search(scene: Scene, repeats: int, floor, http, headers: dict[str, str]) -> Figure:
    """The NHS number search as a partner system makes it: FHIR Patient?identifier=."""
    name = "NHS number search through the API"
    url = f"/api/v1/fhir/Patient?identifier={scene.found_patient.nhs_number}"
    run = page(http, url, **headers)
    figure = _api_figure(name, run, repeats, "SELECT patient by nhs_number", floor)
    figure.target, figure.met = "p95 < 10 ms", figure.p95_ms < 10
    return figure


def _api_figure(name: str, run, repeats: int, baseline: str, floor) -> Figure:
    """`run`'s GETs with a bearer token from the real client-credentials endpoint, its floor."""
    timing, counts = measure(run, repeats)
    base, _ = measure(floor, repeats, wire=0)
    figure = Figure(
        name=name, **timing, **counts,
        baseline=baseline, baseline_median_ms=base["median_ms"], baseline_p95_ms=base["p95_ms"],
    )  # fmt: skip
    print(f"  {name}: median {figure.median_ms:.1f} ms, p95 {figure.p95_ms:.1f} ms", flush=True)
    return figure


def _api_client(scene: Scene) -> tuple[object, dict[str, str]]:
    import base64

    from django.test import Client

    from access.models import ApiClient
    from access.services import register_api_client

    client = ApiClient.objects.filter(name="Bench EPR").first()
    if client is None:
        client, _ = register_api_client(
            name="Bench EPR", team=scene.team, role=scene.gp.memberships.get().role,
            scopes=["patient.read"], rate="1000000/min", actor=scene.officer,
            client_secret=API_SECRET,
        )  # fmt: skip
    http = Client()
    basic = base64.b64encode(f"{client.application.client_id}:{API_SECRET}".encode()).decode()
    form = {"grant_type": "client_credentials"}
    answer = http.post("/api/oauth/token/", form, HTTP_AUTHORIZATION=f"Basic {basic}")
    if answer.status_code != 200:
        sys.exit(f"The API's token endpoint answered {answer.status_code}: {answer.content[:200]}")
    token = answer.json()["access_token"]
    return http, {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_END_USER": "bench"}


def _commit() -> str:
    """The commit measured, marked when the working tree differs from it."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            ["git", *args],  # noqa: S607 (git from PATH, as make does)
            capture_output=True,
            text=True,
            cwd=postgres.ROOT,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} (with uncommitted changes)" if git("status", "--porcelain") else commit


def _report(
    options, sizes: london_data.Sizes, cached: london_data.CachedRecords, figures: list[Figure]
) -> None:
    from django.db import connection

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def counts(mode: int | None, seen: list[int]) -> str:
        return "-" if mode is None else f"{mode}" if len(seen) <= 1 else f"{seen}"

    commit = _commit()
    table, buffers = london_data.cache_size()
    print(
        f"\ncommit {commit}: {sizes.patients:,} patients, {sizes.links:,} links, "
        f"{sizes.teams:,} teams, {sizes.users:,} users, "
        f"{sizes.relationships:,} care relationships, "
        f"{sizes.events:,} access events; {options.repeats} requests each "
        f"(PostgreSQL {connection.pg_version // 10000}, test client: server time; "
        f"cache: {options.cache})\n"
        f"cached records of a peak hour: {cached.patients:,} patients, {cached.snapshots:,} "
        f"snapshots, {table / 2**20:,.0f} MB on disk ({table / buffers:.1f} x shared_buffers, "
        f"{buffers / 2**20:,.0f} MB)"
    )
    header = (
        f"{'figure':<56} {'median':>7} {'p95':>7} {'queries':>7} {'stmts':>7} {'baseline':<37} "
        f"{'median':>7} {'ratio':>6}  {'target':<22} result"
    )
    print(header)
    print("-" * len(header))
    for f in figures:
        if f.note:
            print(f"{f.name:<56} {f.note}")
            continue
        result = {True: "met", False: "MISSED", None: ""}[f.met]
        queries = counts(f.queries, f.query_counts)
        statements = counts(f.statements, f.statement_counts)
        ratio = "-" if f.ratio is None else f"{f.ratio:.1f}"
        print(
            f"{f.name:<56} {ms(f.median_ms):>7} {ms(f.p95_ms):>7} {queries:>7} {statements:>7} "
            f"{f.baseline:<37} {ms(f.baseline_median_ms):>7} {ratio:>6}  {f.target:<22} {result}"
        )
    print(
        "(milliseconds; queries: in Django's query log; stmts: every statement the server ran, "
        "read from the wire; ratio: median / baseline median)"
    )
    options.results.mkdir(parents=True, exist_ok=True)
    name = f"london-{options.scale:g}.json"
    data = {
        "scale": options.scale,
        "sizes": asdict(sizes),
        "cached_records": {**asdict(cached), "table_bytes": table, "shared_buffers_bytes": buffers},
        "repeats": options.repeats,
        "cache": options.cache,
        "commit": commit,
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    (options.results / name).write_text(json.dumps(data, indent=2, default=str))
    print(f"JSON: {options.results / name}")
    _compare_query_counts(options, data)


def _compare_query_counts(options, data: dict) -> None:
    """A page's query count must not grow with the data: compare with the other scales' runs
    (Django's count and the server's; a run from before the server's was counted has none)."""

    def counts(figures: list[dict]) -> dict[tuple[str, str], int]:
        return {
            (f["name"], kind): f[kind]
            for f in figures
            for kind in ("queries", "statements")
            if f.get(kind) is not None
        }

    mine = counts(data["figures"])
    for other in sorted(options.results.glob("london-*.json")):
        theirs = json.loads(other.read_text())
        if theirs["scale"] == data["scale"]:
            continue
        seen = counts(theirs["figures"])
        grown = {key: (seen[key], n) for key, n in mine.items() if key in seen and seen[key] != n}
        verdict = "same query counts" if not grown else f"query counts differ: {grown}"
        print(f"against scale {theirs['scale']:g} ({other.name}): {verdict}")
        if grown:
            sys.exit(1)


if __name__ == "__main__":
    main()
