"""The London-scale data set for benchmarks.london, written by COPY and reused while it matches.

At scale 1: 1,000,000 patients, 3,000,000 links to 5 sources, 2,000 teams, 20,000 users,
2,000,000 care relationships (each with the django-guardian grant that access.services would
have written) and 10,000,000 access events spread over the last year's monthly partitions.
Then, as a step of its own (`ensure_cached_records`, with its own marker, so that adding it does
not build the rest again): the cached records of every patient looked at in a peak hour.
"""

import datetime
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

BUSY_TEAM_PATIENTS = 5_000
SOURCES = 5
LINKS_PER_PATIENT = 3
HOT_EVERY = 500  # one access event in 500 is a look at the frequently viewed patient
BATCH = 200_000
# The snapshot cache holds what was fetched in the last LCR_SNAPSHOT_TTL_SECONDS (an hour): every
# patient looked at in the last hour. London's 2.2 million looks a month, over 21 working days of
# 10 hours, are 10,500 an hour; the peak hour 2.5 times that: 26,000 looks, counted as distinct
# patients (a few are looked at twice in an hour: an upper bound). At scale s, s times that.
PEAK_HOUR_PATIENTS = 26_000
# Each cached patient's record is the measured one's size: 17 items for each of 11 headings of
# their 3 sources, 561 items (the most looked-at patient's 5 sources x 11 x 10 are 550).
CACHED_ITEMS_PER_SNAPSHOT = 17
CACHED_LINKS = 5_000  # links whose snapshots one INSERT writes (55,000 rows at 11 headings)
STAMP = "2026-01-01 00:00:00+00"
# 400 family names and 30 given names: alike enough that a name search has neighbours to sort.
STEMS = ["Ab", "Ok", "Sm", "Pat", "Ng", "Kow", "Ev", "Mor", "Al", "Br",
         "Ch", "Da", "Fer", "Gr", "Har", "Ib", "Jo", "Kh", "Le", "Mac"]  # fmt: skip
ENDINGS = ["ayo", "afor", "ith", "el", "uyen", "alski", "ans", "ris", "i", "own",
           "en", "vies", "reira", "een", "ding", "rahim", "nes", "an", "wis", "leod"]  # fmt: skip
FAMILY = [stem + ending for stem in STEMS for ending in ENDINGS]
GIVEN = ["Amara", "Ben", "Chloe", "Dev", "Ella", "Femi", "Grace", "Hassan", "Isla", "Jack",
         "Kemi", "Liam", "Maya", "Noah", "Olu", "Priya", "Quinn", "Ravi", "Sara", "Tom", "Uma",
         "Vik", "Wen", "Xavier", "Yusuf", "Zara", "Darren", "Mary", "Ade", "Lucy"]  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    patients: int
    links: int
    teams: int
    users: int
    relationships: int
    events: int
    busy: int

    @classmethod
    def at(cls, scale: float) -> "Sizes":
        patients = max(1_000, int(1_000_000 * scale))
        return cls(
            patients=patients,
            links=LINKS_PER_PATIENT * patients + (SOURCES - LINKS_PER_PATIENT),
            teams=max(10, int(2_000 * scale)),
            users=max(100, int(20_000 * scale)),
            relationships=max(2_000, int(2_000_000 * scale)),
            events=max(10_000, int(10_000_000 * scale)),
            busy=max(50, int(BUSY_TEAM_PATIENTS * scale)),
        )


def nhs_numbers(count: int) -> Iterator[str]:
    """Valid NHS numbers from 900 000 0000 up (numbers starting with 9 are not issued to people;
    the 999 range alone holds too few for a million, this start room for 90 million)."""
    base = 900_000_000
    made = 0
    while made < count:
        digits = f"{base:09d}"
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11
        base += 1
        if check == 10:
            continue
        yield digits + str(0 if check == 11 else check)
        made += 1


def patient_of(team: int, k: int, patients: int) -> int:
    """The k-th patient (an offset from the first id) of a team: distinct for distinct k."""
    return (team * 7919 + k * 104729) % patients


