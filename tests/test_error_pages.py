"""Error pages in the NHS.UK look that say what to do and leak nothing (no stack, no settings)."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from lcr.views import server_error
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_form_with_a_stale_token_gets_the_refusal_page():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="sam"))
    response = client.post(reverse("choose-team"), {"team": "1"})
    page = response.content.decode()
    assert response.status_code == 403
    assert "You cannot do that" in page and "nhsuk-header" in page
    assert "CSRF verification failed" not in page and "Reason given" not in page


def test_the_server_error_page_needs_neither_request_nor_database(django_assert_num_queries):
    request = RequestFactory().get("/")
    with django_assert_num_queries(0):
        response = server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in page and "nhsuk-header" in page
    assert "Traceback" not in page


def test_the_not_found_page_is_in_the_same_look(client):
    client.force_login(UserFactory(username="sam"))
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404 and "Page not found" in page and "nhsuk-header" in page
    assert "Acting for" in page or "No team chosen" in page


def test_every_page_is_marked_confidential_when_printed(client):
    client.force_login(UserFactory(username="sam"))
    page = client.get(reverse("home")).content.decode()
    assert "CONFIDENTIAL: patient information" in page
    assert "@media print" in (client.get("/static/css/portal.css").getvalue().decode())


def test_htmx_requests_from_any_page_carry_the_csrf_token(client):
    client.force_login(UserFactory(username="sam"))
    page = client.get(reverse("home")).content.decode()
    token = client.cookies["csrftoken"].value
    assert token and 'hx-headers="{&#34;X-CSRFToken&#34;: &#34;' in page
