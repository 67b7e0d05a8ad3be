"""Each care relationship carries its patient's names, kept by the database, and the team's
relationships not ended are indexed in name order: the home page's "my patients" reads its page
from that index (50 rows) instead of looking up the names of every patient the team cares for.

Triggers keep the copy: a relationship written (inserted or updated, whatever the writer sent for
the names: Django's save() sends the instance's) takes its patient's names, and a change to a
patient's names is copied to their relationships in the same statement, whoever writes it (the
application, an identity sync, COPY). The names only order the list; they decide nothing.
"""

from importlib import import_module

from django.db import migrations, models

# SQLite adds a column by making the table again, which drops its triggers: 0011's rule that a
# relationship is not in place twice is made again after the columns are added.
NOT_TWICE = import_module("access.migrations.0011_relationship_imports_and_no_duplicates")

POSTGRESQL = """
CREATE FUNCTION relationship_takes_patient_names() RETURNS trigger AS $$
BEGIN
    SELECT p.family_name, p.given_names INTO NEW.patient_family_name, NEW.patient_given_names
    FROM records_patient p WHERE p.id = NEW.patient_id;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER relationship_takes_patient_names
    BEFORE INSERT OR UPDATE ON access_carerelationship
    FOR EACH ROW EXECUTE FUNCTION relationship_takes_patient_names();
CREATE FUNCTION patient_names_to_relationships() RETURNS trigger AS $$
BEGIN
    UPDATE access_carerelationship
    SET patient_family_name = NEW.family_name, patient_given_names = NEW.given_names
    WHERE patient_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER patient_names_to_relationships
    AFTER UPDATE OF family_name, given_names ON records_patient
    FOR EACH ROW WHEN (OLD.family_name IS DISTINCT FROM NEW.family_name
                       OR OLD.given_names IS DISTINCT FROM NEW.given_names)
    EXECUTE FUNCTION patient_names_to_relationships();
UPDATE access_carerelationship r
SET patient_family_name = p.family_name, patient_given_names = p.given_names
FROM records_patient p WHERE p.id = r.patient_id;
"""
POSTGRESQL_UNDO = """
DROP TRIGGER IF EXISTS patient_names_to_relationships ON records_patient;
DROP FUNCTION IF EXISTS patient_names_to_relationships();
DROP TRIGGER IF EXISTS relationship_takes_patient_names ON access_carerelationship;
DROP FUNCTION IF EXISTS relationship_takes_patient_names();
"""
_SQLITE_TAKE = """UPDATE access_carerelationship SET
        patient_family_name = (SELECT p.family_name FROM records_patient p
                               WHERE p.id = NEW.patient_id),
        patient_given_names = (SELECT p.given_names FROM records_patient p
                               WHERE p.id = NEW.patient_id)
    WHERE id = NEW.id;"""
SQLITE = [
    f"""CREATE TRIGGER relationship_takes_patient_names AFTER INSERT ON access_carerelationship
    BEGIN {_SQLITE_TAKE} END;""",
    # Only when the names differ: the trigger's own update then changes nothing more.
    f"""CREATE TRIGGER relationship_takes_patient_names_again
    AFTER UPDATE ON access_carerelationship
    WHEN NEW.patient_family_name IS NOT (SELECT p.family_name FROM records_patient p
                                         WHERE p.id = NEW.patient_id)
      OR NEW.patient_given_names IS NOT (SELECT p.given_names FROM records_patient p
                                         WHERE p.id = NEW.patient_id)
    BEGIN {_SQLITE_TAKE} END;""",  # noqa: S608 (constant text)
    """CREATE TRIGGER patient_names_to_relationships
    AFTER UPDATE OF family_name, given_names ON records_patient
    BEGIN UPDATE access_carerelationship
        SET patient_family_name = NEW.family_name, patient_given_names = NEW.given_names
        WHERE patient_id = NEW.id;
    END;""",
    """UPDATE access_carerelationship SET
        patient_family_name = (SELECT p.family_name FROM records_patient p
                               WHERE p.id = access_carerelationship.patient_id),
        patient_given_names = (SELECT p.given_names FROM records_patient p
                               WHERE p.id = access_carerelationship.patient_id);""",
]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS relationship_takes_patient_names;",
    "DROP TRIGGER IF EXISTS relationship_takes_patient_names_again;",
    "DROP TRIGGER IF EXISTS patient_names_to_relationships;",
]


def keep_the_names(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in [*NOT_TWICE.SQLITE_UNDO, *NOT_TWICE.SQLITE, *SQLITE]:
            schema_editor.execute(statement, params=None)


def stop_keeping_the_names(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_UNDO, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UNDO:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0011_relationship_imports_and_no_duplicates"),
        # After every migration of records_patient: on SQLite, one that made the table again
        # would drop the trigger that copies a patient's new names.
        ("records", "0012_identity_review_in_the_portal"),
    ]

    operations = [
        migrations.AddField(
            model_name="carerelationship",
            name="patient_family_name",
            field=models.CharField(default="", editable=False, max_length=100),
        ),
        migrations.AddField(
            model_name="carerelationship",
            name="patient_given_names",
            field=models.CharField(default="", editable=False, max_length=200),
        ),
        migrations.RunPython(keep_the_names, stop_keeping_the_names),
        migrations.AddIndex(
            model_name="carerelationship",
            index=models.Index(
                condition=models.Q(("ended_at__isnull", True)),
                fields=["team", "patient_family_name", "patient_given_names", "patient"],
                include=("starts_on", "ends_on"),
                name="relationship_team_by_name",
            ),
        ),
    ]
