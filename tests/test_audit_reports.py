"""Privacy officers' pages: a patient's access report (page and CSV), the review queue, alerts."""

import csv
import io

import pytest
from django.urls import reverse

from access import services
from access.models import BreakGlassAccess, CareRelationship, Role, StaffProfile, Team
from audit.models import AccessEvent
from audit.selectors import alerts
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(client):
    """A GP who looked twice at a patient, an A&E doctor who broke glass, a privacy officer."""
    office = UserFactory(username="office")
    practice = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    gp, doctor = member(practice, Role.GP, "gp"), member(ae, Role.AE_CLINICIAN, "doctor")
    officer = member(privacy, Role.PRIVACY_OFFICER, "officer")
    patient = PatientFactory(family_name="Okafor")
    services.start_relationship(
        patient=patient, team=practice, kind="registered_gp", reason="r", actor=office
    )
    for user in (gp, gp):
        client.force_login(user)
        client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    services.break_glass(
        user=doctor, team=ae, patient=patient, reason="unconscious", explanation="ED"
    )
    client.force_login(doctor)
    client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    client.force_login(officer)
    return client, patient, officer


def test_the_access_report_lists_every_look_with_who_where_and_basis(scene):
    client, patient, _ = scene
    page = client.get(reverse("audit-access-report", kwargs={"patient_id": patient.pk}))
    body = page.content.decode()
    assert body.count("GP, Mile End Surgery") == 2
    assert "A&amp;E clinician, Thameside A&amp;E" in body and "Emergency access" in body
    assert "privacy review" in body  # the privacy officer's own look is in the report too


def test_an_administrator_looking_up_a_patient_is_in_their_access_report(scene):
    client, patient, _ = scene
    office = make_team("Relationships office", Team.Kind.RECORD_OFFICE, ods_code="LCR1")
    client.force_login(member(office, Role.ADMINISTRATOR, "registrar"))
    assert (
        client.get(reverse("manage-patient", kwargs={"patient_id": patient.pk})).status_code == 200
    )
    event = AccessEvent.objects.filter(username="registrar").get()
    assert (event.basis, event.categories, event.resource_ids) == (
        "administration", ["details"], [],
    )  # fmt: skip
    assert event.category_labels == ["personal details"]


def test_the_access_report_downloads_as_csv(scene):
    client, patient, _ = scene
    response = client.get(
        reverse("audit-access-report", kwargs={"patient_id": patient.pk}), {"format": "csv"}
    )
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["username"] for row in rows) == ["doctor", "gp", "gp", "officer"]
    assert {row["basis_code"] for row in rows} == {"relationship", "break_glass", "privacy_review"}
    relationship_ids = {row["relationship_id"] for row in rows if row["username"] == "gp"}
    assert relationship_ids == {str(CareRelationship.objects.get().pk)}


def test_the_queue_lists_emergency_access_and_records_the_review(scene):
    client, _, officer = scene
    access = BreakGlassAccess.objects.get()
    assert "ED" in client.get(reverse("audit-review-queue")).content.decode()

    client.post(
        reverse("audit-review-break-glass", kwargs={"access_id": access.pk}),
        {"outcome": "flagged", "note": "no A&E attendance found"},
    )

    access.refresh_from_db()
    assert (access.review, access.reviewed_by, access.review_note) == (
        "flagged", officer, "no A&E attendance found",
    )  # fmt: skip
    assert "Nothing waits for review." in client.get(reverse("audit-review-queue")).content.decode()


def test_alerts_name_heavy_emergency_access_and_namesakes(scene):
    client, patient, _ = scene
    doctor = BreakGlassAccess.objects.get().user
    ae = BreakGlassAccess.objects.get().team
    for _ in range(2):
        services.break_glass(
            user=doctor, team=ae, patient=PatientFactory(), reason="other", explanation="x"
        )
    namesake = member(ae, Role.AE_CLINICIAN, "okafor")
    namesake.last_name = "Okafor"
    namesake.save()
    client.force_login(namesake)
    services.break_glass(user=namesake, team=ae, patient=patient, reason="other", explanation="x")
    client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))

    found = {(alert.kind, alert.username): alert for alert in alerts()}
    heavy = found[("emergency-access", "doctor")]
    assert (heavy.count, heavy.full_name) == (3, doctor.get_full_name())
    assert heavy.text == f"{doctor.get_full_name()} (doctor) used emergency access 3 times."
    namesakes = found[("same-surname", "okafor")]
    assert namesakes.text == (
        "Test Okafor (okafor) looked 1 time at the records of people with their own surname."
    )
    assert not any(kind == "same-postcode" for kind, _ in found)  # no address in the HR record

    StaffProfile.objects.create(user=namesake, home_postcode=patient.postcode.lower())
    assert ("same-postcode", "okafor") in {(alert.kind, alert.username) for alert in alerts()}


