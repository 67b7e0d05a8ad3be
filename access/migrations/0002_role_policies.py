"""Seed the role policy: what each role may see and do (an administrator can read it in the admin).

Headings: allergies, medicines, problems, immunisations, test_results, encounters, appointments,
referrals, care_plans, flags, documents. Demographics and GP are shown to anyone allowed at all.
"""

from django.db import migrations

ALL = [
    "allergies",
    "medicines",
    "problems",
    "immunisations",
    "test_results",
    "encounters",
    "appointments",
    "referrals",
    "care_plans",
    "flags",
    "documents",
]
SOCIAL = ["allergies", "encounters", "appointments", "referrals", "care_plans", "flags"]

POLICIES = {
    # role: (categories, sees mental health services' data, may break glass, manages
    # relationships, reviews break-glass)
    "gp": (ALL, True, False, False, False),
    "practice_nurse": ([c for c in ALL if c != "documents"], False, False, False, False),
    "ae_clinician": (ALL, True, True, False, False),
    "community_nurse": ([c for c in ALL if c != "documents"], False, False, False, False),
    "mental_health_clinician": (ALL, True, False, False, False),
    "social_worker": (SOCIAL, False, False, False, False),
    "administrator": ([], False, False, True, False),
    "privacy_officer": ([], False, False, False, True),
}


def seed(apps, schema_editor):
    RolePolicy = apps.get_model("access", "RolePolicy")
    for role, (categories, sensitive, glass, manages, reviews) in POLICIES.items():
        RolePolicy.objects.update_or_create(
            role=role,
            defaults={
                "categories": categories,
                "sees_sensitive_sources": sensitive,
                "may_break_glass": glass,
                "manages_relationships": manages,
                "reviews_break_glass": reviews,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
