"""Subject access requests: who asked for a patient's access report and what they were sent;
append-only like the rest of the trail (on PostgreSQL, the triggers of 0007 on its table too)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TRIGGERS = """
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_subjectaccessrequest
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON audit_subjectaccessrequest
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""
UNTRIGGER = """
DROP TRIGGER IF EXISTS audit_append_only ON audit_subjectaccessrequest;
DROP TRIGGER IF EXISTS audit_append_only_truncate ON audit_subjectaccessrequest;
"""


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGERS, params=None)


def not_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNTRIGGER, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0009_ed25519_checkpoints"),
        ("records", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SubjectAccessRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("requested_by", models.CharField(choices=[("patient", "The patient"), ("representative", "Someone acting for the patient")], max_length=20)),
                ("requester_name", models.CharField(max_length=200)),
                ("requester_authority", models.CharField(blank=True, help_text="For a representative: on what authority they ask.", max_length=200)),
                ("received_on", models.DateField()),
                ("recorded_by_username", models.CharField(max_length=150)),
                ("filters", models.JSONField(default=dict, help_text="The report's filters (ReportFilters).")),
                ("format", models.CharField(choices=[("pdf", "PDF (to read)"), ("csv", "CSV (a spreadsheet)"), ("fhir", "FHIR AuditEvents (for a system)")], max_length=10)),
                ("looks", models.PositiveIntegerField(help_text="How many looks the file lists.")),
                ("sent_to", models.CharField(help_text="Who the file goes to, and how.", max_length=300)),
                ("produced_at", models.DateTimeField()),
                ("file_name", models.CharField(max_length=200)),
                ("file_sha256", models.CharField(max_length=64)),
                ("patient", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="subject_access_requests", to="records.patient")),
                ("recorded_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "ordering": ["-produced_at"],
                "indexes": [models.Index(fields=["patient", "produced_at"], name="subject_access_patient")],
            },
        ),
        migrations.RunPython(append_only, not_append_only),
    ]
