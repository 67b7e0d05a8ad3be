"""Access reports for any patient: the privacy officers' finder, the report's filters on every
format, one plain-English row per look, subject access requests recorded with what was sent, and
a PDF that wraps, escapes and numbers its pages."""

import csv
import datetime
import hashlib
import io
import json
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from reportlab import rl_config
from reportlab.platypus import Paragraph

from access import services
from access.models import BreakGlassAccess, Role, Team
from audit.csv_export import ACCESS_REPORT_COLUMNS
from audit.models import AccessEvent, SearchEvent, SubjectAccessRequest
from audit.pdf import access_report_pdf, look_tables, report_story
from audit.report import ReportFilters, looks_for_patient, looks_from_events, when_words
from audit.services import RequestContext, record_access, record_look_update
from records.confidentiality import Confidentiality
from records.limits import FREE_TEXT_MAX_LENGTH
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db
LONDON_AFTERNOON = datetime.datetime(2026, 11, 3, 14, 30, tzinfo=datetime.UTC)


@pytest.fixture
def scene(client):
    """A GP who looked at a patient on 3 November, an A&E doctor who broke glass on 10
    November, and a privacy officer signed in."""
    setup = UserFactory(username="office")
    practice = make_team(
        "Stoke Newington Church Street Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001"
    )
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    privacy = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    gp = member(practice, Role.GP, "gp")
    gp.first_name, gp.last_name = "Amira", "Khan"
    gp.save()
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    officer = member(privacy, Role.PRIVACY_OFFICER, "officer")
    patient = PatientFactory(family_name="Okafor", given_names="Joy")
    services.start_relationship(
        patient=patient,
        team=practice,
        kind="registered_gp",
        reason="r",
        actor=setup,
        starts_on=datetime.date(2020, 1, 1),
    )
    with time_machine.travel(LONDON_AFTERNOON, tick=False):
        client.force_login(gp)
        client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    with time_machine.travel(LONDON_AFTERNOON + datetime.timedelta(days=7), tick=False):
        services.break_glass(
            user=doctor, team=ae, patient=patient, reason="unconscious",
            explanation="Brought in by ambulance & unresponsive",
        )  # fmt: skip
        client.force_login(doctor)
        client.get(reverse("patient-record", kwargs={"patient_id": patient.pk}))
    client.force_login(officer)
    return client, patient, officer


def report_url(patient) -> str:
    return reverse("audit-access-report", kwargs={"patient_id": patient.pk})


# The finder


def test_a_privacy_officer_finds_anyone_by_nhs_number_and_the_search_is_recorded(scene):
    client, _, _ = scene
    stranger = PatientFactory(family_name="Adeyemi")  # nobody cares for them: found all the same

    page = client.post(reverse("audit-find-patient"), {"nhs_number": stranger.formatted_nhs_number})

    body = page.content.decode()
    assert "ADEYEMI" in body and report_url(stranger) in body
    search = SearchEvent.objects.get(found=stranger)
    assert (search.username, search.purpose, search.query) == (
        "officer", "access report", stranger.nhs_number,
    )  # fmt: skip
    assert stranger.postcode not in body  # who the person is, not where they live
    assert not AccessEvent.objects.filter(patient=stranger).exists()  # opening it is the look


def test_the_finder_takes_a_name_and_date_of_birth_and_records_a_miss_too(scene):
    client, patient, _ = scene
    namesake = PatientFactory(
        family_name="Okafor", given_names="Chidi", birth_date=patient.birth_date
    )
    form = {"family_name": "okafur", "birth_date": patient.birth_date.strftime("%d/%m/%Y")}

    both = client.post(reverse("audit-find-patient"), form).content.decode()
    one = client.post(reverse("audit-find-patient"), {**form, "given_name": "Joy"}).content.decode()
    none = client.post(reverse("audit-find-patient"), {**form, "birth_date": "01/01/1901"})

    assert report_url(patient) in both and report_url(namesake) in both
    assert report_url(patient) in one and report_url(namesake) not in one
    assert "No patient found" in none.content.decode()
    assert SearchEvent.objects.filter(purpose="access report", found=None).count() == 1
    assert SearchEvent.objects.filter(purpose="access report", found=patient).count() == 2


def test_the_finder_refuses_a_bad_nhs_number_and_shows_no_clinical_data(scene):
    client, patient, _ = scene
    bad = client.post(reverse("audit-find-patient"), {"nhs_number": "999 000 0019"})
    assert "the check digit is wrong" in bad.content.decode()
    assert not SearchEvent.objects.filter(purpose="access report").exists()
    found = client.post(reverse("audit-find-patient"), {"nhs_number": patient.nhs_number})
    for clinical in ("Allergies", "Medicines", "Test results"):
        assert clinical not in found.content.decode()
    # Searched by POST: the NHS number is never in an address.
    assert patient.nhs_number not in found.get("Location", "")


