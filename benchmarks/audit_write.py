"""Benchmark: what writing the access event costs a record view, with 10,000,000 events stored.

Times care_record.reading.read_record (authorisation, snapshots, refresh bookkeeping) for a patient
with cached data from five sources, with the access event written as always and with the write
left out, on PostgreSQL, and prints medians, p95s and their ratio.

    .venv/bin/python -m benchmarks.audit_write  (database: DATABASE_URL, or lcr_bench_audit on
    the local PostgreSQL; --scale 0.01 for a quick run; the events are reused while they last)
"""

import datetime
import hashlib
import io
import json

from benchmarks import postgres

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lcr_bench_audit"


def main() -> None:
    options = postgres.options(__doc__, repeats=200)
    postgres.setup_django(DEFAULT_URL)
    actor, patient = _scene()
    events = int(10_000_000 * options.scale)
    _fill(events, patient)

    from care_record import reading

    real_write = reading.record_access

    def one_look() -> None:
        reading.read_record(actor=actor, patient=patient, channel="web", refresh=True)

    results = {}
    for name, write in (("with the access event", real_write), ("without", _no_write)):
        reading.record_access = write
        try:
            results[name] = postgres.timed(one_look, options.repeats, warm_up=10)
        finally:
            reading.record_access = real_write
    ratio = results["with the access event"]["median_ms"] / results["without"]["median_ms"]
    from audit.models import AccessEvent

    stored = AccessEvent.objects.count()
    print(f"{stored:,} access events stored; read_record of a patient with 5 sources cached")
    print(f"{'':<24} {'median ms':>10} {'p95 ms':>8}")
    for name, figures in results.items():
        print(f"{name:<24} {figures['median_ms']:10.2f} {figures['p95_ms']:8.2f}")
    print(f"with / without: {ratio:.2f}")
    options.results.mkdir(parents=True, exist_ok=True)
    (options.results / "audit_write.json").write_text(
        json.dumps({"events": stored, "results": results, "ratio": ratio}, indent=2)
    )


def _no_write(**kwargs):
    """The look without its event: an unsaved one, which the look names as its own."""
    from audit.models import AccessEvent

    return AccessEvent(pk=None)


def _scene():
    """A GP whose practice cares for one patient with fresh snapshots from five sources."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import CareRelationship, Role, Team
    from access.policy import actor_for
    from access.services import add_member, create_team, start_relationship
    from records.categories import ALL_CATEGORIES
    from records.models import Link, Patient, Snapshot, SourceSystem

    users = get_user_model().objects
    setup, _ = users.get_or_create(username="bench-setup")
    gp, _ = users.get_or_create(username="bench-gp")
    team = Team.objects.filter(name="Bench practice").first()
    if team is None:
        team = create_team(name="Bench practice", ods_code="F0", kind="gp_practice", actor=setup)
        add_member(team=team, user=gp, role=Role.GP, reason="bench", actor=setup)
    patient, _ = Patient.objects.get_or_create(
        nhs_number="9991249060",
        defaults={"given_names": "Darren", "family_name": "Newton", "birth_date": "1954-01-15"},
    )
    if not CareRelationship.objects.filter(team=team, patient=patient).exists():
        start_relationship(
            patient=patient, team=team, kind="registered_gp", reason="b", actor=setup
        )
    now = timezone.now()
    item = {"resource_type": "Observation", "title": "HbA1c", "date": "2026-10-01", "value": "48"}
    for n in range(5):
        source, _ = SourceSystem.objects.get_or_create(
            ods_code=f"S{n}",
            defaults={
                "name": f"Source {n}",
                "kind": "acute",
                "base_url": "http://127.0.0.1:9/fhir",
            },
        )
        link, _ = Link.objects.get_or_create(
            source=source, local_id=f"L{n}",
            defaults={"patient": patient, "matched_by": "nhs_number", "confirmed_at": now},
        )  # fmt: skip
        for category in ALL_CATEGORIES:
            items = [{**item, "resource_id": f"{category}-{k}"} for k in range(10)]
            later = now + datetime.timedelta(days=3650)  # stays fresh: no fetch is asked for
            Snapshot.objects.update_or_create(
                link=link, category=category,
                defaults={
                    "status": "fresh", "items": items, "item_count": 10, "fetched_at": later,
                    "requested_at": now, "expires_at": later,
                },
            )  # fmt: skip
    return actor_for(gp), patient


def _fill(events: int, patient) -> None:
    """COPY events into the trail (valid chains) until it holds `events` rows."""
    from django.conf import settings
    from django.db import connection

    from audit.chain import GENESIS
    from audit.models import AccessEvent, ChainHead
    from audit.partitions import ensure_partitions

    have = AccessEvent.objects.count()
    if have >= events:
        return
    print(f"Adding {events - have:,} access events (once; reused) ...", flush=True)
    chains = settings.LCR_AUDIT_CHAINS
    heads = {head.chain: (head.sequence, head.hash) for head in ChainHead.objects.all()}
    user_id = patient.relationships.first().created_by_id
    # The filler spans the months up to now, one look every 3 s, each month in its partition.
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=3 * events)
    ensure_partitions(today=started.date(), months_ahead=(3 * events) // (28 * 86400) + 4)
    batch = 500_000
    for offset in range(have, events, batch):
        rows = io.StringIO()
        for n in range(offset, min(events, offset + batch)):
            chain = n % chains
            sequence, previous = heads.get(chain, (0, GENESIS))
            sequence += 1
            # Filler rows: realistic size and a well-formed chain; their hashes are not of
            # their content (verify_audit would say so), which costs nothing here.
            digest = hashlib.sha256(f"{previous}{n}".encode()).hexdigest()
            when = started + datetime.timedelta(seconds=n * 3)
            rows.write(
                f"{chain}\t{sequence}\t{when.isoformat()}\t{user_id}\tbench-user\t\t\\N\t"
                f"Team {n % 2000}\tF{n % 2000}\tgp\t{patient.pk}\t"
                '["allergies", "medicines", "problems"]\t'
                '["S1/AllergyIntolerance/1", "S1/MedicationStatement/2"]\trelationship\t'
                f"{n}\t\\N\tweb\tdirect_care\t10.0.0.1\tbench\treq-{n}\t{previous}\t{digest}\t\n"
            )
            heads[chain] = (sequence, digest)
        rows.seek(0)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY audit_accessevent (chain, sequence, occurred_at, user_id, username, "
                "client_id, team_id, team_name, organisation_ods_code, role, patient_id, "
                "categories, resource_ids, basis, relationship_id, break_glass_id, channel, "
                "purpose, ip_address, user_agent, request_id, previous_hash, hash, end_user) "
                "FROM STDIN"
            ) as copy,
        ):
            copy.write(rows.read())
        print(f"  {min(events, offset + batch):,}", flush=True)
    for chain, (sequence, digest) in heads.items():
        ChainHead.objects.update_or_create(
            chain=chain, defaults={"sequence": sequence, "hash": digest}
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_accessevent")


if __name__ == "__main__":
    main()