def ensure(scale: float) -> Sizes:
    """Build the data set for `scale` unless the database already holds exactly it."""
    from django.db import connection

    sizes = Sizes.at(scale)
    wanted = json.dumps(sizes.__dict__, sort_keys=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_london (sizes text NOT NULL)")
        cursor.execute("SELECT sizes FROM bench_london")
        row = cursor.fetchone()
    if row and row[0] == wanted:
        return sizes
    started = time.monotonic()
    print(f"Building the London data set {wanted} (once; reused while it matches) ...", flush=True)
    _build(sizes)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_london")
        cursor.execute("INSERT INTO bench_london (sizes) VALUES (%s)", [wanted])
    print(f"  built in {time.monotonic() - started:,.0f} s", flush=True)
    return sizes


@dataclass(frozen=True)
class CachedRecords:
    """The snapshot cache of a peak hour: the records of `patients` patients, every heading of
    every source they are known to, `items_per_snapshot` items each (`snapshots` rows). They are
    the busy team's sequence of patients (`patient_of(0, k)`): the team's own first (all of
    them at any scale), then as many others as the hour looked at."""

    patients: int
    items_per_snapshot: int
    snapshots: int

    @classmethod
    def at(cls, scale: float, sizes: Sizes, categories: int) -> "CachedRecords":
        patients = min(sizes.patients, max(sizes.busy, int(PEAK_HOUR_PATIENTS * scale)))
        # Every patient has LINKS_PER_PATIENT links but the first (the most looked-at), all five.
        links = patients * LINKS_PER_PATIENT + SOURCES - LINKS_PER_PATIENT
        return cls(
            patients=patients,
            items_per_snapshot=CACHED_ITEMS_PER_SNAPSHOT,
            snapshots=links * categories,
        )


def ensure_cached_records(
    scale: float, sizes: Sizes, items_by_category: dict[str, list[dict]]
) -> CachedRecords:
    """Cache the peak hour's records (each heading's snapshot holding `items_by_category`'s
    items) unless the database already holds exactly them. A step of its own, after `ensure`:
    a database built before it gets the snapshots added, not everything built again."""
    import orjson
    from django.db import connection, transaction
    from django.utils import timezone

    cached = CachedRecords.at(scale, sizes, len(items_by_category))
    items = {c: orjson.dumps(found).decode() for c, found in sorted(items_by_category.items())}
    digest = hashlib.sha256("".join(items.values()).encode()).hexdigest()
    # The items are in the marker: when the fetcher's view of an item changes, so do the records.
    wanted = json.dumps({"data": sizes.__dict__, "cached": cached.__dict__, "items": digest})
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_london_cached (sizes text NOT NULL)")
        cursor.execute("SELECT sizes FROM bench_london_cached")
        row = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM records_snapshot")
        (held,) = cursor.fetchone()
    if row and row[0] == wanted and held == cached.snapshots:
        return cached
    started = time.monotonic()
    print(f"Caching the records of a peak hour {wanted} (once) ...", flush=True)
    now = timezone.now()
    stamp = now.isoformat()
    later = (now + datetime.timedelta(days=3650)).isoformat()  # never purged; runs date them
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id) FROM records_patient")
            first = cursor.fetchone()[0]
            patients = [first + patient_of(0, k, sizes.patients) for k in range(cached.patients)]
            # A patient's snapshots side by side, as one fetch writes them.
            cursor.execute(
                "SELECT id FROM records_link WHERE patient_id = ANY(%s) ORDER BY patient_id, id",
                [patients],
            )
            links = [link for (link,) in cursor.fetchall()]
            cursor.execute("TRUNCATE records_snapshot")
        # One row per heading by COPY (text format: a backslash is written twice; orjson writes
        # no tab or newline), then copied to every link by the server: the JSON is parsed into
        # jsonb once per heading, not once per snapshot (which took 15 minutes at scale 1).
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_heading (category text, items jsonb, "
                "item_count integer) ON COMMIT DROP"
            )
        _copy(
            "COPY bench_heading (category, items, item_count) FROM STDIN",
            (
                f"{category}\t{text.replace(chr(92), chr(92) * 2)}\t"
                f"{len(items_by_category[category])}\n"
                for category, text in items.items()
            ),
            "headings",
        )
        with connection.cursor() as cursor:
            for start in range(0, len(links), CACHED_LINKS):
                cursor.execute(
                    "INSERT INTO records_snapshot (link_id, category, status, reason, items, "
                    "item_count, withheld_count, withheld_reason, attempt, fetched_at, "
                    "requested_at, request_token, updated_at, expires_at) "
                    "SELECT link, h.category, 'fresh', '', h.items, h.item_count, 0, '', 0, "
                    "%(stamp)s, %(stamp)s, '', %(stamp)s, %(later)s "
                    "FROM unnest(%(links)s::bigint[]) WITH ORDINALITY AS l(link, n) "
                    "CROSS JOIN bench_heading AS h ORDER BY l.n, h.category",
                    {"stamp": stamp, "later": later, "links": links[start : start + CACHED_LINKS]},
                )
                done = min(start + CACHED_LINKS, len(links))
                print(f"  cached snapshots: {done:,} of {len(links):,} links", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM records_snapshot")
            (held,) = cursor.fetchone()
            if held != cached.snapshots:
                raise RuntimeError(f"{held:,} snapshots written, {cached.snapshots:,} expected")
            cursor.execute("DELETE FROM bench_london_cached")
            cursor.execute("INSERT INTO bench_london_cached (sizes) VALUES (%s)", [wanted])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE records_snapshot")
    print(f"  cached in {time.monotonic() - started:,.0f} s", flush=True)
    return cached


def cache_size() -> tuple[int, int]:
    """The snapshot table's size on disk (with its TOAST and indexes) and shared_buffers, bytes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('records_snapshot'), "
            "pg_size_bytes(current_setting('shared_buffers'))"
        )
        return cursor.fetchone()


def _copy(sql: str, rows: Iterator[str], what: str, batch: int = BATCH) -> None:
    from django.db import connection

    written = 0
    buffer = io.StringIO()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            buffer.write(row)
            written += 1
            if written % batch == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
                if written % (10 * batch) == 0:
                    print(f"  {what}: {written:,}", flush=True)
        copy.write(buffer.getvalue())
    print(f"  {what}: {written:,} done", flush=True)


def _build(sizes: Sizes) -> None:
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction

    from audit.models import ChainHead

    with transaction.atomic(), connection.cursor() as cursor:
        # The audit trail is append-only (its triggers refuse TRUNCATE too), but TRUNCATE is how
        # a benchmark's own database starts again: as the superuser it connects as, triggers off.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "TRUNCATE records_patient, records_sourcesystem, auth_user, auth_group, "
            "access_team, audit_accessevent, audit_chainhead, audit_checkpoint "
            "RESTART IDENTITY CASCADE"
        )
    with transaction.atomic():
        _people(sizes)
        _teams(sizes)
    permission = Permission.objects.get(codename="view_record", content_type__app_label="records")
    with transaction.atomic():
        _relationships(sizes, permission.pk)
    with transaction.atomic():
        heads = _events(sizes)
        for chain, (sequence, digest) in heads.items():
            ChainHead.objects.update_or_create(
                chain=chain, defaults={"sequence": sequence, "hash": digest}
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, on a database in use


def _people(sizes: Sizes) -> None:
    from django.db import connection

    from records.models import SourceSystem

    # Through the model, so a column added later gets its default here too (five rows).
    kinds = ["gp", "acute", "community", "mental_health", "social_care"]
    SourceSystem.objects.bulk_create(
        SourceSystem(ods_code=f"S{n}", name=f"Source {n}", kind=kinds[n],
                     base_url="http://127.0.0.1:9/fhir", timeout_seconds=10, enabled=True)
        for n in range(SOURCES)
    )  # fmt: skip
    empty = "\t".join([""] * 8)  # prefix, address, city, phone, email, GP code, practice, GP

    def patients() -> Iterator[str]:
        for n, number in enumerate(nhs_numbers(sizes.patients)):
            family, given = FAMILY[(n * 31) % len(FAMILY)], GIVEN[n % len(GIVEN)]
            yield (
                f"{number}\t{given}\t{family}\t{1930 + n % 90}-{1 + n % 12:02d}-"
                f"{1 + n % 28:02d}\tunknown\tE{1 + n % 20} 1AA\t{empty}\t{STAMP}\t{STAMP}\tU\n"
            )

    _copy(
        "COPY records_patient (nhs_number, given_names, family_name, birth_date, sex, postcode, "
        "prefix, address_lines, city, phone, email, gp_practice_ods_code, gp_practice_name, "
        "gp_name, created_at, updated_at, confidentiality) FROM STDIN",
        patients(),
        "patients",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM records_patient")
        first = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM records_sourcesystem ORDER BY ods_code")
        sources = [row[0] for row in cursor.fetchall()]

    def links() -> Iterator[str]:
        for n in range(sizes.patients):
            # The first patient (the one whose record page is measured) is known to all five.
            held = SOURCES if n == 0 else LINKS_PER_PATIENT
            for k in range(held):
                source = (n + k) % SOURCES
                yield (f"{first + n}\t{sources[source]}\tP{n}\tnhs_number\t{STAMP}\n")

    _copy(
        "COPY records_link (patient_id, source_id, local_id, matched_by, confirmed_at) FROM STDIN",
        links(),
        "links",
    )


def _teams(sizes: Sizes) -> None:
    """Teams (the first is the busy GP practice), their groups, and ten members each."""
    kinds = ["gp_practice", "community_team", "ae_department", "social_care_team"]
    roles = {"gp_practice": "gp", "community_team": "community_nurse",
             "ae_department": "ae_clinician", "social_care_team": "social_worker"}  # fmt: skip
    _copy(
        "COPY auth_group (name) FROM STDIN",
        (f"team:T{n}:Team {n}\n" for n in range(sizes.teams)),
        "groups",
    )
    _copy(
        "COPY access_team (name, ods_code, kind, group_id) FROM STDIN",
        (f"Team {n}\tT{n}\t{kinds[n % 4]}\t{n + 1}\n" for n in range(sizes.teams)),
        "teams",
    )
    _copy(
        "COPY auth_user (password, is_superuser, username, first_name, last_name, email, "
        "is_staff, is_active, date_joined) FROM STDIN",
        (f"!\tf\tuser{n}\tUser\tNumber{n}\t\tf\tt\t{STAMP}\n" for n in range(sizes.users)),
        "users",
    )
    _copy(
        "COPY access_membership (user_id, team_id, role) FROM STDIN",
        (
            f"{n + 1}\t{n % sizes.teams + 1}\t{roles[kinds[n % sizes.teams % 4]]}\n"
            for n in range(sizes.users)
        ),
        "memberships",
    )
    _copy(
        "COPY auth_user_groups (user_id, group_id) FROM STDIN",
        (f"{n + 1}\t{n % sizes.teams + 1}\n" for n in range(sizes.users)),
        "team groups",
    )


def _relationships(sizes: Sizes, permission_id: int) -> None:
    """What access.services.start_relationship writes for a started relationship: the
    relationship (granted now) and the team group's view_record grant on the patient."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM records_patient")
        first = cursor.fetchone()[0]
    others = (sizes.relationships - sizes.busy) // (sizes.teams - 1)

    def pairs() -> Iterator[tuple[int, int]]:
        for team in range(sizes.teams):
            for k in range(sizes.busy if team == 0 else others):
                yield team + 1, first + patient_of(team, k, sizes.patients)

    _copy(
        "COPY access_carerelationship (patient_id, team_id, kind, starts_on, reason, "
        "created_by_id, created_at, granted_at, end_reason) FROM STDIN",
        (
            f"{patient}\t{team}\tregistered_gp\t2026-01-01\tRegistered with the practice\t1\t"
            f"{STAMP}\t{STAMP}\t\n"
            for team, patient in pairs()
        ),
        "care relationships",
    )
    _copy(
        "COPY access_patientgroupobjectpermission (group_id, permission_id, content_object_id) "
        "FROM STDIN",
        (f"{team}\t{permission_id}\t{patient}\n" for team, patient in pairs()),
        "guardian grants",
    )


def _events(sizes: Sizes) -> dict[int, tuple[int, str]]:
    """A year of looks, one partition per month; one in HOT_EVERY is at the first patient."""
    from django.conf import settings
    from django.db import connection

    from audit.chain import GENESIS
    from audit.partitions import ensure_partitions

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM records_patient")
        first = cursor.fetchone()[0]
    chains = settings.LCR_AUDIT_CHAINS
    now = datetime.datetime.now(datetime.UTC)
    started = now - datetime.timedelta(days=365)
    ensure_partitions(today=started.date(), months_ahead=15)
    step = 365 * 86400 / sizes.events
    start_seconds = started.timestamp()
    heads: dict[int, tuple[int, str]] = {}

    def rows() -> Iterator[str]:
        for n in range(sizes.events):
            patient = first if n % HOT_EVERY == 0 else first + (n * 7919) % sizes.patients
            chain = patient % chains
            sequence, previous = heads.get(chain, (0, GENESIS))
            # Filler rows: realistic size and well-formed chains; their hashes are not of their
            # content (verify_audit would say so), which costs nothing here.
            digest = hashlib.sha256(f"{previous}{n}".encode()).hexdigest()
            heads[chain] = (sequence + 1, digest)
            when = datetime.datetime.fromtimestamp(start_seconds + n * step, datetime.UTC)
            user = n % sizes.users + 1
            team = n % sizes.teams
            yield (
                f"{chain}\t{sequence + 1}\t{when.isoformat()}\t{user}\tuser{n % sizes.users}\t"
                f"\t{team + 1}\tTeam {team}\tT{team}\tgp\t{patient}\t"
                '["allergies", "medicines", "problems"]\t'
                '["S1/AllergyIntolerance/1", "S1/MedicationStatement/2"]\trelationship\t'
                f"{n}\t\\N\tweb\tdirect_care\t10.0.0.1\tbench\treq-{n}\t{previous}\t{digest}\t\n"
            )

    _copy(
        "COPY audit_accessevent (chain, sequence, occurred_at, user_id, username, client_id, "
        "team_id, team_name, organisation_ods_code, role, patient_id, categories, resource_ids, "
        "basis, relationship_id, break_glass_id, channel, purpose, ip_address, user_agent, "
        "request_id, previous_hash, hash, end_user) FROM STDIN",
        rows(),
        "access events",
    )
    return heads