def test_the_finder_shows_no_address_or_gp_of_a_restricted_person(scene):
    client, _, _ = scene
    hidden = PatientFactory(family_name="Marchbanks", confidentiality=Confidentiality.RESTRICTED)
    body = client.post(reverse("audit-find-patient"), {"nhs_number": hidden.nhs_number})
    assert "Restricted" in body.content.decode() and "MARCHBANKS" in body.content.decode()


def test_the_privacy_officers_home_and_header_lead_to_the_finder(scene):
    client, _, _ = scene
    home = client.get(reverse("home")).content.decode()
    assert home.count(f'href="{reverse("audit-find-patient")}"') == 2  # the header and the page


# One plain row per look


def test_each_look_reads_in_plain_english_with_name_role_organisation_and_date(scene):
    client, patient, _ = scene
    client.get(report_url(patient))  # the officer's own look is in the report too
    gp_look, ae_look, officer_look = sorted(looks_for_patient(patient), key=lambda x: x.occurred_at)
    assert gp_look.who == "Amira Khan, GP, Stoke Newington Church Street Surgery"
    assert gp_look.when == "3 November 2026 at 2:30pm"
    assert gp_look.basis == "caring for you: registered with the practice"
    assert gp_look.channel == "through the portal"
    assert gp_look.headings[:2] == ["Allergies and reactions", "Medicines"]
    assert ae_look.role_and_organisation == "A&E clinician, Thameside A&E"
    assert officer_look.headings == ["Personal details"]
    assert "privacy review" in officer_look.basis


def test_an_emergency_access_shows_its_reason_and_explanation(scene):
    client, patient, _ = scene
    (look,) = [look for look in looks_for_patient(patient) if look.break_glass_id]
    assert look.emergency_reason == "Patient unable to consent (unconscious or confused)"
    assert look.basis == (
        "emergency access: patient unable to consent (unconscious or confused), "
        "\u2018Brought in by ambulance & unresponsive\u2019"
    )
    page = client.get(report_url(patient)).content.decode()
    assert "Brought in by ambulance &amp; unresponsive" in page


@pytest.mark.parametrize(
    ("hour", "minute", "words"),
    [(14, 30, "2:30pm"), (9, 0, "9am"), (12, 0, "midday"), (0, 0, "midnight"), (0, 5, "12:05am")],
)
def test_times_read_as_nhs_uk_writes_them_in_london_time(hour, minute, words):
    summer = datetime.datetime(2026, 7, 1, hour, minute, tzinfo=datetime.UTC)
    london = timezone.localtime(summer)
    assert when_words(summer).endswith(
        when_words(london).split(" at ")[1]
    )  # British Summer Time is applied
    winter = datetime.datetime(2026, 1, 2, hour, minute, tzinfo=datetime.UTC)
    assert when_words(winter) == f"2 January 2026 at {words}"


def test_a_look_with_thirty_updates_is_one_row_with_the_updates_folded_in(scene):
    client, patient, _ = scene
    gp_event = AccessEvent.objects.filter(username="gp").get()
    for n in range(30):
        record_look_update(look_id=gp_event.pk, resource_ids=[f"F84001/Observation/late-{n}"])

    (look,) = [look for look in looks_for_patient(patient) if look.username == "gp"]
    assert look.items_added_later == 30
    assert look.items_shown == len(gp_event.resource_ids) + 30
    assert look.what.endswith("and 30 more items as they arrived")
    page = client.get(report_url(patient)).content.decode()
    assert page.count("<strong>Amira Khan</strong>") == 1
    bundle = client.get(report_url(patient), {"format": "fhir"}).json()
    gp_audit = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["agent"][0]["who"]["display"]
        == "Amira Khan"
    )  # fmt: skip
    shown = [entity["what"].get("display", "") for entity in gp_audit["entity"]]
    assert sum("late-" in item for item in shown) == 30


def test_a_partner_systems_look_names_the_system_as_its_channel(scene):
    from tests.api_helpers import api_client_for

    _, patient, _ = scene
    practice = Team.objects.get(ods_code="F84001")
    api, _ = api_client_for(practice, Role.GP, ["patient.read"], name="Church Street EPR")
    record_access(
        user=api.service_user, team=practice, role=Role.GP, patient=patient,
        categories=("medicines",), resource_ids=[], basis="relationship", relationship_id=None,
        break_glass_id=None, channel="api", purpose="direct_care", context=RequestContext(),
        client_id=api.application.client_id, end_user="Dr Lee",
    )  # fmt: skip
    (look,) = [look for look in looks_for_patient(patient) if look.channel_code == "api"]
    assert (look.professional_name, look.channel) == ("Dr Lee", "through Church Street EPR")


