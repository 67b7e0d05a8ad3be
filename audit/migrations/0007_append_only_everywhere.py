"""On PostgreSQL, the audit trail refuses to be emptied, and the application needs no ownership.

- Access events, search events and checkpoints refuse UPDATE and DELETE (row triggers) and
  TRUNCATE (statement triggers), whoever asks. A TRUNCATE trigger on a partitioned table does not
  guard its partitions, which can be truncated one by one, so every partition of the access
  events has its own; row triggers on the partitioned table are cloned to every partition.
- A chain head only moves forward: an update that does not raise its sequence is refused, and so
  are DELETE and TRUNCATE. The application may update heads (that is how they advance) but never
  move one back.
- Next months' partitions are added by `audit_add_month_partition(month)`, which runs as the
  owner (SECURITY DEFINER): only the owner of a table may add a partition to it, and the
  application, which owns nothing, may call this and nothing else of the kind
  (audit/privileges.py grants it).

Written in SQL rather than with django-pgtrigger: see docs/audit.md for why.
"""

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_access_event_append_only ON audit_accessevent;
DROP FUNCTION IF EXISTS audit_access_event_append_only();

CREATE OR REPLACE FUNCTION audit_chain_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.chain = OLD.chain AND NEW.sequence > OLD.sequence THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a chain head only moves forward: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chainhead
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();
"""
ROWS = """
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""
TRUNCATE = """
CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""
# search_path is fixed, with pg_temp last: a caller's temporary table of the same name must not
# stand in for ours in a function that runs with the owner's rights.
ADD_PARTITION = """
CREATE OR REPLACE FUNCTION audit_add_month_partition(month date) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    starts date := date_trunc('month', month)::date;
    partition_table text := 'audit_accessevent_p' || to_char(starts, 'YYYY_MM');
BEGIN
    IF to_regclass(partition_table) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF audit_accessevent FOR VALUES FROM (%L) TO (%L)',
        partition_table,
        to_char(starts, 'YYYY-MM-DD') || ' 00:00:00+00',
        to_char(starts + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00'
    );
    EXECUTE format(
        'CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON %I '
        'FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()',
        partition_table
    );
    RETURN partition_table;
END;
$$;
REVOKE ALL ON FUNCTION audit_add_month_partition(date) FROM PUBLIC;
"""
DROP = """
DROP FUNCTION IF EXISTS audit_add_month_partition(date);
DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chainhead;
DROP FUNCTION IF EXISTS audit_chain_head_forward_only();
"""
TABLES = ("audit_accessevent", "audit_searchevent", "audit_checkpoint")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.connection.ops.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'audit_accessevent'::regclass"
        )
        partitions = [name for (name,) in cursor.fetchall()]
    schema_editor.execute(APPEND_ONLY, params=None)
    for table in TABLES:
        schema_editor.execute(ROWS.format(table=table), params=None)
    for table in (*TABLES, "audit_chainhead", *partitions):
        schema_editor.execute(TRUNCATE.format(table=quote(table)), params=None)
    schema_editor.execute(ADD_PARTITION.format(schema=schema), params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
            "WHERE tgname LIKE 'audit_append_only%%' AND tgparentid = 0"
        )
        triggers = cursor.fetchall()
    for table, trigger in triggers:
        schema_editor.execute(f'DROP TRIGGER "{trigger}" ON "{table}"', params=None)
    schema_editor.execute(DROP, params=None)
    schema_editor.execute(
        """
        CREATE OR REPLACE FUNCTION audit_access_event_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'access events are append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER audit_access_event_append_only
            BEFORE UPDATE OR DELETE ON audit_accessevent
            FOR EACH ROW EXECUTE FUNCTION audit_access_event_append_only();
        DROP FUNCTION audit_append_only();
        """,
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_signed_checkpoints")]
    operations = [migrations.RunPython(create, drop)]
