"""Look updates: what an open look's live updates showed beyond its access event; append-only
like the rest of the trail (on PostgreSQL, the triggers of 0007 on its table too)."""

from django.db import migrations, models

TRIGGERS = """
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_lookupdate
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON audit_lookupdate
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""
UNTRIGGER = """
DROP TRIGGER IF EXISTS audit_append_only ON audit_lookupdate;
DROP TRIGGER IF EXISTS audit_append_only_truncate ON audit_lookupdate;
"""


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGERS, params=None)


def not_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNTRIGGER, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0007_append_only_everywhere'),
    ]

    operations = [
        migrations.CreateModel(
            name='LookUpdate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('look_id', models.BigIntegerField()),
                ('occurred_at', models.DateTimeField()),
                ('resource_ids', models.JSONField(default=list)),
            ],
            options={
                'ordering': ['occurred_at'],
                'indexes': [models.Index(fields=['look_id'], name='look_update_look')],
            },
        ),
        migrations.RunPython(append_only, not_append_only),
    ]
