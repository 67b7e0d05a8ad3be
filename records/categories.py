"""The headings of a record and the FHIR R4 resource types that carry each of them.

One table, used by the fetcher (what to ask a source for) and by the pages (what to show where).
"""

from django.db import models


class Category(models.TextChoices):
    ALLERGIES = "allergies", "Allergies and reactions"
    MEDICINES = "medicines", "Medicines"
    PROBLEMS = "problems", "Problems and diagnoses"
    IMMUNISATIONS = "immunisations", "Immunisations"
    TEST_RESULTS = "test_results", "Test results"
    ENCOUNTERS = "encounters", "Attendances, admissions and discharges"
    APPOINTMENTS = "appointments", "Appointments"
    REFERRALS = "referrals", "Referrals"
    CARE_PLANS = "care_plans", "Care plans"
    FLAGS = "flags", "Alerts and flags"
    DOCUMENTS = "documents", "Letters and documents"


ALL_CATEGORIES: tuple[str, ...] = tuple(Category.values)


def parse_categories(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Known categories in table order; None or empty means all. Raises ValueError on a stranger."""
    if not values:
        return ALL_CATEGORIES
    unknown = sorted(set(values) - set(ALL_CATEGORIES))
    if unknown:
        raise ValueError(f"Unknown categories: {', '.join(unknown)}")
    return tuple(category for category in ALL_CATEGORIES if category in values)
