"""Documents from the simulated hospital over real HTTP: its letters are real PDFs (ReportLab) at
`Binary/<id>`, opened from the record's table through the whole path (adapter, snapshot, page),
each opening one access event naming the letter."""

import base64
import dataclasses
import re
import zlib

import pytest
from django.urls import reverse

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from demo.letters import letter_pdf
from demo.load import register_population
from demo.population import restricted_people
from demo.sources import Behaviour, SimulatedSource
from records.categories import Category
from records.fetching import fetch_link
from records.models import MatchMethod, Patient, SourceSystem
from records.services import link_patient, system_user
from records.sources.attachments import describe_attachment, fetch_attachment
from tests.factories import UserFactory, make_team, member

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def pdf_text(pdf: bytes) -> list[str]:
    """The lines of text a ReportLab PDF draws (its content streams, ASCII85 then Flate)."""
    lines = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = zlib.decompress(base64.a85decode(stream.strip(), adobe=True))
        lines += [text.decode("latin-1") for text in re.findall(rb"\((.*?)\) Tj", data)]
    return lines


def someone_with_letters(population):
    for person in population.people_at("acute"):
        if SimulatedSource(population, "acute")._clinical(person, "DocumentReference"):
            return person
    raise AssertionError("nobody at the hospital has a letter")


def gp_caring_for_someone_with_letters(population, simulated_source, categories):
    """A GP caring for someone with letters at the simulated hospital, whose `categories` the
    hospital has answered: (the GP, patient, person, server, source)."""
    person = someone_with_letters(population)
    server = simulated_source("acute")
    register_population(population)
    patient = Patient.objects.get(nhs_number=person.nhs_number)
    spec = population.source("acute")
    source = SourceSystem.objects.create(
        ods_code=spec.ods_code, name=spec.name, kind=spec.kind, base_url=server.base_url,
        timeout_seconds=2.0,
    )  # fmt: skip
    link = link_patient(
        patient=patient, source=source, local_id=person.local_ids["acute"],
        matched_by=MatchMethod.NHS_NUMBER, score=None, actor=system_user(),
    )  # fmt: skip
    fetch_link(link_id=link.pk, categories=list(categories), final_attempt=True)
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    return member(team, Role.GP, "gp"), patient, person, server, source


@pytest.fixture
def hospital(population, simulated_source, client):
    """A GP signed in, caring for someone with letters at the simulated hospital, its documents
    fetched."""
    gp, patient, person, server, source = gp_caring_for_someone_with_letters(
        population, simulated_source, [Category.DOCUMENTS]
    )
    client.force_login(gp)
    return client, patient, person, server, source


def test_a_letter_opens_from_the_record_as_the_hospitals_pdf_with_one_access_event(hospital):
    client, patient, person, _, source = hospital
    record = client.get(reverse("patient-record", args=[patient.pk])).content.decode()
    links = re.findall(r'href="(/patients/\d+/documents/[^"]+)"', record)
    assert links, "the record's table links no document"
    before = AccessEvent.objects.count()

    response = client.get(links[0])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline; ")
    assert "no-store" in response["Cache-Control"]
    text = pdf_text(response.content)
    assert source.name in text
    assert f"Patient: {' '.join(person.given_names)} {person.family_name}" in text
    assert AccessEvent.objects.count() == before + 1
    document_id = links[0].rstrip("/").rsplit("/", 1)[-1]
    assert AccessEvent.objects.latest("sequence").resource_ids == [
        f"{source.ods_code}/DocumentReference/{document_id}"
    ]


def test_a_letter_the_source_sends_as_a_fhir_binary_is_read_from_it(hospital):
    _, _, person, server, _ = hospital
    [document] = server._clinical(person, "DocumentReference")[:1]
    attachment = describe_attachment(document, base_url=server.base_url)
    as_binary = dataclasses.replace(attachment, url=f"{attachment.url}?_format=json")

    got = fetch_attachment(
        as_binary, base_urls=(server.base_url,), timeout=2, budget_seconds=5, max_bytes=10**6
    )

    assert got.content_type == "application/pdf"
    assert got.data.startswith(b"%PDF-") and got.size == len(got.data)


def test_a_slow_hospital_is_given_up_on_within_the_sources_timeout(hospital, settings):
    client, patient, _, server, source = hospital
    record = client.get(reverse("patient-record", args=[patient.pk])).content.decode()
    address = re.findall(r'href="(/patients/\d+/documents/[^"]+)"', record)[0]
    source.timeout_seconds = 0.5
    source.save()
    requests_before = server.requests_served
    server.behaviour = Behaviour(fault="timeout", hang_seconds=3)

    page = client.get(address).content.decode()

    assert f"{source.name}: Timed out." in page
    assert server.requests_served == requests_before + 1


def test_the_simulated_letters_of_restricted_people_carry_no_address(population):
    hospital = SimulatedSource(population, "acute")
    for person in restricted_people(population):
        for document in hospital._clinical(person, "DocumentReference"):
            text = " ".join(pdf_text(letter_pdf(document)))
            assert person.postcode not in text
            assert all(line not in text for line in person.address_lines)
