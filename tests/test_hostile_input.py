"""Every input path survives junk: the relationship import reads any line ending and refuses
oversized cells, files and row counts with a message; an id of 2^63 or more is a 404 or a form
error on every route; free text has one limit on every path; NUL is refused everywhere, never
stored (SQLite) nor a DataError (PostgreSQL). Nothing here may answer 500."""

import datetime
import json

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from access import importing, services
from access.api import RelationshipEndIn, RelationshipIn
from access.exceptions import EmergencyAccessError, ObjectionError, RelationshipError
from access.models import (
    ApiClient,
    BreakGlassAccess,
    CareRelationship,
    Membership,
    Objection,
    Role,
    Team,
)
from audit.review_views import ReviewForm
from care_record.administration import RelationshipForm
from care_record.views import BreakGlassForm
from records.limits import FREE_TEXT_MAX_LENGTH
from records.models import Patient
from tests.api_helpers import api_client_for, bearer, token
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.import_helpers import check, check_page, results_page, run

pytestmark = pytest.mark.django_db

BEYOND_64_BITS = [2**63, 2**64, 10**30]
HEADER = "nhs_number,team_ods_code,team_name,kind,starts_on,ends_on,reason"


@pytest.fixture
def office(client):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    client.force_login(member(office, Role.ADMINISTRATOR, "office-admin"))
    return client


@pytest.fixture
def team():
    return make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")


def upload(client, data: bytes, *, dry_run: bool = True):
    """The check page of the file (dry run), or its results page once imported."""
    kept = check(client, data)
    if dry_run:
        return check_page(client, kept)
    response = run(client, kept)
    if response.status_code != 302:  # refused: the check page says why
        return response.content.decode()
    return results_page(client, kept)


def row(patient, reason: str = "wound care") -> str:
    return f"{patient.nhs_number},RXC,Riverside District Nurses,referral,,,{reason}"


# The relationship import


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n", "mixed"], ids=["CR", "CRLF", "LF", "mixed"])
def test_the_import_reads_any_line_ending(office, team, ending):
    patients = [PatientFactory() for _ in range(3)]
    lines = [HEADER, *(row(p) for p in patients)]
    if ending == "mixed":
        text = f"{lines[0]}\r{lines[1]}\r\n{lines[2]}\n{lines[3]}\r"
    else:
        text = ending.join(lines) + ending
    page = upload(office, text.encode(), dry_run=False)
    assert "Imported 3 relationships" in page
    assert CareRelationship.objects.count() == 3


def test_a_quoted_reason_may_hold_line_breaks_of_any_kind(office, team):
    patient = PatientFactory()
    quoted = '"first\rsecond"'
    text = f"{HEADER}\r{row(patient, quoted)}\r"
    assert "Imported 1 relationship" in upload(office, text.encode(), dry_run=False)
    assert CareRelationship.objects.get().reason == "first\rsecond"


def test_a_cell_beyond_what_csv_can_read_is_a_message(office, team):
    patient = PatientFactory()
    text = f"{HEADER}\n{row(patient)}\n{row(patient, 'x' * 131_073)}\n"
    page = upload(office, text.encode())
    assert "Nothing has been imported." in page
    assert "A cell is longer than the 131,072 characters" in page
    assert "x" * 2000 not in page


def test_a_reason_the_form_would_refuse_is_refused_by_the_import(office, team):
    patients = [PatientFactory() for _ in range(2)]
    text = f"{HEADER}\n{row(patients[0])}\n{row(patients[1], 'x' * 5000)}\n"
    page = upload(office, text.encode(), dry_run=False)
    assert "Nothing has been imported." in page
    assert "The reason cell may have at most 2,000 characters; this has 5,000." in page
    assert not CareRelationship.objects.exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [("team_name", "T" * 201), ("nhs_number", "9" * 21), ("kind", "k" * 31)],
)
def test_every_cell_is_held_to_what_it_fills(office, team, column, value):
    patient = PatientFactory()
    cells = dict(zip(HEADER.split(","), row(patient).split(","), strict=True))
    cells[column] = value
    page = upload(office, f"{HEADER}\n{','.join(cells.values())}\n".encode())
    assert f"The {column} cell may have at most" in page
    assert value not in page  # not echoed back at length


def test_nul_in_a_cell_is_refused_by_the_import(office, team):
    patient = PatientFactory()
    text = HEADER + "\n" + row(patient, "wound\x00care") + "\n"
    page = upload(office, text.encode(), dry_run=False)
    assert "There is a character in the reason cell that cannot be stored (U+0000)" in page
    assert not CareRelationship.objects.exists()


