"""The pages issue 2 brings: sign-in, the home page, the admin of the register, error pages."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from records import services
from records.matching import Demographics
from records.models import Link, PatientMerge, UnmatchedRecord
from tests.factories import (
    LinkFactory,
    PatientFactory,
    SourceSystemFactory,
    UserFactory,
    identity_reviewer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_admin_is_closed_to_anonymous_visitors(client):
    response = client.get("/admin/records/patient/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_health_check_answers_without_signing_in(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_sign_in_with_a_wrong_password_says_so(client):
    UserFactory(username="sam")
    response = client.post(reverse("login"), {"username": "sam", "password": "nope"})
    assert response.status_code == 200
    assert "Your username or password is not right" in response.content.decode()


def test_home_shows_sources_and_the_review_queue_in_bounded_queries(
    client, django_assert_max_num_queries, reviewer
):
    sources = [SourceSystemFactory() for _ in range(5)]
    for source in sources:
        LinkFactory(source=source)
    services.queue_unmatched(
        source=sources[0],
        local_id="X1",
        demographics=Demographics("Jon", "Smith", None, "E8 1AA"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    client.force_login(identity_reviewer())

    # 11: one of them asks whether this user needs a second factor (lcr.signin); and for an
    # identity reviewer, their permissions (2), the count waiting (header and home: 2) and the
    # merges waiting (1).
    with django_assert_max_num_queries(16):
        response = client.get(reverse("home"))

    body = response.content.decode()
    assert response.status_code == 200
    assert all(source.name in body for source in sources)
    assert "<strong>1</strong> source record could not be linked" in body
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/records/patient/",
        "/admin/records/sourcesystem/",
        "/admin/records/link/",
        "/admin/records/unmatchedrecord/",
        "/admin/records/matchcandidate/",
        "/admin/records/patientmerge/",
        "/admin/records/identitysyncrun/",
    ],
)
def test_admin_lists_the_register(admin_client, path):
    LinkFactory()
    response = admin_client.get(path)
    assert response.status_code == 200


def test_admin_patient_page_shows_its_links(admin_client):
    link = LinkFactory(local_id="MRN-777")
    response = admin_client.get(f"/admin/records/patient/{link.patient.pk}/change/")
    assert "MRN-777" in response.content.decode()


def test_the_admin_offers_no_way_to_decide_a_candidate_and_links_to_the_portal(
    admin_client, reviewer
):
    patient = PatientFactory(given_names="John", family_name="Smith", postcode="E8 1AA")
    record = services.queue_unmatched(
        source=SourceSystemFactory(),
        local_id="LAS-1",
        demographics=Demographics("Jon", "Smith", patient.birth_date, "E8 1AA"),
        reason=UnmatchedRecord.Reason.NO_NHS_NUMBER,
        actor=reviewer,
    )
    candidate = record.candidates.get()

    listed = admin_client.get("/admin/records/matchcandidate/").content.decode()
    admin_client.post(
        "/admin/records/matchcandidate/",
        {"action": "confirm_selected", "_selected_action": [candidate.pk]},
    )

    assert "confirm_selected" not in listed and 'name="action"' not in listed
    assert reverse("identity-record", kwargs={"record_id": record.pk}) in listed
    record.refresh_from_db()
    assert record.status == UnmatchedRecord.Status.PENDING
    assert not patient.links.exists()


def test_unknown_page_is_a_plain_not_found_page(client):
    client.force_login(UserFactory())
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.fixture
def reviewer_client(client):
    from demo.load import DEMO_USERS, create_demo_users

    create_demo_users()
    reviewer = next(user for user in DEMO_USERS if user.username == "reviewer")
    # Signed in as the demo's reviewer (who has no password here: they sign in at the simulated
    # CIS2), without the fixture's own second factor: the admin waits for theirs.
    Client.force_login(client, get_user_model().objects.get(username=reviewer.username))
    from demo.totp import current_code

    verified = client.post(reverse("two-factor"), {"token": current_code(reviewer.totp_key)})
    assert verified.status_code == 302
    return client


def test_the_demo_reviewer_opens_the_identity_pages_and_reads_merges_in_the_admin(
    reviewer_client,
):
    assert reviewer_client.get(reverse("identity-queue")).status_code == 200
    assert reviewer_client.get(reverse("identity-merges")).status_code == 200
    assert reviewer_client.get("/admin/records/patientmerge/").status_code == 200
    patients = reviewer_client.get("/admin/records/patient/").content.decode()
    assert "merge_selected" not in patients and "delete_selected" not in patients


def test_deleting_a_link_in_the_admin_unlinks_it_through_the_service(admin_client):
    link = LinkFactory(local_id="MRN-5")

    response = admin_client.post(f"/admin/records/link/{link.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Link.objects.exists()
    record = UnmatchedRecord.objects.get(local_id="MRN-5")
    assert record.reason == UnmatchedRecord.Reason.UNLINKED


@pytest.mark.parametrize("action", ["merge_selected", "delete_selected"])
def test_the_admin_neither_merges_nor_deletes_patients(admin_client, action):
    kept, retired = PatientFactory(), PatientFactory()
    chosen = {"action": action, "_selected_action": [kept.pk, retired.pk], "post": "yes"}

    admin_client.post("/admin/records/patient/", chosen)
    admin_client.post(f"/admin/records/patient/{retired.pk}/delete/", {"post": "yes"})

    retired.refresh_from_db()
    assert retired.merged_into is None
    assert not PatientMerge.objects.exists()
    assert get_user_model().objects.exists()
    from records.models import Patient

    assert Patient.objects.count() == 2


def test_no_admin_anywhere_deletes_a_patient_even_by_cascade(admin_user):
    """Every ModelAdmin, as a superuser: the patients' own offers no deletion, and no model an
    admin may delete takes a patient with it (every relation to a patient protects it)."""
    from django.contrib import admin
    from django.db import models
    from django.test import RequestFactory

    from records.models import Patient

    request = RequestFactory().get("/admin/")
    request.user = admin_user
    patients = admin.site._registry[Patient]
    assert not patients.has_delete_permission(request)
    assert "delete_selected" not in patients.get_actions(request)
    for field in Patient._meta.get_fields():
        if field.is_relation and field.concrete and field.many_to_one:
            assert field.remote_field.on_delete is not models.CASCADE, field
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_delete_permission(request):
            continue
        for field in model._meta.get_fields():
            if field.is_relation and field.auto_created and field.related_model is Patient:
                assert field.on_delete is not models.CASCADE, (model, field)


def test_an_nhs_number_cannot_be_edited_in_the_admin(admin_client):
    patient = PatientFactory()
    page = admin_client.get(f"/admin/records/patient/{patient.pk}/change/").content.decode()
    assert 'name="nhs_number"' not in page
