"""Every review of an emergency access kept (BreakGlassReview, append-only), the two decisions
that conclude an investigation, and each review already recorded as its access's first row.

On PostgreSQL the history refuses UPDATE, DELETE and TRUNCATE (triggers, as the audit trail
does), and audit/privileges.py grants the application only SELECT and INSERT on it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

REVIEW_STATES = [
    ("pending", "Waiting for review"),
    ("approved", "Appropriate"),
    ("flagged", "Flagged for investigation"),
    ("cleared", "Investigated: appropriate"),
    ("confirmed", "Investigated: not appropriate"),
]
BATCH = 1000


def first_reviews(apps, schema_editor):
    """Each access reviewed before the history existed: its one review becomes the first row
    (the service has always recorded who reviewed, when, and the note, on the access)."""
    BreakGlassAccess = apps.get_model("access", "BreakGlassAccess")
    BreakGlassReview = apps.get_model("access", "BreakGlassReview")
    reviewed = (
        BreakGlassAccess.objects.exclude(review="pending")
        .exclude(reviewed_by=None)
        .filter(reviews=None)
        .order_by("pk")
    )
    rows = []
    for access in reviewed.iterator(BATCH):
        rows.append(
            BreakGlassReview(
                access_id=access.pk,
                decision=access.review,
                note=access.review_note,
                reviewed_by_id=access.reviewed_by_id,
                reviewed_at=access.reviewed_at or access.started_at,
            )
        )
        if len(rows) == BATCH:
            BreakGlassReview.objects.bulk_create(rows)
            rows = []
    BreakGlassReview.objects.bulk_create(rows)


APPEND_ONLY = """
CREATE OR REPLACE FUNCTION access_review_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the review history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_review_history_append_only BEFORE UPDATE OR DELETE
    ON access_breakglassreview FOR EACH ROW
    EXECUTE FUNCTION access_review_history_append_only();
CREATE TRIGGER access_review_history_append_only_truncate BEFORE TRUNCATE
    ON access_breakglassreview FOR EACH STATEMENT
    EXECUTE FUNCTION access_review_history_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS access_review_history_append_only_truncate ON access_breakglassreview;
DROP TRIGGER IF EXISTS access_review_history_append_only ON access_breakglassreview;
DROP FUNCTION IF EXISTS access_review_history_append_only();
"""


def protect(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def unprotect(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0007_sign_in_and_launch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="breakglassaccess",
            name="review",
            field=models.CharField(choices=REVIEW_STATES, default="pending", max_length=20),
        ),
        migrations.CreateModel(
            name="BreakGlassReview",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("decision", models.CharField(choices=REVIEW_STATES[1:], max_length=20)),
                ("note", models.TextField(blank=True)),
                ("reviewed_at", models.DateTimeField()),
                (
                    "access",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reviews",
                        to="access.breakglassaccess",
                    ),
                ),
                (
                    "reviewed_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["reviewed_at", "pk"],
                "indexes": [
                    models.Index(
                        fields=["access", "reviewed_at"], name="breakglass_review_history"
                    )
                ],
            },
        ),
        migrations.RunPython(first_reviews, migrations.RunPython.noop),
        migrations.RunPython(protect, unprotect),
    ]
