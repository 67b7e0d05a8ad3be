"""Signing in and staying signed in: lockout after repeated failures, a second factor for
administrators and privacy officers, idle and absolute session limits, sign-out, the team chooser.
These go through the real sign-in pages (not force_login)."""

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import Role, Team
from tests.factories import UserFactory, make_team, member

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client, username: str, password: str = PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def code_for(device: TOTPDevice) -> str:
    """What the user's authenticator app shows now."""
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


def wrong_code_for(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 500000) % 1000000:06d}"


@pytest.fixture
def social_worker():
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    return with_password(member(team, Role.SOCIAL_WORKER, "sw"))


@pytest.fixture
def administrator():
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    return with_password(member(office, Role.ADMINISTRATOR, "office-admin"))


def test_a_social_worker_signs_in_with_a_password_alone(client, social_worker):
    response = sign_in(client, "sw")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_five_wrong_passwords_lock_the_account_out_from_that_address(client, social_worker):
    for _ in range(4):
        response = sign_in(client, "sw", "wrong")
        assert response.status_code == 200
        assert "Your username or password is not right" in response.content.decode()

    locked = sign_in(client, "sw", "wrong")
    assert locked.status_code == 429
    assert "You have tried to sign in too many times. Wait 15 minutes" in locked.content.decode()

    # Even the right password is refused now, and says why rather than "wrong password".
    refused = sign_in(client, "sw")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session

    # Another address is not locked out by this one's failures.
    elsewhere = sign_in(client, "sw", REMOTE_ADDR="10.9.9.9")
    assert elsewhere.status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, social_worker):
    for _ in range(5):
        sign_in(client, "sw", "wrong")
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=16)):
        assert sign_in(client, "sw").status_code == 302


def test_an_administrator_without_a_device_must_set_one_up_before_any_page(client, administrator):
    assert sign_in(client, "office-admin").status_code == 302

    home = client.get(reverse("home"))
    assert home.status_code == 302
    assert home["Location"].startswith(reverse("two-factor-setup"))
    assert client.get(reverse("manage-find-patient")).status_code == 302

    setup = client.get(reverse("two-factor-setup"))
    page = setup.content.decode()
    device = TOTPDevice.objects.get(user=administrator, confirmed=False)
    assert "otpauth://totp/" in page and "<svg" in page

    wrong = client.post(reverse("two-factor-setup"), {"token": wrong_code_for(device)})
    assert "That code is not right" in wrong.content.decode()
    assert client.get(reverse("home")).status_code == 302

    # django-otp makes each wrong code cost a growing wait before the next try.
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=2), tick=False):
        too_soon = client.post(reverse("two-factor-setup"), {"token": "123456"})
    assert "Too many wrong codes" not in too_soon.content.decode()
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=10), tick=False):
        confirmed = client.post(
            reverse("two-factor-setup"), {"token": code_for(device), "next": "/manage/patients/"}
        )
    assert confirmed.status_code == 302 and confirmed["Location"] == "/manage/patients/"
    assert TOTPDevice.objects.get(user=administrator).confirmed
    assert client.get(reverse("manage-find-patient")).status_code == 200


def test_an_administrator_with_a_device_enters_its_code_and_cannot_replace_it(
    client, administrator
):
    device = TOTPDevice.objects.create(user=administrator, name="phone", confirmed=True)
    sign_in(client, "office-admin")

    assert client.get(reverse("home"))["Location"].startswith(reverse("two-factor"))
    assert client.get(reverse("two-factor-setup"))["Location"] == reverse("two-factor")

    bad = client.post(reverse("two-factor"), {"token": "12ab"})
    assert "Enter the 6 digits of the code" in bad.content.decode()

    good = client.post(
        reverse("two-factor"), {"token": code_for(device), "next": "https://evil.example/"}
    )
    assert good.status_code == 302 and good["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_a_staff_user_in_no_team_needs_the_second_factor_for_the_admin_and_every_page(client):
    """The identity reviewer: the Django admin shows who patients are, so staff never sign in
    with a password alone."""
    reviewer = with_password(UserFactory(username="identity-reviewer", is_staff=True))
    sign_in(client, "identity-reviewer")

    for page in ("/admin/", "/admin/records/patient/", reverse("home")):
        assert client.get(page)["Location"].startswith(reverse("two-factor-setup")), page
    assert TOTPDevice.objects.filter(user=reviewer).count() == 0


def test_a_privacy_officer_needs_the_second_factor_too(client):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    with_password(member(office, Role.PRIVACY_OFFICER, "po"))
    sign_in(client, "po")
    assert client.get(reverse("audit-review-queue"))["Location"].startswith(
        reverse("two-factor-setup")
    )


def test_the_session_ends_after_the_idle_limit(client, social_worker, settings):
    sign_in(client, "sw")
    start = timezone.now()
    with time_machine.travel(start + timezone.timedelta(minutes=14)):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + timezone.timedelta(minutes=28)):
        assert client.get(reverse("home")).status_code == 200  # 14 minutes since the last page
    with time_machine.travel(start + timezone.timedelta(minutes=44)):
        response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    page = client.get(response["Location"]).content.decode()
    assert "You were signed out after 15 minutes without activity." in page