def test_a_batch_of_looks_costs_the_same_queries_whatever_its_size(
    scene, django_assert_max_num_queries
):
    _, patient, _ = scene
    gp = AccessEvent.objects.filter(username="gp").get().user
    for _ in range(40):
        record_access(
            user=gp, team=None, role="gp", patient=patient, categories=("allergies",),
            resource_ids=[], basis="break_glass", relationship_id=None, break_glass_id=1,
            channel="web", purpose="direct_care", context=RequestContext(),
        )  # fmt: skip
    events = list(AccessEvent.objects.filter(patient=patient).select_related("user"))
    with django_assert_max_num_queries(3):  # the updates, the relationships, the accesses
        assert len(looks_from_events(events)) == 42


# Filters on every format


def test_the_filters_narrow_the_page_the_csv_the_fhir_and_the_pdf_alike(scene):
    client, patient, _ = scene
    ae = {"organisation": "RXT"}
    page = client.get(report_url(patient), ae).content.decode()
    assert "Thameside A&amp;E" in page and "<strong>Amira Khan</strong>" not in page
    assert "Looks by organisation RXT. 1 look, newest first." in page

    rows = list(
        csv.DictReader(io.StringIO(b"".join(client.get(
            report_url(patient), {**ae, "format": "csv"}
        ).streaming_content).decode()))
    )  # fmt: skip
    assert [row["username"] for row in rows] == ["doctor"]
    assert len(client.get(report_url(patient), {**ae, "format": "fhir"}).json()["entry"]) == 1

    until = {"until": "2026-11-05"}
    assert "GP, Stoke Newington" in client.get(report_url(patient), until).content.decode()
    fhir = client.get(report_url(patient), {**until, "format": "fhir"}).json()
    assert [e["resource"]["agent"][0]["who"]["display"] for e in fhir["entry"]] == ["Amira Khan"]
    gp_id = AccessEvent.objects.filter(username="gp").get().user_id
    by_gp = client.get(report_url(patient), {"user": gp_id, "format": "csv"})
    assert "doctor" not in b"".join(by_gp.streaming_content).decode()
    basis = client.get(report_url(patient), {"basis": "break_glass", "format": "fhir"}).json()
    assert [e["resource"]["purposeOfEvent"][0]["coding"][0]["code"] for e in basis["entry"]] == [
        "ETREAT"
    ]
    assert (
        client.get(report_url(patient), {"channel": "api", "format": "fhir"}).json()["entry"] == []
    )

    story = report_story(
        patient, looks_for_patient(patient, organisation="RXT"),
        filters=ReportFilters(organisation="RXT"), produced_at=timezone.now(),
    )  # fmt: skip
    (table,) = [flowable for flowable in story if hasattr(flowable, "_cellvalues")]
    assert len(table._cellvalues) == 2  # the header and the one look


def test_filters_that_make_no_sense_are_explained_and_not_applied(scene):
    client, patient, _ = scene
    page = client.get(report_url(patient), {"since": "2026-12-10", "until": "2026-12-01"})
    assert page.status_code == 200
    assert "The end date must be the same as or after the start date." in page.content.decode()
    assert "The filters were not applied" in page.content.decode()
    bad_pdf = client.get(report_url(patient), {"since": "soon", "format": "pdf"})
    assert bad_pdf["Content-Type"].startswith("text/html")  # the page, saying what is wrong
    assert client.get(report_url(patient), {"user": "x"}).status_code == 200


@pytest.mark.parametrize("day", ["31/12/9999", "1/1/2100", "31/12/1899"])
def test_a_date_the_trail_cannot_hold_is_refused_on_the_form_not_with_an_error(scene, day):
    client, patient, _ = scene
    for format in ("", "pdf"):
        page = client.get(report_url(patient), {"until": day, "format": format})
        assert page.status_code == 200
        assert "The end date must be between 1900 and 2099" in page.content.decode()
    answer = client.post(
        reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk}),
        {**subject_access_form(format="pdf"), "until": day},
    )
    assert answer.status_code < 500
    assert not SubjectAccessRequest.objects.exists()


# Subject access requests


def subject_access_form(**changes) -> dict:
    return {
        "requested_by": "patient", "requester_name": "Joy Okafor", "received_on": "2026-12-01",
        "format": "pdf", "sent_to": "Joy Okafor, by secure email", **changes,
    }  # fmt: skip


