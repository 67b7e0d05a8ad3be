"""What the Django admin cannot do, even for a superuser: become a partner system (set a client's
secret, issue itself a token), take over someone's sign-in (set their password, add a user, give
them an authenticator with a known key), or rewrite the change history. Those change only
through the services, which record who did it."""

import base64

import pytest
from auditlog.models import LogEntry
from django.test import Client
from oauth2_provider.models import AccessToken, Application

from access import services
from access.models import Role, Team
from tests.api_helpers import api_client_for, token
from tests.factories import UserFactory, make_team

pytestmark = pytest.mark.django_db

OAUTH_PAGES = ["application", "accesstoken", "refreshtoken", "grant", "idtoken"]


@pytest.fixture
def superuser(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client, user


@pytest.fixture
def partner():
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    return api_client_for(team, Role.GP, ["patient.read"])


def token_status(client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return (
        Client()
        .post(
            "/api/oauth/token/",
            {"grant_type": "client_credentials"},
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        .status_code
    )


@pytest.mark.parametrize("page", OAUTH_PAGES)
def test_an_administrator_has_no_page_for_the_api_clients_secrets_or_tokens(superuser, page):
    client, _ = superuser
    assert client.get(f"/admin/oauth2_provider/{page}/").status_code == 404
    assert client.get(f"/admin/oauth2_provider/{page}/add/").status_code == 404
    assert "oauth2_provider" not in client.get("/admin/").content.decode()


def test_an_administrator_cannot_change_a_partners_secret_through_the_admin(superuser, partner):
    client, _ = superuser
    api_client, secret = partner
    application = api_client.application

    response = client.post(
        f"/admin/oauth2_provider/application/{application.pk}/change/",
        {
            "client_id": application.client_id,
            "client_secret": "known-to-the-administrator",
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
            "name": application.name,
            "algorithm": "",
        },
    )

    assert response.status_code == 404
    assert token_status(application.client_id, "known-to-the-administrator") == 401
    assert token_status(application.client_id, secret) == 200


def test_an_administrator_cannot_issue_a_token_through_the_admin(superuser, partner):
    client, _ = superuser
    api_client, _ = partner
    before = AccessToken.objects.count()

    response = client.post(
        "/admin/oauth2_provider/accesstoken/add/",
        {
            "token": "known-token",
            "application": api_client.application.pk,
            "user": api_client.service_user.pk,
            "expires_0": "2099-01-01",
            "expires_1": "00:00:00",
            "scope": "patient.read",
        },
    )

    assert response.status_code == 404
    assert AccessToken.objects.count() == before


def test_rotating_a_secret_is_a_service_that_records_who_and_why_never_the_secret(partner):
    api_client, old = partner
    officer = UserFactory(username="security-lead")

    new = services.rotate_api_client_secret(
        client=api_client, reason="secret seen in a log", actor=officer
    )

    assert token_status(api_client.application.client_id, old) == 401
    assert token_status(api_client.application.client_id, new) == 200
    entry = LogEntry.objects.get_for_object(api_client).get(actor=officer)
    assert entry.additional_data == {"reason": "secret seen in a log"}
    assert new not in str(entry.changes) and old not in str(entry.changes)
    assert api_client.application.client_secret != new  # only a hash is kept
    assert token(Client(), api_client, new)


@pytest.fixture
def clinician():
    user = UserFactory(username="dr-jones", first_name="Asha")
    user.set_password("the-clinicians-own")
    user.save()
    return user


@pytest.fixture
def staff(client):
    """A staff user with every permission over users and authenticators."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="helpdesk", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["auth", "otp_totp"])
    )
    client.force_login(user)
    return client, user


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_the_admin_cannot_set_a_users_password_or_add_a_user(request, who, clinician):
    client, _ = request.getfixturevalue(who)
    path = f"/admin/auth/user/{clinician.pk}/password/"

    assert client.get(path).status_code == 404
    response = client.post(path, {"password1": "Known-to-st4ff!", "password2": "Known-to-st4ff!"})
    assert response.status_code == 404
    assert client.get("/admin/auth/user/add/").status_code == 403
    client.post("/admin/auth/user/add/", {"username": "ghost", "password1": "x", "password2": "x"})

    clinician.refresh_from_db()
    assert clinician.check_password("the-clinicians-own")
    assert not type(clinician).objects.filter(username="ghost").exists()


def test_the_admin_changes_only_whether_a_user_may_sign_in(staff, clinician):
    client, _ = staff
    page = client.get(f"/admin/auth/user/{clinician.pk}/change/").content.decode()
    assert "/password/" not in page and 'name="username"' not in page

    client.post(
        f"/admin/auth/user/{clinician.pk}/change/",
        {
            "username": "taken-over",
            "first_name": "Mallory",
            "email": "m@example.com",
            "is_staff": "on",
            "is_superuser": "on",
            "password": "x",
        },
    )

    clinician.refresh_from_db()
    assert (clinician.username, clinician.first_name, clinician.email) == ("dr-jones", "Asha", "")
    assert not (clinician.is_staff or clinician.is_superuser or clinician.is_active)
    assert clinician.check_password("the-clinicians-own")


@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_the_admin_cannot_give_someone_an_authenticator_or_read_one(request, who, clinician):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client, _ = request.getfixturevalue(who)
    device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
    known = "3132333435363738393031323334353637383930"
    fields = {"user": clinician.pk, "confirmed": "on", "key": known, "step": 30, "t0": 0,
              "digits": 6, "tolerance": 1, "drift": 0}  # fmt: skip

    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    client.post(
        "/admin/otp_totp/totpdevice/add/",
        {**fields, "name": "mine"},
    )
    client.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        {**fields, "name": "phone"},
    )
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    for shown in (f"{device.pk}/config/", f"{device.pk}/qrcode/"):
        assert client.get(f"/admin/otp_totp/totpdevice/{shown}").status_code in (302, 404)

    theirs = TOTPDevice.objects.filter(user=clinician)
    assert list(theirs.values_list("pk", "key", "name")) == [(device.pk, device.key, "phone")]
    assert device.key not in page


def test_deleting_a_lost_authenticator_makes_its_owner_set_up_a_new_one_with_their_password(
    superuser, clinician
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client, _ = superuser
    device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)

    client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})

    assert not TOTPDevice.objects.filter(user=clinician).exists()
    client.get("/sign-in/two-factor/setup/")  # only ever the signed-in user's own
    assert not TOTPDevice.objects.filter(user=clinician).exists()