def test_reading_pages_writes_the_session_at_most_once_a_minute(client, social_worker):
    """Activity is stamped once a minute, not on every page: a page read is one session read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def session_writes_on_a_page(at) -> int:
        with time_machine.travel(at), CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("home")).status_code == 200
        return sum("django_session" in q["sql"] and "SELECT" not in q["sql"] for q in queries)

    sign_in(client, "sw")
    start = timezone.now()
    session_writes_on_a_page(start)  # the first page records when the session started
    assert session_writes_on_a_page(start + timezone.timedelta(seconds=20)) == 0
    assert session_writes_on_a_page(start + timezone.timedelta(seconds=40)) == 0
    assert session_writes_on_a_page(start + timezone.timedelta(seconds=90)) == 1


def test_htmx_polling_does_not_keep_a_session_alive(client, social_worker):
    sign_in(client, "sw")
    start = timezone.now()
    for minutes in (5, 10, 14):
        with time_machine.travel(start + timezone.timedelta(minutes=minutes)):
            client.get(reverse("home"), HTTP_HX_REQUEST="true")
    with time_machine.travel(start + timezone.timedelta(minutes=16)):
        response = client.get(reverse("home"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_a_record_pages_event_stream_does_not_keep_a_session_alive(client, social_worker):
    sign_in(client, "sw")
    start = timezone.now()
    for minutes in (5, 10, 14):
        with time_machine.travel(start + timezone.timedelta(minutes=minutes)):
            client.get(reverse("home"), HTTP_ACCEPT="text/event-stream")
    with time_machine.travel(start + timezone.timedelta(minutes=16)):
        response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_session_ends_at_the_absolute_limit_however_busy(client, social_worker):
    sign_in(client, "sw")
    start = timezone.now()
    for minutes in range(10, 12 * 60, 10):
        with time_machine.travel(start + timezone.timedelta(minutes=minutes)):
            assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + timezone.timedelta(hours=12, minutes=1)):
        assert client.get(reverse("home")).status_code == 302


def test_sign_out_is_a_post_and_ends_the_session(client, social_worker):
    sign_in(client, "sw")
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout"))["Location"] == reverse("login") + "?signed-out"
    assert client.get(reverse("home")).status_code == 302


def test_the_sign_in_page_after_signing_out_says_so(client):
    assert "You have signed out" in client.get(reverse("login") + "?signed-out").content.decode()
    assert "You have signed out" not in client.get(reverse("login")).content.decode()


def test_someone_in_two_teams_picks_one_from_the_header(client, social_worker):
    other = make_team("Hospital discharge team", Team.Kind.SOCIAL_CARE_TEAM, ods_code="HD1")
    from access.services import add_member

    add_member(
        team=other, user=social_worker, role=Role.SOCIAL_WORKER, reason="joins", actor=UserFactory()
    )
    sign_in(client, "sw")
    home = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("choose-team")}"' in home
    assert "Choose the team you are working for" in home

    nonsense = client.post(reverse("choose-team"), {"team": "abc"})
    assert (
        nonsense.status_code == 200
        and "Choose the team you are working for" in nonsense.content.decode()
    )

    chosen = client.post(reverse("choose-team"), {"team": other.pk}, follow=True)
    assert "Acting for <strong>Hospital discharge team</strong>" in chosen.content.decode()