def test_a_file_over_the_size_limit_is_refused_with_a_message(office, team):
    data = f"{HEADER}\n".encode() + b"x" * importing.MAX_BYTES
    response = office.post(
        reverse("manage-import-relationships"),
        {"file": SimpleUploadedFile("r.csv", data, content_type="text/csv")},
    )
    assert response.status_code == 400
    assert "The selected file must be smaller than 10 MB: split it into smaller files" in (
        response.content.decode()
    )
    (refused,) = importing.check_file(data)
    assert refused.message == "The file is larger than 10 MB: split it."


def test_more_rows_than_the_limit_are_refused_with_a_message(office, team):
    patient = PatientFactory()
    # Rows that are themselves wrong count too: the limit is on the file, not on good rows.
    lines = [HEADER] + [row(patient, f"reason {n}") for n in range(importing.MAX_ROWS + 1)]
    page = upload(office, "\n".join(lines).encode())
    assert "The file has more than 50,000 rows: split it." in page


# Ids of 2^63 or more


def routes_with_ids() -> list[tuple[str, str]]:
    """Every named route outside the admin whose address holds an integer id."""
    found = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name != "admin":
                    walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                for name, converter in pattern.pattern.converters.items():
                    if type(converter).__name__ == "IntConverter":
                        found.append((pattern.name, name))

    walk(get_resolver().url_patterns)
    return found


def test_the_routes_with_ids_are_all_found():
    assert {name for name, _ in routes_with_ids()} >= {
        "patient-record", "manage-patient", "manage-end-relationship", "audit-access-report",
        "api-patient-summary", "api-relationship-end",
    }  # fmt: skip


@pytest.fixture
def everyone():
    """One user of each kind that gets past a route's own refusal to the id's lookup."""
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    practice = make_team("Practice", Team.Kind.GP_PRACTICE, ods_code="F1")
    return [
        member(office, Role.ADMINISTRATOR, "admin"),
        member(office, Role.PRIVACY_OFFICER, "officer"),
        member(practice, Role.GP, "gp"),
        member(practice, Role.AE_CLINICIAN, "doctor"),
    ]


@pytest.mark.parametrize("big", BEYOND_64_BITS)
def test_an_id_beyond_64_bits_is_not_found_on_every_portal_route(client, everyone, big):
    for user in everyone:
        client.force_login(user)
        for route, kwarg in routes_with_ids():
            if route.startswith("api-"):
                continue
            url = reverse(route, kwargs={kwarg: big, **_other_kwargs(route, kwarg)})
            url += QUERIES.get(route, "")
            for method in ("get", "post"):
                status = getattr(client, method)(url).status_code
                assert status in (404, 405), f"{user} {method} {url}: {status}"


# What a route needs besides its address to reach the id (a look's updates name their look).
QUERIES = {"record-updates": "?look=1"}


def _other_kwargs(route: str, kwarg: str) -> dict:
    return {
        "api-patient-record": {"category": "allergies"},
        "patient-document": {"source_ods_code": "RXT", "document_id": "doc-1"},
        "audit-alert-evidence": {"kind": "out-of-hours"},
    }.get(route, {})


@pytest.mark.parametrize("big", BEYOND_64_BITS)
def test_choosing_a_team_beyond_64_bits_is_a_form_error(client, everyone, big):
    client.force_login(everyone[0])
    response = client.post(reverse("choose-team"), {"team": str(big)})
    assert response.status_code == 200
    assert "Choose the team you are working for" in response.content.decode()


def test_a_relationship_for_a_team_beyond_64_bits_is_a_form_error(office):
    patient = PatientFactory()
    response = office.post(
        reverse("manage-patient", kwargs={"patient_id": patient.pk}),
        {"team": str(2**63), "kind": "referral", "reason": "r"},
    )
    assert response.status_code == 200
    assert "Choose a team from the list" in response.content.decode()
    assert not CareRelationship.objects.exists()


@pytest.fixture
def api(client):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    scopes = list(ApiClient.Scope.values)
    registered, secret = api_client_for(office, Role.PRIVACY_OFFICER, scopes, name="officer")
    admin_client, admin_secret = api_client_for(office, Role.ADMINISTRATOR, scopes, name="admin")
    return client, [
        bearer(token(client, registered, secret)),
        bearer(token(client, admin_client, admin_secret)),
    ]


