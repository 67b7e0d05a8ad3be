"""On PostgreSQL the application's database role may read and append to the audit trail and do
nothing else to it: not empty it, not change it, not switch its triggers off, not move a chain
head back, not act as the owner; and the triggers refuse TRUNCATE, UPDATE and DELETE even to the
owner, on the table and on every partition. SQLite has no roles: there the ORM refuses, and
verify_audit finds what was done behind it (tests/test_audit_tampering.py)."""

import datetime

import psycopg
import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction

from audit.models import AccessEvent, AppendOnlyError, ChainHead
from audit.partitions import ensure_partitions, partition_name
from audit.privileges import application_role, as_owner, grant_application
from tests.factories import PatientFactory, UserFactory, a_look

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
ON_POSTGRES = connection.vendor == "postgresql"
AUDIT_TABLES = (
    "audit_accessevent",
    "audit_searchevent",
    "audit_checkpoint",
    "audit_chainhead",
    "audit_lookupdate",
    "audit_patientquestion",
    "audit_patientanswer",
    "audit_patientvisit",
    "audit_subjectaccessrequest",
    "access_breakglassreview",
)


def refused(statement: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        connection.cursor().execute(statement, params)
    return str(raised.value)


def test_the_application_cannot_empty_change_or_unguard_the_audit_trail():
    event = a_look(PatientFactory(), UserFactory())
    if not ON_POSTGRES:
        with pytest.raises(AppendOnlyError):
            AccessEvent.objects.all().delete()
        return
    partition = partition_name(event.occurred_at.date())
    owner = settings.LCR_DATABASE_OWNER["USER"]
    statements = [
        *(f"TRUNCATE {table}" for table in AUDIT_TABLES),
        f"TRUNCATE {partition}",
        "TRUNCATE records_patient CASCADE",
        "DELETE FROM audit_accessevent",
        f"DELETE FROM {partition}",  # noqa: S608
        "UPDATE audit_accessevent SET username = 'someone else'",
        "DELETE FROM audit_searchevent",
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_chainhead",
        "DELETE FROM audit_lookupdate",
        "UPDATE audit_lookupdate SET resource_ids = '[]'",
        "DELETE FROM audit_patientvisit",
        "UPDATE audit_patientvisit SET action = 'signed_in'",
        "UPDATE audit_patientquestion SET text = 'something else'",
        "DELETE FROM audit_patientanswer",
        "ALTER TABLE audit_accessevent DISABLE TRIGGER USER",
        f"ALTER TABLE {partition} DISABLE TRIGGER USER",
        "ALTER TABLE audit_chainhead DISABLE TRIGGER USER",
        "DROP TABLE audit_checkpoint",
        f"ALTER TABLE {partition} RENAME TO gone",
        "CREATE TABLE audit_accessevent_p2099_01 PARTITION OF audit_accessevent "
        "FOR VALUES FROM ('2099-01-01 00:00+00') TO ('2099-02-01 00:00+00')",
        f'SET ROLE "{owner}"',
    ]
    for statement in statements:
        assert refused(statement).startswith(("permission denied", "must be owner")), statement


def test_the_application_advances_a_chain_head_but_cannot_move_it_back():
    patient, user = PatientFactory(), UserFactory()
    a_look(patient, user)
    second = a_look(patient, user)
    head = ChainHead.objects.get(chain=second.chain)
    assert (head.sequence, head.hash) == (2, second.hash)
    if not ON_POSTGRES:
        return
    for sequence in (1, 2):  # back, or the same place with another hash
        assert "a chain head only moves forward" in refused(
            "UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE chain = %s",
            [sequence, "0" * 64, head.chain],
        )
    assert "permission denied" in refused(
        "UPDATE audit_chainhead SET chain = 99 WHERE chain = %s", [head.chain]
    )


def test_migrate_grants_the_application_only_reading_and_appending_on_the_audit_trail():
    if not ON_POSTGRES:
        assert application_role() is None  # one file, no roles
        return
    role = application_role()
    assert role and role == connection.settings_dict["USER"] != settings.LCR_DATABASE_OWNER["USER"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (role, False)
        cursor.execute(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND (table_name LIKE 'audit\\_%%' OR table_name = ANY(%s)) "
            "GROUP BY table_name",
            [role, list(AUDIT_TABLES)],
        )
        granted = dict(cursor.fetchall())
        cursor.execute(
            "SELECT string_agg(column_name || ':' || privilege_type, ',' ORDER BY column_name) "
            "FROM information_schema.column_privileges "
            "WHERE grantee = %s AND table_name = 'audit_chainhead' AND privilege_type = 'UPDATE'",
            [role],
        )
        head_updates = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = ANY(%s) AND tableowner = %s",
            [list(AUDIT_TABLES), role],
        )
        owned = cursor.fetchone()[0]
    assert granted == {table: "INSERT,SELECT" for table in AUDIT_TABLES}  # no partition at all
    assert head_updates == "hash:UPDATE,sequence:UPDATE"
    assert owned == 0


def test_the_application_adds_months_through_the_owners_function_and_each_refuses_truncate(
    database_owner,
):
    created = ensure_partitions(today=datetime.date(2033, 3, 1), months_ahead=0)
    if not ON_POSTGRES:
        assert created == []
        return
    assert created == ["audit_accessevent_p2033_03"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", created)
        assert cursor.fetchone()[0] == settings.LCR_DATABASE_OWNER["USER"]
    with pytest.raises(psycopg.Error, match="append-only: TRUNCATE on audit_accessevent_p2033_03"):
        database_owner.execute("TRUNCATE audit_accessevent_p2033_03")


def test_the_triggers_refuse_even_the_owner(database_owner):
    event = a_look(PatientFactory(), UserFactory())
    if not ON_POSTGRES:  # no triggers: verify_audit is what finds it
        database_owner.execute("DELETE FROM audit_accessevent")
        assert not AccessEvent.objects.exists()
        return
    partition = partition_name(event.occurred_at.date())
    for statement, why in [
        # (CASCADE: the answers refer to the questions, which alone the foreign key refuses)
        *((f"TRUNCATE {table} CASCADE", "append-only: TRUNCATE") for table in AUDIT_TABLES),
        (f"TRUNCATE {partition}", "append-only: TRUNCATE"),
        ("TRUNCATE audit_accessevent_default", "append-only: TRUNCATE"),
        ("TRUNCATE records_patient CASCADE", "append-only: TRUNCATE"),
        ("UPDATE audit_accessevent SET username = 'x'", "append-only: UPDATE"),
        (f"DELETE FROM {partition}", "append-only: DELETE"),  # noqa: S608
        ("DELETE FROM audit_chainhead", "only moves forward: DELETE"),
        ("UPDATE audit_chainhead SET sequence = 0", "only moves forward: UPDATE"),
    ]:
        with pytest.raises(psycopg.Error, match=why):
            database_owner.execute(statement)


def test_check_deploy_warns_when_the_application_owns_the_audit_trail(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.postgresql")
    settings.LCR_DATABASE_OWNER = None
    assert "audit.W001" in {message.id for message in run_checks(include_deployment_checks=True)}

    monkeypatch.setitem(settings.DATABASES["default"], "USER", "lcr_app")
    settings.LCR_DATABASE_OWNER = {"USER": "lcr_app"}  # MIGRATION_DATABASE_URL, the same user
    assert "audit.W001" in {m.id for m in run_checks(include_deployment_checks=True)}

    settings.LCR_DATABASE_OWNER = {"USER": "owner"}
    assert "audit.W001" not in {m.id for m in run_checks(include_deployment_checks=True)}


def test_the_change_history_is_only_read_and_appended_by_the_application():
    from auditlog.models import LogEntry

    PatientFactory()  # its creation is in the change history
    entry = LogEntry.objects.get()
    if not ON_POSTGRES:
        return
    role = application_role()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = 'auditlog_logentry'",
            [role],
        )
        assert cursor.fetchone()[0] == "INSERT,SELECT"
    for statement in (
        "UPDATE auditlog_logentry SET object_repr = 'nobody'",
        "DELETE FROM auditlog_logentry",
        "TRUNCATE auditlog_logentry",
    ):
        assert refused(statement).startswith("permission denied"), statement
    assert LogEntry.objects.get().object_repr == entry.object_repr


def test_the_application_creates_nothing_in_the_schema(database_owner):
    if not ON_POSTGRES:
        return
    database_owner.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # as before PostgreSQL 15
    with as_owner():
        grant_application()
    for statement in (
        "CREATE TABLE public.shadow (id int)",
        "CREATE FUNCTION public.shadow() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ):
        assert refused(statement).startswith("permission denied"), statement


@pytest.mark.parametrize(
    "power, grant, why",
    [
        ("createrole", "ALTER ROLE {role} CREATEROLE", "may create roles"),
        ("database", "ALTER DATABASE {database} OWNER TO {role}", "owns the database"),
        ("schema", "ALTER SCHEMA public OWNER TO {role}", "owns the schema"),
    ],
)
def test_migrate_refuses_an_application_role_with_an_owners_power(
    database_owner, power, grant, why
):
    if not ON_POSTGRES:
        return
    role, database = f"lcr_harden_{power}", connection.settings_dict["NAME"]
    owner = settings.LCR_DATABASE_OWNER["USER"]
    schema_owner = database_owner.execute(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()[0]
    database_owner.execute(f"DROP ROLE IF EXISTS {role}")
    database_owner.execute(f"CREATE ROLE {role} LOGIN")
    database_owner.execute(grant.format(role=role, database=database))
    application = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = role
    try:
        with pytest.raises(ImproperlyConfigured, match=why), as_owner():
            grant_application()
    finally:
        connection.close()
        connection.settings_dict["USER"] = application
        database_owner.execute(f"ALTER DATABASE {database} OWNER TO {owner}")
        database_owner.execute(f"ALTER SCHEMA public OWNER TO {schema_owner}")
        database_owner.execute(f"DROP ROLE {role}")
