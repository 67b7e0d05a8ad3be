"""Who may do what to the audit trail on PostgreSQL: the owner migrates, the application appends.

The application connects (DATABASE_URL) as a role that owns no table; `manage.py migrate`
connects as the owner of the tables (MIGRATION_DATABASE_URL) and, once migrated, grants the
application what it needs and no more:

- the ordinary tables: SELECT, INSERT, UPDATE and DELETE (never TRUNCATE);
- access events, search events, look updates, patients' questions, answers and visits,
  checkpoints, the change history (django-auditlog's `auditlog_logentry`) and the history of
  emergency-access reviews: SELECT and INSERT only;
- chain heads: SELECT, INSERT, and UPDATE of `sequence` and `hash` only, which is how a head
  advances; a trigger refuses any update that does not move it forward, and DELETE is not granted;
- the partitions of the access events: nothing (rows reach them through the partitioned table);
  next months' partitions are added through `audit_add_month_partition`, a function that runs as
  the owner and can do nothing else.

It may not create anything in the schema (CREATE on it is revoked, from PUBLIC too), and migrate
refuses to grant to a role that is a superuser, may create roles, owns the database or the schema,
or is a member of the owner's role: each would have every power the grants withhold.

The application cannot empty, edit, or switch off the triggers of the audit trail: TRUNCATE,
UPDATE, DELETE and ALTER TABLE need privileges or ownership it does not have. Without
MIGRATION_DATABASE_URL one role does both, as on SQLite: the triggers still refuse, but the owner
may drop them.
"""

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

POSTGRESQL = "django.db.backends.postgresql"
CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
# The change history too: nothing in the product updates or deletes a LogEntry at run time.
APPEND_ONLY_TABLES = (
    "audit_accessevent",
    "audit_searchevent",
    "audit_checkpoint",
    "audit_lookupdate",
    "audit_patientquestion",
    "audit_patientanswer",
    "audit_patientvisit",
    "audit_subjectaccessrequest",
    "auditlog_logentry",
    "access_breakglassreview",
)
CHAIN_HEADS = "audit_chainhead"
ADD_PARTITION = "audit_add_month_partition(date)"

# alias -> the application's credentials, kept while a connection uses the owner's
_application: dict[str, dict] = {}


@contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Connect as the owner of the tables until the block ends (nested blocks are one).

    Does nothing when there is no separate owner (MIGRATION_DATABASE_URL unset)."""
    owner = settings.LCR_DATABASE_OWNER
    if owner is None or alias in _application:
        yield
        return
    connection = connections[alias]
    _application[alias] = {
        key: copy.deepcopy(connection.settings_dict.get(key)) for key in CREDENTIALS
    }
    _reconnect(alias, owner)
    try:
        yield
    finally:
        _reconnect(alias, _application.pop(alias))


def _reconnect(alias: str, credentials: dict) -> None:
    connection = connections[alias]
    connection.close()
    connection.settings_dict.update(
        {key: copy.deepcopy(credentials.get(key)) for key in CREDENTIALS if key in credentials}
    )


def application_role(alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """The application's database role, when it is not the owner's (None: one role does both)."""
    owner = settings.LCR_DATABASE_OWNER
    if owner is None or connections[alias].settings_dict["ENGINE"] != POSTGRESQL:
        return None
    application = _application.get(alias) or connections[alias].settings_dict
    role = application.get("USER") or None
    return role if role != owner.get("USER") else None


def grant_application(alias: str = DEFAULT_DB_ALIAS) -> None:
    """As the owner, after migrating: give the application's role what it needs and no more."""
    role = application_role(alias)
    if role is None:
        return
    connection = connections[alias]
    quote = connection.ops.quote_name
    tables = set(connection.introspection.django_table_names(only_existing=True))
    append_only = [table for table in APPEND_ONLY_TABLES if table in tables]
    heads = [CHAIN_HEADS] if CHAIN_HEADS in tables else []
    ordinary = sorted(tables - set(APPEND_ONLY_TABLES) - {CHAIN_HEADS})
    grantee = quote(role)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        _create_role_if_missing(connection, cursor, role)
        _refuse_an_owner_in_disguise(cursor, role)
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {grantee}")
        # Before PostgreSQL 15 every role may create in `public`: a table or function of its own
        # there could shadow the product's, and would be the application's to drop.
        cursor.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {grantee}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(map(quote, ordinary))} "
            f"TO {grantee}"
        )
        cursor.execute(f"GRANT SELECT ON django_migrations TO {grantee}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}")
        for table in [*append_only, *heads, *_partitions(cursor)]:
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {grantee}")
        for table in append_only:
            cursor.execute(f"GRANT SELECT, INSERT ON {table} TO {grantee}")
        for table in heads:
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE (sequence, hash) ON {table} TO {grantee}")
        cursor.execute("SELECT to_regprocedure(%s)", [ADD_PARTITION])
        if cursor.fetchone()[0] is not None:
            cursor.execute(f"REVOKE ALL ON FUNCTION {ADD_PARTITION} FROM PUBLIC")
            cursor.execute(f"GRANT EXECUTE ON FUNCTION {ADD_PARTITION} TO {grantee}")


def _partitions(cursor) -> list[str]:
    cursor.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
        ["audit_accessevent"],
    )
    return [name for (name,) in cursor.fetchall()]


def _create_role_if_missing(connection, cursor, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        return
    # The role's password is the one the application connects with (none with trust or peer).
    password = (_application.get(connection.alias) or connection.settings_dict).get("PASSWORD")
    statement = f"CREATE ROLE {connection.ops.quote_name(role)} LOGIN"
    try:
        with transaction.atomic(using=connection.alias):
            cursor.execute(
                f"{statement} PASSWORD %s" if password else statement,
                [password] if password else None,
            )
    except DatabaseError as error:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if not cursor.fetchone():  # not merely another migrate creating it at the same moment
            raise ImproperlyConfigured(
                f"The application's database role {role!r} (DATABASE_URL) does not exist and the "
                f"owner (MIGRATION_DATABASE_URL) may not create it: create it as a LOGIN role "
                f"with no other rights, then migrate again ({error})."
            ) from None


def _refuse_an_owner_in_disguise(cursor, role: str) -> None:
    """A superuser, a role that may create roles (and so grant itself the owner's), the owner of
    the database or of the schema, or a member of the owner's role would have every power the
    grants withhold."""
    cursor.execute(
        "SELECT r.rolsuper, r.rolcreaterole, d.datdba = r.oid, "
        "pg_has_role(r.oid, n.nspowner, 'MEMBER'), pg_has_role(r.oid, current_user, 'MEMBER') "
        "FROM pg_roles r, pg_database d, pg_namespace n "
        "WHERE r.rolname = %s AND d.datname = current_database() AND n.nspname = current_schema()",
        [role],
    )
    found = cursor.fetchone()
    powers = (
        "is a superuser",
        "may create roles (CREATEROLE)",
        "owns the database",
        "owns the schema",
        "is a member of the owner's role",
    )
    held = [power for power, holds in zip(powers, found, strict=True) if holds]
    if held:
        raise ImproperlyConfigured(
            f"The application's database role {role!r} (DATABASE_URL) {' and '.join(held)}, so "
            "it could empty the audit trail: give it a LOGIN role of its own with no other "
            "rights."
        )