@pytest.mark.parametrize("big", BEYOND_64_BITS)
def test_an_id_beyond_64_bits_is_not_found_or_invalid_in_the_api(api, big):
    client, headers = api
    patient = PatientFactory()
    team = make_team("Practice", Team.Kind.GP_PRACTICE, ods_code="F1")
    for auth in headers:
        for route, kwarg in routes_with_ids():
            if not route.startswith("api-"):
                continue
            url = reverse(route, kwargs={kwarg: big, **_other_kwargs(route, kwarg)})
            body = json.dumps({"reason": "r"})
            status = client.post(url, body, content_type="application/json", **auth).status_code
            assert status in (404, 405), url
            assert client.get(url, **auth).status_code in (404, 405), url
        audit = client.get(reverse("api-access-report"), {"patient": str(big)}, **auth)
        assert audit.status_code in (400, 404)  # (404: a client not allowed the audit at all)
        body = {"nhs_number": patient.nhs_number, "team": big, "kind": "referral", "reason": "r"}
        created = client.post(
            reverse("api-relationships"), json.dumps(body), content_type="application/json", **auth
        )
        assert created.status_code in (400, 404)
    assert team.relationships.count() == 0


@pytest.fixture
def superuser(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_an_id_beyond_64_bits_in_any_admin_list_filter_or_page_is_no_500(superuser):
    big = str(2**63)
    for model, model_admin in admin.site._registry.items():
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert superuser.get(changelist, {"id__exact": big}).status_code in (200, 302)
        assert superuser.get(f"{changelist}{big}/change/").status_code == 302  # "does not exist"
        for list_filter in model_admin.list_filter:
            if not isinstance(list_filter, str):
                continue
            field = model._meta.get_field(list_filter.split("__")[0])
            if field.is_relation:
                response = superuser.get(changelist, {f"{list_filter}__exact": big})
                assert response.status_code == 200, (changelist, list_filter)


def test_an_admin_action_on_an_id_beyond_64_bits_is_no_500(superuser):
    changelist = reverse("admin:records_patient_changelist")
    response = superuser.post(
        changelist, {"action": "merge_selected", "_selected_action": [str(2**63)]}
    )
    assert response.status_code in (200, 302)


def test_lookups_beyond_a_column_match_nothing_on_any_database():
    team = make_team("Practice", Team.Kind.GP_PRACTICE, ods_code="F1")
    member(team, Role.GP, "gp")
    patient = PatientFactory()
    assert not Membership.objects.filter(team_id=2**63).exists()
    assert not Membership.objects.filter(team=str(2**64)).exists()
    assert Membership.objects.filter(team_id__lt=2**63).count() == 1
    assert list(Patient.objects.filter(pk__in=[2**63, patient.pk])) == [patient]
    assert not Patient.objects.filter(pk__in=[2**63]).exists()
    assert not Membership.objects.filter(team__in=[2**63]).exists()


# Free text: one limit on every path


def test_free_text_has_one_limit_on_every_path():
    assert FREE_TEXT_MAX_LENGTH == 2000
    assert (
        RelationshipForm.base_fields["reason"].max_length
        == RelationshipIn().fields["reason"].max_length
        == RelationshipEndIn().fields["reason"].max_length
        == importing.reading.MAX_LENGTHS["reason"]
        == BreakGlassForm.base_fields["explanation"].max_length
        == ReviewForm.base_fields["note"].max_length
        == FREE_TEXT_MAX_LENGTH
    )


def test_a_reason_over_the_limit_is_refused_by_the_form(office, team):
    patient = PatientFactory()
    response = office.post(
        reverse("manage-patient", kwargs={"patient_id": patient.pk}),
        {"team": team.pk, "kind": "referral", "reason": "x" * 2001},
    )
    assert "The reason may have at most 2,000 characters; this has 2,001." in (
        response.content.decode()
    )
    assert not CareRelationship.objects.exists()


def test_ending_or_objecting_with_text_over_the_limit_is_refused_with_a_message(office, team):
    patient = PatientFactory()
    relationship = services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r", actor=UserFactory(username="o")
    )
    end = reverse("manage-end-relationship", kwargs={"relationship_id": relationship.pk})
    page = office.post(end, {"reason": "x" * 2001}, follow=True).content.decode()
    assert "The reason may have at most 2,000 characters; this has 2,001." in page
    relationship.refresh_from_db()
    assert relationship.ended_at is None

    objection = reverse("manage-record-objection", kwargs={"patient_id": patient.pk})
    page = office.post(objection, {"notes": "x" * 2001}, follow=True).content.decode()
    assert "The notes may have at most 2,000 characters; this has 2,001." in page
    assert not Objection.objects.exists()


def test_the_services_refuse_text_over_the_limit_whoever_calls_them(team):
    patient = PatientFactory()
    actor = UserFactory(username="o")
    with pytest.raises(RelationshipError, match="at most 2,000 characters"):
        services.start_relationship(
            patient=patient, team=team, kind="referral", reason="x" * 2001, actor=actor
        )
    with pytest.raises(ObjectionError, match="at most 2,000 characters"):
        services.record_objection(patient=patient, notes="x" * 2001, actor=actor)
    ae = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="AE")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    with pytest.raises(EmergencyAccessError, match="at most 2,000 characters"):
        services.break_glass(
            user=doctor, team=ae, patient=patient, reason="other", explanation="x" * 2001
        )
    assert not CareRelationship.objects.exists() and not BreakGlassAccess.objects.exists()


