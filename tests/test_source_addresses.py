"""A source system's base URL never points at the shared care record itself (its host names, its
port on this machine, the origin of the admin page that sets it), so the fetcher cannot be
aimed at the product's own admin or API; loopback on other ports stays allowed for the demo.
One check, on the model, in the admin's form and in the demo's loader.
"""

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory, override_settings

from demo.load import register_sources
from demo.population import generate
from records.admin import SourceSystemForm
from records.models import SourceSystem
from records.source_urls import validate_source_base_url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OWN = {
    "ALLOWED_HOSTS": ["care.example.nhs.uk", ".record.example.org", "10.1.2.3"],
    "LCR_PORT": 8000,
}


@override_settings(**OWN)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost:8000/fhir",
        "http://LocalHost:8000/fhir",
        "http://[::1]:8000/fhir",
        "http://0.0.0.0:8000/fhir",
        "http://[::ffff:127.0.0.1]:8000/fhir",
        "http://127.0.0.2:8000/fhir",
        "http://127.0.0.1/fhir",
        "https://localhost/fhir",
        "https://care.example.nhs.uk/api/v1/fhir",
        "https://care.example.nhs.uk:8443/fhir",
        "https://CARE.example.nhs.uk./fhir",
        "https://www.record.example.org/fhir",
        "http://10.1.2.3:8000/fhir",
        "http://10.1.2.3/fhir",
    ],
)
def test_an_address_of_the_product_itself_is_refused(url):
    with pytest.raises(ValidationError) as refused:
        validate_source_base_url(url)
    assert refused.value.code == "own_address"


@override_settings(**OWN)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8101/fhir",
        "http://localhost:8105/fhir",
        "http://10.1.2.3:8101/fhir",
        "https://fhir.riverside-hospital.nhs.uk/R4",
        "https://example.nhs.uk:8443/fhir",
    ],
)
def test_a_source_elsewhere_or_on_another_loopback_port_is_allowed(url):
    validate_source_base_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://fhir.example.org/", "file:///etc/passwd", "gopher://x.org/", "http://h:0x1/"]
)
def test_only_http_and_https_addresses_are_allowed(url):
    with pytest.raises(ValidationError):
        validate_source_base_url(url)


@override_settings(ALLOWED_HOSTS=["*"], LCR_PORT=8000)
def test_the_origin_of_the_request_is_refused_even_when_every_host_is_allowed():
    request = RequestFactory().get("/admin/", HTTP_HOST="portal.internal:8443")
    with pytest.raises(ValidationError):
        validate_source_base_url("http://portal.internal:8443/admin/", request=request)
    validate_source_base_url("http://portal.internal:8444/fhir", request=request)
    plain = RequestFactory().get("/admin/", HTTP_HOST="portal.internal")
    with pytest.raises(ValidationError):
        validate_source_base_url("http://portal.internal/fhir", request=plain)


def form_data(url: str) -> dict:
    return {"ods_code": "RRV", "name": "Riverside", "kind": "acute", "base_url": url,
            "credentials_ref": "", "timeout_seconds": "10", "enabled": "on",
            "alias_base_urls": "", "patient_search": "local_id",
            "interface": "fhir_r4_search"}  # fmt: skip


def test_the_model_refuses_the_products_own_admin_as_a_base_url():
    source = SourceSystem(**{**form_data("http://127.0.0.1:8000/admin/"), "enabled": True})
    with pytest.raises(ValidationError) as refused:
        source.full_clean()
    assert "base_url" in refused.value.message_dict


def test_the_admin_form_refuses_its_own_origin_and_says_why(settings):
    settings.ALLOWED_HOSTS = ["*"]
    form = SourceSystemForm(data=form_data("https://portal.internal/admin/"))
    form.request = RequestFactory().get("/admin/", HTTP_HOST="portal.internal", secure=True)
    assert not form.is_valid()
    assert form.errors["base_url"] == [
        "This address is the shared care record itself, not a source system."
    ]


def test_the_admin_refuses_to_save_a_source_pointing_at_the_product(client, settings):
    settings.ALLOWED_HOSTS = ["*"]
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/records/sourcesystem/add/",
        form_data("http://portal.example.org/admin/"),
        headers={"host": "portal.example.org"},
    )
    assert response.status_code == 200
    assert "This address is the shared care record itself" in response.content.decode()
    assert not SourceSystem.objects.exists()
    allowed = client.post(
        "/admin/records/sourcesystem/add/", form_data("http://127.0.0.1:8101/fhir")
    )
    assert allowed.status_code == 302
    assert SourceSystem.objects.get().base_url == "http://127.0.0.1:8101/fhir"


def test_no_other_base_url_of_a_source_may_point_at_the_product_either(settings):
    settings.ALLOWED_HOSTS = ["*"]
    aliases = "https://fhir.riverside.example/r4\nhttps://portal.internal/api/"
    form = SourceSystemForm(
        data={**form_data("https://fhir.riverside.example/"), "alias_base_urls": aliases}
    )
    form.request = RequestFactory().get("/admin/", HTTP_HOST="portal.internal", secure=True)
    assert not form.is_valid()
    assert "This address is the shared care record itself" in str(form.errors["alias_base_urls"])
    source = SourceSystem(**{**form_data("https://fhir.riverside.example/"), "enabled": True,
                             "alias_base_urls": "http://127.0.0.1:8000/fhir"})  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        source.full_clean()
    assert "alias_base_urls" in refused.value.message_dict


@override_settings(LCR_PORT=8101)
def test_the_demo_will_not_register_a_source_on_the_portals_port():
    with pytest.raises(ValidationError):
        register_sources(generate(seed=7, patients=5), host="127.0.0.1", base_port=8101)
    assert not SourceSystem.objects.exists()
