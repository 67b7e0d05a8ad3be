"""The portal's Jinja2 environment: NHS.UK component output remembered without changing a byte,
and without keeping what people type."""

import pytest
from django.template import engines
from django.test import Client
from django.urls import reverse

from access.models import Role, Team
from lcr import jinja2 as lcr_jinja2
from tests.factories import make_team, member

pytestmark = pytest.mark.django_db


def component(path: str, name: str):
    return getattr(engines["jinja2"].env.get_template(path).module, name)


@pytest.mark.parametrize(
    "params",
    [
        {"id": "nhs", "name": "nhs", "label": {"text": "NHS number"}, "value": "", "width": 10},
        {"id": "nhs", "name": "nhs", "label": {"text": "NHS number"}, "value": "", "width": 20},
        {"id": "n", "name": "n", "label": {"text": "Name"}, "errorMessage": {"text": "Enter it"}},
        {"id": "n", "name": "n", "label": {"text": "Name"}, "spellcheck": False},
        {"id": "n", "name": "n", "label": {"text": "Name"}, "spellcheck": 0},
    ],
)
def test_a_remembered_input_is_the_component_s_own_output(params):
    make_input = component("nhsuk/components/input/macro.jinja", "input")
    first = lcr_jinja2.memo(make_input, params)
    assert first == make_input(params)
    assert lcr_jinja2.memo(make_input, params) is first


def test_what_is_typed_into_a_search_is_escaped_and_not_remembered(client):
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    client.force_login(member(team, Role.GP, "gp"))
    typed = 'Okafor"><script>alert(1)</script>'
    body = client.get(
        reverse("patient-search"), {"family_name": typed, "birth_date": "30/07/1961"}
    ).content.decode()
    assert 'value="Okafor&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in body
    assert "<script>alert(1)" not in body
    assert typed not in repr(list(lcr_jinja2._memo))


def test_the_sign_out_form_carries_this_page_s_csrf_token():
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member(team, Role.GP, "gp"))
    pages = [browser.get(reverse(name)).content.decode() for name in ("home", "patient-search")]
    tokens = [page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0] for page in pages]
    assert tokens[0] != tokens[1]  # masked afresh on every page, not remembered with the header
    answer = browser.post(reverse("logout"), {"csrfmiddlewaretoken": tokens[1]})
    assert answer.status_code == 302 and answer["Location"] == reverse("login") + "?signed-out"