# NUL and other characters no database here can store


@pytest.mark.parametrize(
    ("route", "form"),
    [
        ("manage-record-objection", {"notes": "asked\x00by letter"}),
        ("manage-patient", {"team": "1", "kind": "referral", "reason": "wound\x00care"}),
    ],
)
def test_nul_in_a_portal_form_is_refused_and_nothing_is_stored(office, team, route, form):
    patient = PatientFactory()
    response = office.post(reverse(route, kwargs={"patient_id": patient.pk}), form)
    assert response.status_code == 400
    assert "holds a character that cannot be stored (U+0000)" in response.content.decode()
    assert not Objection.objects.exists() and not CareRelationship.objects.exists()


def test_nul_in_an_end_reason_is_refused_and_the_relationship_goes_on(office, team):
    relationship = services.start_relationship(
        patient=PatientFactory(), team=team, kind="referral", reason="r",
        actor=UserFactory(username="o"),
    )  # fmt: skip
    end = reverse("manage-end-relationship", kwargs={"relationship_id": relationship.pk})
    assert office.post(end, {"reason": "gone\x00"}).status_code == 400
    relationship.refresh_from_db()
    assert relationship.ended_at is None


def test_nul_in_a_query_is_refused_in_the_portal_and_the_admin(office, superuser):
    assert superuser.get(reverse("admin:access_team_changelist"), {"kind": "\x00"}).status_code == (
        400
    )
    assert superuser.get(
        reverse("admin:records_patient_changelist"), {"q": "a\x00"}
    ).status_code == (400)
    response = superuser.get("/admin/autocomplete/", {"app_label": "access",
        "model_name": "staffprofile", "field_name": "user", "term": "\x00"})  # fmt: skip
    assert response.status_code == 400


def test_nul_in_a_header_or_cookie_is_refused(client):
    assert client.get(reverse("login"), HTTP_USER_AGENT="a\x00b").status_code == 400
    assert client.get(reverse("login"), HTTP_COOKIE="sessionid=abcdefgh\x00").status_code == 400


def test_nul_sent_to_the_api_is_refused_in_the_apis_own_format(api):
    client, headers = api
    response = client.post(
        reverse("api-token"), {"grant_type": "client_credentials", "client_id": "a\x00"}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "cannot be stored (U+0000)" in response.json()["title"]

    search = client.get(reverse("api-patient-search"), {"identifier": "\x00"}, **headers[0])
    assert search.status_code == 400 and search["Content-Type"] == "application/fhir+json"

    patient = PatientFactory()
    team = make_team("Practice", Team.Kind.GP_PRACTICE, ods_code="F1")
    for reason in ("wound\u0000care", "wound\ud800care"):
        body = {"nhs_number": patient.nhs_number, "team": team.pk, "kind": "referral",
                "reason": reason}  # fmt: skip
        created = client.post(
            reverse("api-relationships"),
            json.dumps(body),
            content_type="application/json",
            **headers[1],
        )
        assert created.status_code == 400
    assert not CareRelationship.objects.exists()


def test_nul_in_an_api_clients_scopes_is_a_form_error_in_the_admin(superuser):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    registered, _ = api_client_for(office, Role.ADMINISTRATOR, ["relationship.write"])
    url = reverse("admin:access_apiclient_change", args=[registered.pk])
    for scopes in ('["\\u0000"]', '"patient.read relationship.write"', '["everything"]'):
        response = superuser.post(url, {"name": "x", "scopes": scopes, "rate": "", "active": "on"})
        assert response.status_code == 200
        assert "A list of one or more of: patient.read" in response.content.decode()
    registered.refresh_from_db()
    assert registered.scopes == ["relationship.write"]


def test_the_services_refuse_unstorable_characters_whoever_calls_them(team):
    patient = PatientFactory()
    actor = UserFactory(username="o")
    for text in ("a\x00b", "a\ud800b"):
        with pytest.raises(ObjectionError, match="cannot be stored"):
            services.record_objection(patient=patient, notes=text, actor=actor)
        with pytest.raises(RelationshipError, match="cannot be stored"):
            services.start_relationship(
                patient=patient, team=team, kind="referral", reason=text, actor=actor,
                starts_on=datetime.date.today(),
            )  # fmt: skip
    assert not Objection.objects.exists()