def test_a_subject_access_request_is_recorded_with_the_file_sent(scene):
    client, patient, officer = scene
    url = reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk})

    response = client.post(url, subject_access_form(format="csv", organisation="RXT"))

    assert response["Content-Disposition"].endswith(f'access-report-{patient.nhs_number}.csv"')
    request = SubjectAccessRequest.objects.get()
    assert request.file_sha256 == hashlib.sha256(response.content).hexdigest()
    assert (request.patient, request.recorded_by, request.format, request.looks) == (
        patient, officer, "csv", 1,
    )  # fmt: skip
    assert request.filters == {"organisation": "RXT"}
    assert request.received_on == datetime.date(2026, 12, 1)
    assert request.sent_to == "Joy Okafor, by secure email"
    page = client.get(report_url(patient)).content.decode()
    assert request.file_sha256 in page and "Joy Okafor, by secure email" in page


def test_the_fhir_file_for_a_request_leaves_out_staff_network_addresses_and_request_ids(scene):
    client, patient, _ = scene
    url = reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk})
    internal = client.get(report_url(patient), {"format": "fhir"}, REMOTE_ADDR="10.1.2.3").json()
    assert any("network" in e["resource"]["agent"][0] for e in internal["entry"])

    sent = client.post(url, subject_access_form(format="fhir")).json()

    assert sent["entry"] and "total" not in sent
    for entry in sent["entry"]:
        assert "network" not in entry["resource"]["agent"][0]
        assert not any(
            e["what"].get("identifier", {}).get("system", "").endswith("request-id")
            for e in entry["resource"]["entity"]
        )


def test_a_pdf_for_a_request_counts_every_look_including_the_officers_own(scene):
    client, patient, _ = scene
    url = reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk})
    response = client.post(url, subject_access_form())
    assert response.content.startswith(b"%PDF-")
    request = SubjectAccessRequest.objects.get()
    assert request.looks == AccessEvent.objects.filter(patient=patient).count() == 3
    assert json.loads(json.dumps(request.filters)) == {}


