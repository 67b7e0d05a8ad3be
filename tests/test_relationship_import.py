"""The care relationship import: one uploaded file, kept and checked, then imported exactly as
checked, all rows or none; a row already in place is reported as such and not made twice, by the
service's rule and by the database's own constraint; dates as people type them; what happened to
each row on a page and in a CSV."""

import csv
import datetime
import io
import re

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from access import importing, services
from access.exceptions import RelationshipAlreadyInPlace
from access.models import CareRelationship, RelationshipImport, Role, Team
from access.tasks import forget_expired_imports
from audit.models import AccessEvent
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.import_helpers import (
    HEADER,
    check,
    check_and_import,
    check_page,
    csv_upload,
    results_page,
    run,
)

pytestmark = pytest.mark.django_db

TEAM = "RXC,Riverside District Nurses"


def text_of(page: str) -> str:
    """The page's words, without tags, spaces run together (as a reader hears them)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def button_text(page: str) -> list[str]:
    """The words of the buttons in the page's main content (not the header's)."""
    main = re.search(r"<main.*?</main>", page, re.S).group()
    return [
        text_of(label).strip() for label in re.findall(r"<button[^>]*>(.*?)</button>", main, re.S)
    ]


@pytest.fixture
def office():
    return make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")


@pytest.fixture
def admin(office):
    return member(office, Role.ADMINISTRATOR, "office-admin")


@pytest.fixture
def office_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def team():
    return make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")


def rows_for(patients, kind: str = "referral", ends_on: str = "") -> str:
    return HEADER + "".join(
        f"{p.nhs_number},{TEAM},{kind},,{ends_on},wound care\n" for p in patients
    )


# Importing the same file twice


def test_importing_the_same_file_twice_creates_nothing_the_second_time_and_says_so(
    office_client, team
):
    patients = [PatientFactory() for _ in range(3)]
    text = rows_for(patients)

    first = text_of(check_and_import(office_client, text))
    second_check = check(office_client, text)
    second = text_of(check_page(office_client, second_check))

    assert "Imported 3 relationships" in first
    assert CareRelationship.objects.filter(team=team, ended_at__isnull=True).count() == 3
    assert "0 relationships will be created" in second
    assert "3 are already in place" in second
    assert "Every relationship in this file is already in place. There is nothing to import." in (
        second
    )
    assert not button_text(check_page(office_client, second_check))
    today = timezone.localdate()
    assert f"This relationship is already in place (from {today:%-d %B %Y}, with no end date)." in (
        second
    )


def test_the_second_import_of_a_file_checked_twice_creates_nothing_and_says_so(office_client, team):
    """Both checked before either was imported: the second import finds them in place."""
    patients = [PatientFactory() for _ in range(2)]
    first, second = (
        check(office_client, rows_for(patients)),
        check(office_client, rows_for(patients)),
    )
    run(office_client, first)

    assert run(office_client, second).status_code == 302
    page = text_of(results_page(office_client, second))

    assert CareRelationship.objects.count() == 2
    assert "Nothing new to import" in page
    assert page.count("Already in place") == 2
    assert "If someone imported the same file at the same time, their import created them." in page
    assert RelationshipImport.objects.get(pk=second.pk).imported_at is not None


def test_a_row_overlapping_a_relationship_in_force_or_starting_later_is_already_in_place(
    office_client, team, admin
):
    today = timezone.localdate()
    in_force, later, ended, other_kind, before = (PatientFactory() for _ in range(5))
    for patient, starts in ((in_force, today), (later, today + datetime.timedelta(days=40))):
        services.start_relationship(
            patient=patient, team=team, kind="referral", reason="r", actor=UserFactory(),
            starts_on=starts, ends_on=starts + datetime.timedelta(days=30),
        )  # fmt: skip
    gone = services.start_relationship(
        patient=ended, team=team, kind="referral", reason="r", actor=UserFactory()
    )
    services.end_relationship(relationship=gone, reason="discharged", actor=UserFactory())
    services.start_relationship(
        patient=other_kind, team=team, kind="registered_gp", reason="r", actor=UserFactory()
    )
    services.start_relationship(
        patient=before, team=team, kind="referral", reason="r", actor=UserFactory(),
        starts_on=today, ends_on=today + datetime.timedelta(days=5),
    )  # fmt: skip
    in_ten_days = (today + datetime.timedelta(days=10)).strftime("%d/%m/%Y")
    text = HEADER + "".join(
        f"{p.nhs_number},{TEAM},referral,{starts},,visits\n"
        for p, starts in (
            (in_force, ""), (later, ""), (ended, ""), (other_kind, ""), (before, in_ten_days),
        )
    )  # fmt: skip

    kept = check(office_client, text)
    outcomes = {r.line: r.outcome for r in importing.checked_rows(kept)}
    page = text_of(check_page(office_client, kept))

    assert outcomes == {
        2: importing.Outcome.IN_PLACE, 3: importing.Outcome.IN_PLACE,
        4: importing.Outcome.TO_CREATE, 5: importing.Outcome.TO_CREATE,
        6: importing.Outcome.TO_CREATE,
    }  # fmt: skip
    later_starts = today + datetime.timedelta(days=40)
    later_ends = later_starts + datetime.timedelta(days=30)
    assert f"(from {later_starts:%-d %B %Y} to {later_ends:%-d %B %Y})" in page
    assert button_text(check_page(office_client, kept)) == ["Import these 3 relationships"]
    run(office_client, kept)
    assert CareRelationship.objects.filter(ended_at__isnull=True).count() == 4 + 3


def test_two_rows_of_one_file_for_the_same_relationship_make_one(office_client, team):
    patient = PatientFactory()
    row = f"{patient.nhs_number},{TEAM},referral,,,visits\n"
    text = HEADER + row + row + f"{patient.nhs_number},{TEAM},referral,,,visits, weekly\n"

    kept = check(office_client, text)

    # (the third line has a stray comma: fixing it leaves two rows, and one is a repeat)
    page = text_of(check_page(office_client, kept))
    assert "This line has more cells than there are columns" in page
    fixed = check(office_client, HEADER + row + row)
    assert [r.outcome for r in importing.checked_rows(fixed)] == [
        importing.Outcome.TO_CREATE, importing.Outcome.IN_PLACE,
    ]  # fmt: skip
    assert "The same relationship as line 2." in text_of(check_page(office_client, fixed))
    assert button_text(check_page(office_client, fixed)) == ["Import this relationship"]
    run(office_client, fixed)
    assert CareRelationship.objects.count() == 1


# One kept file: what was checked is what is imported


def test_the_check_page_shows_the_file_its_size_rows_and_hash_and_writes_nothing(
    office_client, team
):
    patients = [PatientFactory() for _ in range(3)]
    text = rows_for(patients)

    kept = check(office_client, text)
    page = text_of(check_page(office_client, kept))

    import hashlib

    digest = hashlib.sha256(text.encode()).hexdigest()
    assert kept.sha256 == digest and bytes(kept.data) == text.encode()
    assert "relationships.csv" in page
    assert f"{len(text.encode()):,} bytes" in page
    assert "Rows 3" in page
    assert digest in page
    assert not CareRelationship.objects.exists()
    assert button_text(check_page(office_client, kept)) == ["Import these 3 relationships"]


def test_the_import_imports_the_kept_file_without_it_being_chosen_again(office_client, team):
    patients = [PatientFactory() for _ in range(2)]
    kept = check(office_client, rows_for(patients))

    response = office_client.post(
        reverse("manage-import-run", kwargs={"import_id": kept.pk}), {"sha256": kept.sha256}
    )

    assert response["Location"] == reverse("manage-import-results", kwargs={"import_id": kept.pk})
    assert set(CareRelationship.objects.values_list("patient_id", flat=True)) == {
        p.pk for p in patients
    }
    assert CareRelationship.objects.filter(granted_at__isnull=False).count() == 2


def test_a_kept_file_is_imported_once_even_if_the_button_is_pressed_again(office_client, team):
    kept = check(office_client, rows_for([PatientFactory()]))
    run(office_client, kept)

    again = run(office_client, kept)

    assert again["Location"] == reverse("manage-import-results", kwargs={"import_id": kept.pk})
    assert CareRelationship.objects.count() == 1
    check_again = office_client.get(reverse("manage-import-check", kwargs={"import_id": kept.pk}))
    assert check_again["Location"] == again["Location"]


def test_a_hash_other_than_the_checked_files_is_refused(office_client, team):
    kept = check(office_client, rows_for([PatientFactory()]))

    response = office_client.post(
        reverse("manage-import-run", kwargs={"import_id": kept.pk}), {"sha256": "0" * 64}
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert "<title>Error: Check the file" in page
    assert "This is not the file that was checked: upload it again." in page
    assert not CareRelationship.objects.exists()


def test_another_administrators_upload_is_not_found_to_them(client, office, team):
    owner = member(office, Role.ADMINISTRATOR, "owner")
    client.force_login(owner)
    kept = check(client, rows_for([PatientFactory()]))
    client.force_login(member(office, Role.ADMINISTRATOR, "colleague"))

    for route, method in [
        ("manage-import-check", "get"), ("manage-import-run", "post"),
        ("manage-import-results", "get"), ("manage-import-results-csv", "get"),
    ]:  # fmt: skip
        response = getattr(client, method)(
            reverse(route, kwargs={"import_id": kept.pk}), {"sha256": kept.sha256}
        )
        assert response.status_code == 404, route
    assert not CareRelationship.objects.exists()


def test_an_upload_kept_past_its_hour_is_refused_with_a_message_and_deleted(office_client, team):
    kept = check(office_client, rows_for([PatientFactory()]))
    RelationshipImport.objects.filter(pk=kept.pk).update(
        uploaded_at=timezone.now() - datetime.timedelta(minutes=61)
    )

    response = run(office_client, kept)

    assert response.status_code == 410
    page = response.content.decode()
    assert "<title>Error: Import care relationships" in page
    assert "Uploaded files are kept for 60 minutes, and relationships.csv has been deleted." in page
    assert not RelationshipImport.objects.exists()
    assert not CareRelationship.objects.exists()


def test_the_periodic_task_forgets_uploads_past_their_hour_only(office_client, team):
    old = check(office_client, rows_for([PatientFactory()]))
    RelationshipImport.objects.filter(pk=old.pk).update(
        uploaded_at=timezone.now() - datetime.timedelta(minutes=61)
    )
    recent = check(office_client, rows_for([PatientFactory()]))

    assert forget_expired_imports() == 1
    assert list(RelationshipImport.objects.values_list("pk", flat=True)) == [recent.pk]


# All rows or none


def test_the_check_reports_every_bad_row_and_offers_no_import(office_client, team):
    good = PatientFactory()
    text = HEADER + (
        f"{good.formatted_nhs_number},{TEAM},referral,,,wound care\n"
        f"999 000 0017,{TEAM},referral,,,x\n"
        f"{good.nhs_number},RXC,No Such Team,referral,,,x\n"
        f"{good.nhs_number},{TEAM},friendship,,,x\n"
        f"{good.nhs_number},{TEAM},referral,2026-13-01,,x\n"
        f"{good.nhs_number},{TEAM},referral,,,\n"
        f"9990000018,{TEAM},referral,,,not in the register\n"
    )

    kept = check(office_client, text)
    page = check_page(office_client, kept)
    words = text_of(page)

    checked = importing.checked_rows(kept)
    problems = {r.line: r.message for r in checked if r.outcome is importing.Outcome.ERROR}
    assert set(problems) == {3, 4, 5, 6, 7, 8}
    assert [(r.line, r.outcome) for r in checked if r.line not in problems] == [
        (2, importing.Outcome.TO_CREATE)
    ]  # (in the CSV of the check; the page lists the rows to fix)
    assert kept.row_count == 7
    assert "the check digit is wrong" in problems[3]
    assert problems[4] == "There is no team called 'No Such Team' with the ODS code 'RXC'."
    assert problems[5].startswith("The kind must be one of registered_gp")
    assert problems[6].startswith(
        "The starts_on cell must be a real date, day first, like 1/12/2026"
    )
    assert problems[7] == "The reason cell is empty: say why they care for this patient."
    assert problems[8] == "No patient in the register has the NHS number 999 000 0018."
    assert "<title>Error: Check the file" in page
    assert "6 rows of the file need fixing before anything can be imported" in words
    assert not button_text(page)
    assert run(office_client, kept).status_code == 409
    assert not CareRelationship.objects.exists()


def test_a_row_wrong_at_import_time_leaves_nothing_imported_and_every_row_says_why(
    office_client, team
):
    from tests.factories import merged

    first, later_merged = PatientFactory(), PatientFactory()
    kept = check(office_client, rows_for([first, later_merged]))
    merged(PatientFactory(), later_merged, actor=UserFactory(username="reviewer"))

    run(office_client, kept)
    page = results_page(office_client, kept)

    kept.refresh_from_db()
    assert not CareRelationship.objects.exists()
    outcomes = {r.line: (r.outcome, r.message) for r in importing.imported_rows(kept)}
    assert outcomes[2] == (
        importing.Outcome.NOT_IMPORTED,
        "Not imported: another row of the file is wrong.",
    )
    assert outcomes[3][0] is importing.Outcome.ERROR and "was merged into" in outcomes[3][1]
    assert "<title>Error: Import results" in page
    assert "Nothing was imported" in text_of(page)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nhs_number,kind\n", "The file has no reason column."),
        ("nhs_number,kind,reason,colour\n1,2,3,4\n", "Unknown column(s): colour."),
        (HEADER, "The file has no rows under its header."),
        (b"\xff\xfe\x00binary", "The file is not UTF-8 text"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused(office_client, text, problem):
    kept = check(office_client, text)
    assert problem in check_page(office_client, kept).replace("&#34;", '"')


def test_an_empty_form_is_an_error_summary_not_a_bubble(office_client):
    response = office_client.post(reverse("manage-import-relationships"), {})

    page = response.content.decode()
    assert response.status_code == 400
    assert "<title>Error: Import care relationships" in page
    assert "nhsuk-error-summary" in page and "Select a CSV file of care relationships" in page
    assert re.search(r"<form [^>]*novalidate", page)


# Dates as people type them


@pytest.mark.parametrize(
    "typed", ["1/12/2026", "01/12/2026", "01-12-2026", "2026-12-01", "1 Dec 2026",
              "1 December 2026", "1 december 2026", " 1  Dec 2026 "],
)  # fmt: skip
def test_a_date_is_read_as_people_type_it_day_first(typed):
    assert importing.parse_date(typed) == datetime.date(2026, 12, 1)


@pytest.mark.parametrize("typed", ["12/31/2026", "1/12/26", "2026/12/01", "1st December 2026",
                                   "next week", "31/02/2027"])  # fmt: skip
def test_any_other_date_is_refused_naming_the_cell_and_an_example(office_client, team, typed):
    text = HEADER + f"{PatientFactory().nhs_number},{TEAM},referral,,{typed},visits\n"

    kept = check(office_client, text)

    (result,) = importing.checked_rows(kept)
    assert result.outcome is importing.Outcome.ERROR
    assert result.message == (
        "The ends_on cell must be a real date, day first, like 1/12/2026, 01-12-2026, "
        f"2026-12-01 or 1 December 2026; {typed.strip()!r} is not."
    )


def test_dates_typed_day_first_are_the_relationships_dates(office_client, team):
    patient = PatientFactory()
    text = HEADER + f"{patient.nhs_number},{TEAM},referral,1/12/2026,31 Dec 2027,visits\n"

    check_and_import(office_client, text)

    relationship = CareRelationship.objects.get()
    assert (relationship.starts_on, relationship.ends_on) == (
        datetime.date(2026, 12, 1), datetime.date(2027, 12, 31),
    )  # fmt: skip


# What happened to each row


def test_the_results_page_and_csv_say_what_happened_to_each_row(office_client, team):
    placed, new = PatientFactory(), PatientFactory()
    services.start_relationship(
        patient=placed, team=team, kind="referral", reason="r", actor=UserFactory()
    )
    text = rows_for([placed, new])

    page = check_and_import(office_client, text)
    kept = RelationshipImport.objects.get()
    response = office_client.get(
        reverse("manage-import-results-csv", kwargs={"import_id": kept.pk})
    )

    words = text_of(page)
    assert "Imported 1 relationship" in words and "1 already in place" in words
    assert placed.formatted_nhs_number in words and new.formatted_nhs_number in words
    assert "Riverside District Nurses (RXC)" in words
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["line"], r["nhs_number"], r["outcome"]) for r in rows] == [
        ("2", placed.formatted_nhs_number, "Already in place"),
        ("3", new.formatted_nhs_number, "Created"),
    ]
    assert rows[0]["message"].startswith("This relationship is already in place (from ")
    assert rows[1]["team_or_person"] == "Riverside District Nurses (RXC)"


def test_each_page_naming_the_files_patients_records_a_look_at_each(office_client, team):
    patients = [PatientFactory() for _ in range(3)]
    PatientFactory()  # not in the file
    kept = check(office_client, rows_for(patients))

    check_page(office_client, kept)

    looked_at = AccessEvent.objects.values_list("patient_id", flat=True)
    assert sorted(looked_at) == sorted(p.pk for p in patients)
    run(office_client, kept)
    results_page(office_client, kept)
    assert AccessEvent.objects.count() == 2 * len(patients)
    assert set(AccessEvent.objects.values_list("basis", flat=True)) == {"administration"}


# One rule for every way in


def test_the_relationship_form_says_a_relationship_is_already_in_place(office_client, team):
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r", actor=UserFactory()
    )

    response = office_client.post(
        reverse("manage-patient", kwargs={"patient_id": patient.pk}),
        {"team": team.pk, "kind": "referral", "reason": "again"},
    )

    assert "This relationship is already in place (from " in response.content.decode()
    assert CareRelationship.objects.count() == 1


def test_the_service_names_the_relationship_already_in_place(team):
    patient = PatientFactory()
    first = services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r", actor=UserFactory()
    )

    with pytest.raises(RelationshipAlreadyInPlace) as refused:
        services.start_relationship(
            patient=patient, team=team, kind="referral", reason="again", actor=UserFactory(),
            starts_on=timezone.localdate() + datetime.timedelta(days=3),
        )  # fmt: skip

    assert refused.value.existing == first
    person = UserFactory()
    services.start_relationship(
        patient=patient, user=person, kind="referral", reason="r", actor=UserFactory()
    )
    with pytest.raises(RelationshipAlreadyInPlace):
        services.start_relationship(
            patient=patient, user=person, kind="referral", reason="r", actor=UserFactory()
        )


DAY = datetime.date(2027, 3, 10)
RANGES = [
    (DAY, None), (DAY, DAY), (DAY - datetime.timedelta(days=5), DAY - datetime.timedelta(days=1)),
    (DAY + datetime.timedelta(days=1), DAY + datetime.timedelta(days=9)),
    (DAY - datetime.timedelta(days=30), None), (DAY + datetime.timedelta(days=30), None),
]  # fmt: skip


@pytest.mark.parametrize("new", RANGES, ids=str)
@pytest.mark.parametrize("old", RANGES, ids=str)
def test_the_query_the_check_and_the_database_constraint_agree(team, old, new):
    """The three statements of "already in place" (access.models) give the same answers."""
    patient, actor = PatientFactory(), UserFactory()
    existing = CareRelationship.objects.create(
        patient=patient, team=team, kind="referral", starts_on=old[0], ends_on=old[1],
        reason="r", created_by=actor,
    )  # fmt: skip
    values = {"patient_id": patient.pk, "team_id": team.pk, "user_id": None, "kind": "referral",
              "starts_on": new[0], "ends_on": new[1]}  # fmt: skip
    by_query = CareRelationship.objects.alike(**values).exists()
    by_check = existing.is_alike(**values)
    try:
        with transaction.atomic():
            CareRelationship.objects.create(**values, reason="r", created_by=actor)
        by_database = False
    except IntegrityError:
        by_database = True
    overlap = old[0] <= (new[1] or datetime.date.max) and new[0] <= (old[1] or datetime.date.max)
    assert by_query == by_check == by_database == overlap


def test_the_database_refuses_a_repeat_however_it_is_written(team):
    patient, actor, person = PatientFactory(), UserFactory(), UserFactory()
    for holder in ({"team": team}, {"user": person}):
        first = CareRelationship.objects.create(
            patient=patient, kind="referral", starts_on=DAY, reason="r", created_by=actor, **holder
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            CareRelationship.objects.create(
                patient=patient, kind="referral", starts_on=DAY, reason="r", created_by=actor,
                **holder,
            )  # fmt: skip
        first.ends_on = DAY + datetime.timedelta(days=10)
        first.save()
        later = CareRelationship.objects.create(
            patient=patient, kind="referral", starts_on=DAY + datetime.timedelta(days=400),
            reason="r", created_by=actor, **holder,
        )  # fmt: skip
        with pytest.raises(IntegrityError), transaction.atomic():
            CareRelationship.objects.filter(pk=first.pk).update(ends_on=None)
        with pytest.raises(IntegrityError), transaction.atomic():
            CareRelationship.objects.filter(pk=later.pk).update(starts_on=DAY)
        first.ended_at = timezone.now()
        first.save()
        CareRelationship.objects.filter(pk=later.pk).update(starts_on=DAY)  # the first has ended


def test_upload_of_a_file_bigger_than_the_limit_is_refused_before_it_is_read(office_client):
    data = HEADER.encode() + b"x" * importing.MAX_BYTES
    response = office_client.post(
        reverse("manage-import-relationships"), {"file": csv_upload(data)}
    )
    assert response.status_code == 400
    assert "The selected file must be smaller than 10 MB: split it into smaller files" in (
        response.content.decode()
    )
    assert not RelationshipImport.objects.exists()