def test_the_access_report_exports_valid_fhir_audit_events(scene):
    from fhir.resources.R4B.bundle import Bundle

    client, patient, _ = scene
    response = client.get(
        reverse("audit-access-report", kwargs={"patient_id": patient.pk}), {"format": "fhir"}
    )
    assert response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate(response.json())  # every AuditEvent validates as R4
    events = [entry.resource for entry in bundle.entry]
    assert len(events) == 4  # the three looks, and the privacy officer's own
    purposes = sorted(e.purposeOfEvent[0].coding[0].code for e in events)
    assert purposes == ["ETREAT", "HCOMPL", "TREAT", "TREAT"]
    for event in events:
        assert event.action == "R" and event.subtype[0].code == "read"
        assert event.entity[0].what.identifier.value == patient.nhs_number
        assert event.agent[0].requestor is True


def test_all_events_export_as_ndjson_audit_events(scene, capsys):
    from django.core.management import CommandError, call_command
    from fhir.resources.R4B.auditevent import AuditEvent

    call_command("export_audit_fhir", "--since", "2000-01-01")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all(AuditEvent.model_validate_json(line).action == "R" for line in lines)
    call_command("export_audit_fhir", "--since", "2999-01-01")
    assert capsys.readouterr().out == ""
    with pytest.raises(CommandError, match="must be a date"):
        call_command("export_audit_fhir", "--since", "yesterday")


def test_searches_leave_an_entry_found_or_not_and_show_in_the_report(scene):
    from audit.models import SearchEvent

    client, patient, officer = scene
    ae_doctor = BreakGlassAccess.objects.get().user
    client.force_login(ae_doctor)
    form = {"nhs_number": patient.nhs_number, "reason": "other", "explanation": "x"}
    client.post(reverse("break-glass"), {**form, "birth_date": "01/01/1901"})
    client.post(
        reverse("break-glass"), {**form, "birth_date": patient.birth_date.strftime("%d/%m/%Y")}
    )

    missed, hit = SearchEvent.objects.order_by("occurred_at", "pk")
    assert (missed.username, missed.found, missed.purpose) == ("doctor", None, "emergency access")
    assert missed.query == f"{patient.nhs_number} born 1901-01-01"
    assert hit.found == patient
    client.force_login(officer)
    report = client.get(reverse("audit-access-report", kwargs={"patient_id": patient.pk}))
    assert "Searches that found this patient" in report.content.decode()


def test_the_access_report_downloads_as_a_pdf(scene):
    client, patient, _ = scene
    response = client.get(
        reverse("audit-access-report", kwargs={"patient_id": patient.pk}), {"format": "pdf"}
    )
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert len(response.content) > 1500


def test_a_privacy_officer_acting_for_a_practice_as_gp_cannot_read_the_audit_pages(scene):
    client, patient, officer = scene
    practice = Team.objects.get(ods_code="F84001")
    services.add_member(team=practice, user=officer, role=Role.GP, reason="r", actor=UserFactory())
    report = reverse("audit-access-report", kwargs={"patient_id": patient.pk})
    assert client.post(reverse("choose-team"), {"team": practice.pk}).status_code == 302
    assert client.get(report).status_code == 404
    assert client.get(reverse("audit-review-queue")).status_code == 404
    assert not AccessEvent.objects.filter(username="officer", basis="privacy_review").exists()
    privacy = Team.objects.get(ods_code="LCR")
    client.post(reverse("choose-team"), {"team": privacy.pk})
    assert client.get(report).status_code == 200


def test_the_review_queue_names_no_patient_so_it_needs_no_access_event(scene):
    """Who the patient is stays in their access report, whose opening is a recorded look."""
    client, patient, _ = scene
    looks = AccessEvent.objects.count()
    body = client.get(reverse("audit-review-queue")).content.decode()
    assert "ED" in body  # the access is listed
    assert patient.family_name not in body and patient.given_names not in body
    assert patient.nhs_number not in body and patient.formatted_nhs_number not in body
    assert reverse("audit-access-report", kwargs={"patient_id": patient.pk}) in body
    assert AccessEvent.objects.count() == looks