def test_an_incomplete_request_says_what_is_missing_and_records_nothing(scene):
    client, patient, _ = scene
    url = reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk})
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    page = client.post(
        url, subject_access_form(requested_by="representative", received_on=tomorrow)
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert "Say on what authority the representative asks." in body
    assert "The date received cannot be in the future." in body
    assert not SubjectAccessRequest.objects.exists()


def test_a_subject_access_request_cannot_be_changed_or_removed(scene):
    from audit.models import AppendOnlyError

    client, patient, _ = scene
    client.post(
        reverse("audit-subject-access-request", kwargs={"patient_id": patient.pk}),
        subject_access_form(format="fhir"),
    )
    request = SubjectAccessRequest.objects.get()
    request.sent_to = "someone else"
    with pytest.raises(AppendOnlyError):
        request.save()
    with pytest.raises(AppendOnlyError):
        SubjectAccessRequest.objects.all().delete()


# The PDF and the CSV's data dictionary


def test_every_pdf_cell_is_a_paragraph_that_prints_ampersands_as_written(scene):
    _, patient, _ = scene
    (table,) = look_tables(looks_for_patient(patient, organisation="RXT"))
    cells = [cell for row in table._cellvalues for cell in row]
    assert all(isinstance(cell, Paragraph) for cell in cells)
    who = table._cellvalues[1][1].getPlainText()
    assert who.endswith("A&E clinician, Thameside A&E") and "&amp;" not in who and ";" not in who


def test_a_long_pdf_numbers_its_pages_and_names_the_organisation(scene, monkeypatch, settings):
    monkeypatch.setattr(rl_config, "pageCompression", 0)  # so that the PDF's text can be read
    settings.LCR_ORGANISATION_NAME = "North & East London Care Record"
    _, patient, _ = scene
    looks = looks_for_patient(patient) * 40  # 120 rows: several pages

    pdf = access_report_pdf(patient, looks)

    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type /Page\b", pdf))
    assert pages >= 3
    assert f"(Page 1 of {pages})".encode() in pdf and f"(Page {pages} of {pages})".encode() in pdf
    assert b"North & East London Care Record" in pdf
    assert b"A&E;" not in pdf


def test_the_data_dictionary_explains_every_csv_column(scene):
    client, patient, _ = scene
    dictionary = client.get(reverse("audit-access-report-columns"))
    rows = list(csv.DictReader(io.StringIO(b"".join(dictionary.streaming_content).decode())))
    report = client.get(report_url(patient), {"format": "csv"})
    header = next(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert [row["column"] for row in rows] == header == [c.name for c in ACCESS_REPORT_COLUMNS]
    assert all(row["meaning"] and row["values"] for row in rows)


def test_docs_audit_md_describes_every_csv_column():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "audit.md").read_text()
    for column in ACCESS_REPORT_COLUMNS:
        assert f"| `{column.name}` | {column.meaning} |" in docs, column.name


def test_an_emergency_access_explained_at_the_longest_allowed_still_makes_a_pdf(scene):
    client, patient, _ = scene
    doctor = AccessEvent.objects.filter(username="doctor").get().user
    access = BreakGlassAccess.objects.get(user=doctor)
    long = BreakGlassAccess.objects.filter(pk=access.pk)
    long.update(explanation=" ".join(["unresponsive"] * (FREE_TEXT_MAX_LENGTH // 13)))

    response = client.get(report_url(patient), {"format": "pdf"})

    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


def test_looks_at_a_record_later_merged_into_this_one_are_in_its_report(scene):
    from tests.factories import merged

    client, patient, officer = scene
    duplicate = PatientFactory(family_name="Okafor", given_names="Joy")
    client.get(report_url(duplicate))  # the officer's look, under the duplicate record
    merged(patient, duplicate, actor=officer)

    looks = looks_for_patient(patient)

    assert duplicate.access_events.count() == 1
    assert {look.event.patient_id for look in looks} == {patient.pk, duplicate.pk}


def test_headings_read_apart_and_a_look_at_everything_says_so():
    from audit.report import WHOLE_RECORD, Look, sentence_list
    from records.categories import ALL_CATEGORIES, Category

    assert sentence_list(["Personal details", "Medicines", "Test results"]) == (
        "Personal details, medicines and test results"
    )
    labels = [Category.ALLERGIES.label, Category.MEDICINES.label, Category.FLAGS.label]
    assert sentence_list(labels) == "Allergies and reactions; medicines; alerts and flags"

    def look(codes):
        return Look(
            event_id=1, occurred_at=LONDON_AFTERNOON, professional_name="", username="gp",
            job_role="", organisation="", organisation_code="",
            headings=[dict(Category.choices)[code] for code in codes], items_shown=12,
            items_added_later=0, basis="", emergency_reason="", emergency_explanation="",
            channel="", user_id=None, heading_codes=tuple(codes),
        )  # fmt: skip

    assert look(ALL_CATEGORIES).what == f"{WHOLE_RECORD}: 12 items"
    assert look(ALL_CATEGORIES[:-1]).what.startswith("Allergies and reactions; medicines; ")


def test_the_pdf_drawn_as_pictures_has_its_pages_landscape_and_each_with_ink(scene, tmp_path):
    import pypdfium2

    _, patient, _ = scene
    pdf = access_report_pdf(patient, looks_for_patient(patient) * 40)

    document = pypdfium2.PdfDocument(pdf)
    pictures = [document[n].render(scale=1).to_pil().convert("L") for n in range(len(document))]

    assert len(pictures) >= 3
    for number, picture in enumerate(pictures, start=1):
        picture.save(tmp_path / f"page-{number}.png")
        width, height = picture.size
        assert width > height  # A4 landscape, as laid out
        inked = picture.point(lambda value: 255 if value < 128 else 0).histogram()[255]
        assert inked > width * height / 200, number  # text and table lines on every page
    footer = document[len(document) - 1].get_textpage().get_text_range()
    assert f"Page {len(document)} of {len(document)}" in footer


def test_an_officer_working_through_one_report_makes_one_look_and_later_another(scene):
    client, patient, officer = scene
    reviews = AccessEvent.objects.filter(patient=patient, user=officer)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.get(report_url(patient))
        client.get(report_url(patient), {"basis": "break_glass"})
        client.get(report_url(patient), {"format": "pdf"})
        clock.shift(datetime.timedelta(minutes=14))
        client.get(report_url(patient), {"page": "2"})
        assert reviews.count() == 1
        clock.shift(datetime.timedelta(minutes=14))  # (signed in still: not idle for long)
        assert client.get(report_url(patient)).status_code == 200
        assert reviews.count() == 2


def test_an_organisation_older_than_the_offered_choices_can_still_be_filtered_by(
    scene, monkeypatch
):
    import audit.selectors

    client, patient, _ = scene
    monkeypatch.setattr(audit.selectors, "CHOICES_FROM", 1)  # only the newest look's offered
    page = client.get(report_url(patient), {"organisation": "F84001", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode())))
    assert rows and {row["organisation_ods_code"] for row in rows} == {"F84001"}
