"""Uploaded relationship files kept for their check and import, and the database's own rule that
no two relationships not ended have the same holder, patient and kind with overlapping dates
(access.models._alike states it for the application; this holds it when two imports run at once).

PostgreSQL: an exclusion constraint (btree_gist: the equalities and the date ranges' overlap in
one GiST index). SQLite has no exclusion constraints: triggers refuse the same rows before an
insert or an update. SQLite runs one writer at a time (every transaction here BEGINs IMMEDIATE,
lcr/settings.py), so a trigger's look at the table cannot miss a row another writer has not yet
committed: it is the same guarantee.

Before the rule, relationships that already broke it (imported twice before imports checked) are
ended, the first made of each set standing: it already said what the later ones repeated.
"""

import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

FOREVER = "9999-12-31"

POSTGRESQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE access_carerelationship ADD CONSTRAINT relationship_team_not_twice
    EXCLUDE USING gist (
        patient_id WITH =, team_id WITH =, kind WITH =,
        daterange(starts_on, ends_on, '[]') WITH &&
    ) WHERE (ended_at IS NULL AND team_id IS NOT NULL);
ALTER TABLE access_carerelationship ADD CONSTRAINT relationship_user_not_twice
    EXCLUDE USING gist (
        patient_id WITH =, user_id WITH =, kind WITH =,
        daterange(starts_on, ends_on, '[]') WITH &&
    ) WHERE (ended_at IS NULL AND user_id IS NOT NULL);
"""
POSTGRESQL_UNDO = """
ALTER TABLE access_carerelationship DROP CONSTRAINT IF EXISTS relationship_team_not_twice;
ALTER TABLE access_carerelationship DROP CONSTRAINT IF EXISTS relationship_user_not_twice;
"""

# `IS` compares NULLs as equal: a team's relationship has no user, one person's no team.
_SQLITE_ALIKE = f"""
    SELECT RAISE(ABORT, 'relationship_not_twice: this relationship is already in place')
    WHERE NEW.ended_at IS NULL AND EXISTS (
        SELECT 1 FROM access_carerelationship r
        WHERE r.ended_at IS NULL AND r.id IS NOT NEW.id
          AND r.patient_id = NEW.patient_id AND r.kind = NEW.kind
          AND r.team_id IS NEW.team_id AND r.user_id IS NEW.user_id
          AND r.starts_on <= COALESCE(NEW.ends_on, '{FOREVER}')
          AND COALESCE(r.ends_on, '{FOREVER}') >= NEW.starts_on
    );
"""
SQLITE = [
    f"""CREATE TRIGGER relationship_not_twice_insert BEFORE INSERT ON access_carerelationship
    BEGIN {_SQLITE_ALIKE} END;""",
    f"""CREATE TRIGGER relationship_not_twice_update BEFORE UPDATE OF
        patient_id, team_id, user_id, kind, starts_on, ends_on, ended_at
    ON access_carerelationship
    BEGIN {_SQLITE_ALIKE} END;""",
]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS relationship_not_twice_insert;",
    "DROP TRIGGER IF EXISTS relationship_not_twice_update;",
]


def end_the_repeats(apps, schema_editor):
    """Each not-ended relationship overlapping an earlier-made one of the same holder, patient
    and kind ends now; its grant stays, held by the earlier one (the same holder and patient)."""
    CareRelationship = apps.get_model("access", "CareRelationship")
    standing: dict[tuple, list] = {}
    repeats = []
    for relationship in CareRelationship.objects.filter(ended_at__isnull=True).order_by(
        "patient_id", "pk"
    ).iterator(chunk_size=2000):
        key = (relationship.patient_id, relationship.team_id, relationship.user_id,
               relationship.kind)  # fmt: skip
        earlier = standing.setdefault(key, [])
        ends = relationship.ends_on or datetime.date.max
        if any(
            kept.starts_on <= ends and (kept.ends_on or datetime.date.max) >= relationship.starts_on
            for kept in earlier
        ):
            repeats.append(relationship.pk)
        else:
            earlier.append(relationship)
    for start in range(0, len(repeats), 500):
        CareRelationship.objects.filter(pk__in=repeats[start : start + 500]).update(
            ended_at=timezone.now(),
            end_reason="a repeat of a relationship already in place (ended by migration 0011)",
        )


def hold_the_rule(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement, params=None)


def drop_the_rule(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_UNDO, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UNDO:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0010_one_standing_objection_one_patients_provider"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RelationshipImport",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("file_name", models.CharField(max_length=255)),
                ("data", models.BinaryField()),
                ("sha256", models.CharField(max_length=64)),
                ("size", models.PositiveIntegerField()),
                ("uploaded_at", models.DateTimeField(db_index=True)),
                ("row_count", models.PositiveIntegerField(default=0)),
                ("checked_rows", models.JSONField(default=list)),
                ("imported_rows", models.JSONField(default=list)),
                ("imported_at", models.DateTimeField(blank=True, null=True)),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(end_the_repeats, migrations.RunPython.noop),
        migrations.RunPython(hold_the_rule, drop_the_rule),
    ]
