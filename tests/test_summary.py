"""The record's summary: only what is current and true, each allergy and medicine once only when
it is surely the same one, attendances by date, and "may be missing something" only where a
source that may hold the heading has not answered it."""

import datetime
from types import SimpleNamespace

from django.utils import timezone

from care_record.reading import CategoryView
from care_record.summary import summary_of

SNOMED = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
NOW = timezone.make_aware(datetime.datetime(2026, 12, 2, 9, 0))


def item(title, *, source="Mile End Surgery GP", **fields):
    return {"resource_type": "AllergyIntolerance", "resource_id": title, "title": title,
            "date": "2026-06-01", "status": "Active", "status_code": "active", "value": "",
            "detail": "", "criticality": "", "contact": "", "code_system": "", "code": "",
            "retracted": "", "source_name": source, **fields}  # fmt: skip


def record(**headings):
    return SimpleNamespace(
        categories=[
            heading
            if isinstance(heading, CategoryView)
            else CategoryView(category, category, heading)
            for category, heading in headings.items()
        ]
    )


def section(summary, key):
    return next(s for s in summary if s.key == key)


def titles(summary, key):
    return [i["title"] for i in section(summary, key).items]


def test_an_entered_in_error_allergy_and_a_refuted_problem_are_never_in_the_summary():
    summary = summary_of(
        record(
            allergies=[
                item("Latex", status="Entered in error", retracted="Entered in error"),
                item("Penicillin"),
            ],
            problems=[
                item("Asthma", resource_type="Condition", status="Refuted", retracted="Refuted"),
                item("Hypertension", resource_type="Condition"),
            ],
        ),
        now=NOW,
    )
    assert titles(summary, "allergies") == ["Penicillin"]
    assert titles(summary, "problems") == ["Hypertension"]


def test_resolved_and_inactive_items_stay_out_of_the_summary_as_before():
    summary = summary_of(
        record(problems=[
            item("Pneumonia", status="Resolved", status_code="resolved"),
            item("Old rash", status="Inactive", status_code="inactive"),
            item("Diabetes"),
        ]),
        now=NOW,
    )  # fmt: skip
    assert titles(summary, "problems") == ["Diabetes"]


def degraded(text):
    return item(text, code_system=SNOMED, code="196461000000101")


def test_different_allergies_sharing_a_gp2gp_degraded_code_are_all_shown():
    summary = summary_of(
        record(allergies=[degraded("Septrin"), degraded("Egg protein"), degraded("Amoxicillin")]),
        now=NOW,
    )
    assert titles(summary, "allergies") == ["Septrin", "Egg protein", "Amoxicillin"]


def test_allergies_sharing_a_generic_code_are_all_shown():
    generic = {"code_system": SNOMED, "code": "416098002"}  # Drug allergy: which drug?
    summary = summary_of(
        record(allergies=[item("Drug allergy: codeine", **generic),
                          item("Drug allergy: tramadol", source="Thameside", **generic)]),
        now=NOW,
    )  # fmt: skip
    assert len(section(summary, "allergies").items) == 2


def test_uncoded_allergies_with_the_same_words_from_two_sources_are_both_shown():
    summary = summary_of(
        record(allergies=[item("Penicillin"), item("Penicillin", source="Thameside")]), now=NOW
    )
    assert titles(summary, "allergies") == ["Penicillin", "Penicillin"]


def test_the_same_code_in_another_coding_system_is_another_thing():
    summary = summary_of(
        record(medicines=[
            item("Amlodipine 5mg tablets", code_system=DMD, code="319283006"),
            item("Amlodipine 5mg tablets", code_system="https://local.example/codes",
                 code="319283006", source="Thameside"),
        ]),
        now=NOW,
    )  # fmt: skip
    assert len(section(summary, "medicines").items) == 2


def test_the_same_coded_medicine_from_two_sources_is_listed_once_naming_both():
    amlodipine = {"code_system": DMD, "code": "319283006"}
    summary = summary_of(
        record(medicines=[item("Amlodipine 5mg tablets", **amlodipine),
                          item("Amlodipine 5mg tablets", source="Thameside", **amlodipine)]),
        now=NOW,
    )  # fmt: skip
    [once] = section(summary, "medicines").items
    assert [other["source_name"] for other in once["also_from"]] == ["Thameside"]


def encounter(title, date, status_code, **fields):
    return item(title, resource_type="Encounter", date=date, status_code=status_code, **fields)


def test_recent_attendances_are_chosen_by_date_whatever_their_status():
    summary = summary_of(
        record(encounters=[
            encounter("Emergency department visit", "2026-09-14T22:10:00Z", "finished"),
            encounter("Hospital admission", "2026-09-15T04:00:00Z", "in-progress"),
            encounter("Clinic", "2025-06-01T10:00:00Z", "finished"),  # more than a year ago
            encounter("Cancelled clinic", "2026-10-01T10:00:00Z", "cancelled"),
            encounter("Booked clinic", "2027-01-10T10:00:00Z", "planned"),
            encounter("Muddled", "2026-08-01T10:00:00Z", "entered-in-error",
                      retracted="Entered in error"),
        ]),
        now=NOW,
    )  # fmt: skip
    assert titles(summary, "attendances") == ["Emergency department visit", "Hospital admission"]


def test_a_heading_is_incomplete_only_when_its_own_sources_have_not_answered():
    from care_record.reading import HeadingSource
    from records.fetching import SourceState
    from records.models import SourceSystem

    thameside = SourceSystem(name="Thameside")
    asking = [HeadingSource(source=thameside, state=SourceState.LOADING)]
    summary = summary_of(
        record(
            allergies=CategoryView("allergies", "Allergies", [item("Penicillin")]),
            medicines=CategoryView("medicines", "Medicines", [], sources=asking),
            problems=CategoryView("problems", "Problems", [], unavailable=["Thameside: timed out"]),
        ),
        now=NOW,
    )
    assert not section(summary, "allergies").incomplete
    assert not section(summary, "allergies").withheld
    assert section(summary, "medicines").incomplete == ["Thameside"]
    assert section(summary, "problems").withheld == ["Thameside: timed out"]
