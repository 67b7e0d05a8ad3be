"""Headers on every answer: a Content-Security-Policy that allows nothing inline and nothing from
elsewhere, a Permissions-Policy that allows no powerful feature, and, to anyone signed in,
`Cache-Control: no-store`; and no page of the portal needs more than its policy allows.

Every route is walked (the list tests/test_permission_matrix.py classifies), as a signed-in
clinician and signed out, with the Django admin, the API's documentation and the 404 page.
"""

import base64
import hashlib
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.urls import get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import Role, Team
from tests.factories import UserFactory, make_team, member
from tests.test_permission_matrix import project_routes

pytestmark = pytest.mark.django_db

# What the policy says, directive by directive, on every page but the API's documentation.
STRICT = {
    "default-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
FEATURES_REFUSED = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")
ADMIN_PAGES = [
    "/admin/",
    "/admin/records/sourcesystem/",
    "/admin/records/sourcesystem/add/",
    "/admin/records/patient/",
    "/admin/access/team/add/",
]
API_DOCS = ("/api/v1/docs/", "/api/v1/redoc/")
OTHER_PAGES = [
    "/no-such-page/",
    "/patients/999999/",
    "/api/no-such-thing",
    "/static/css/portal.css",
]


def policy_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in header.split(";"))


def example_address(name: str) -> str:
    """The route's address with a made-up value for each of its parameters."""
    pattern = next(p for p in get_resolver().reverse_dict.getlist(name))
    converters = {key: "1" for key in pattern[0][0][1]}
    if "category" in converters:
        converters["category"] = "allergies"
    return reverse(name, kwargs=converters)


def every_address() -> list[str]:
    return sorted({example_address(name) for name in project_routes()}) + OTHER_PAGES


@pytest.fixture
def clinician(client):
    team = make_team("Riverside Practice", Team.Kind.GP_PRACTICE, ods_code="A1")
    client.force_login(member(team, Role.GP, "gp"))
    return client


@pytest.fixture
def superuser(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    TOTPDevice.objects.get_or_create(user=user, name="test device", defaults={"confirmed": True})
    return client


class InlineCode(HTMLParser):
    """What a page has inline: the text of each <script> without src, each <style>, each style=
    and on...= attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.attributes: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.attributes += [f"{tag} {key}" for key in names if key == "style" or key[:2] == "on"]
        if (tag == "script" and "src" not in names) or tag == "style":
            self._open = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_data(self, data: str) -> None:
        if self._open:
            (self.scripts if self._open == "script" else self.styles)[-1] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def inline_code(response) -> InlineCode:
    parser = InlineCode()
    if response["Content-Type"].startswith("text/html"):
        parser.feed(response.content.decode())
    return parser


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("address", every_address())
def test_every_address_sends_both_policies_and_no_store_to_someone_signed_in(clinician, address):
    response = clinician.get(address)
    policy = policy_of(response)
    if not address.startswith(API_DOCS):  # (their own test, below)
        assert {key: policy.get(key) for key in STRICT} == STRICT, address
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert all(feature in response["Permissions-Policy"] for feature in FEATURES_REFUSED)
    if not address.startswith("/static/"):
        assert "no-store" in response["Cache-Control"], address


@pytest.mark.parametrize("address", every_address())
def test_every_address_sends_both_policies_signed_out(client, address):
    response = client.get(address)
    assert policy_of(response)["frame-ancestors"] == "'none'"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.parametrize("address", ADMIN_PAGES)
def test_the_django_admin_sends_the_strict_policy_and_no_store(superuser, address):
    response = superuser.get(address)
    assert response.status_code == 200
    assert {key: policy_of(response).get(key) for key in STRICT} == STRICT
    assert "no-store" in response["Cache-Control"]
    assert not inline_code(response).scripts and not inline_code(response).styles


@pytest.mark.parametrize("address", [*every_address(), "/sign-in/"])
def test_no_page_has_inline_code_the_policy_does_not_allow(clinician, address):
    response = clinician.get(address)
    found = inline_code(response)
    allowed = policy_of(response)["script-src"].split()
    assert [sha256(text) for text in found.scripts if sha256(text) not in allowed] == []
    if not address.startswith("/api/v1/redoc/"):
        assert found.styles == []
    assert found.attributes == []


def test_the_one_inline_script_allowed_is_nhsuk_frontends_first_line(client):
    found = inline_code(client.get("/sign-in/"))
    assert [sha256(text) for text in found.scripts] == [settings.NHSUK_BODY_SCRIPT_HASH]
    assert "js-enabled" in found.scripts[0]


def test_the_api_documentation_adds_only_what_its_viewer_needs_from_this_origin(client):
    swagger = policy_of(client.get("/api/v1/docs/"))
    redoc = policy_of(client.get("/api/v1/redoc/"))
    assert swagger["img-src"] == "'self' data:"
    assert redoc["style-src"] == "'self' 'unsafe-inline'"
    assert redoc["worker-src"] == "'self' blob:"
    for policy in (swagger, redoc):
        assert "http" not in " ".join(policy.values())
        assert policy["script-src"] == f"'self' {settings.NHSUK_BODY_SCRIPT_HASH}"


def test_swagger_uis_start_up_script_is_a_file_of_its_own(client):
    page = client.get("/api/v1/docs/")
    assert inline_code(page).scripts == [] and inline_code(page).styles == []
    script = client.get("/api/v1/docs/", {"script": ""})
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_a_signed_in_persons_team_chooser_is_not_cached(clinician):
    assert "no-store" in clinician.get("/team/")["Cache-Control"]
