"""A partner reads a record through the API from real sources over HTTP, fetched by a real
worker: the first answer says the sources are loading, a later one carries each source's own FHIR
resources with where they came from, and every answer is valid FHIR R4.
"""

import time

import pytest
from django.core.cache import cache

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from records.models import Snapshot
from tests.api_helpers import (
    api_client_for,
    bearer,
    token,
    valid_fhir,
)
from tests.factories import UserFactory, make_team
from tests.fetch_helpers import link_everywhere

pytestmark = [pytest.mark.integration]


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the worker")


def states(bundle: dict) -> dict[str, str]:
    """Each source's state, by ODS code, from the OperationOutcome that ends the Bundle."""
    outcome = bundle["entry"][-1]["resource"]
    assert outcome["resourceType"] == "OperationOutcome"
    found = {}
    for issue in outcome["issue"]:
        codings = issue["details"]["coding"]
        if len(codings) == 2:
            found[codings[1]["code"]] = codings[0]["code"]
    return found


def test_a_heading_comes_back_as_the_sources_own_resources_with_provenance(
    client, population, simulated_source, celery_worker
):
    cache.clear()
    person = population.people[0]
    record = link_everywhere(population, simulated_source, person)
    team = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="RQX")
    services.start_relationship(
        patient=record.patient, team=team, kind="current_episode", reason="in A&E",
        actor=UserFactory(username="setup-admin"),
    )  # fmt: skip
    api, secret = api_client_for(team, Role.AE_CLINICIAN, ["patient.read"])
    headers = bearer(token(client, api, secret), end_user="nurse.ade")
    url = f"/api/v1/fhir/Patient/{record.patient.pk}/record/test_results"

    first = valid_fhir(client.get(url, **headers).json())
    assert set(states(first).values()) <= {"loading", "refreshing", "up-to-date"}
    wait_until(lambda: not Snapshot.objects.filter(status=Snapshot.Status.PENDING).exists())
    answer = client.get(url, **headers)

    assert answer.status_code == 200
    bundle = valid_fhir(answer.json())
    assert set(states(bundle).values()) == {"up-to-date"}
    assert set(states(bundle)) == {source.ods_code for source in record.sources.values()}
    resources = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "OperationOutcome"]
    clinical = [e for e in resources if e["resource"]["resourceType"] != "Provenance"]
    assert clinical, "the demo person has test results"
    bases = {source.base_url for source in record.sources.values()}
    for entry in clinical:
        resource = entry["resource"]
        assert resource["resourceType"] in ("Observation", "DiagnosticReport")
        assert resource["meta"]["source"] in bases
        assert entry["fullUrl"].startswith(resource["meta"]["source"].rstrip("/") + "/")
    targets = {
        target["reference"]
        for entry in resources
        if entry["resource"]["resourceType"] == "Provenance"
        for target in entry["resource"]["target"]
    }
    assert targets == {entry["fullUrl"] for entry in clinical}
    assert AccessEvent.objects.count() == 2
    event = AccessEvent.objects.order_by("occurred_at").last()
    assert (event.client_id, event.end_user) == (api.application.client_id, "nurse.ade")
    assert len(event.resource_ids) == len(clinical)


def test_a_source_that_withheld_some_resources_is_an_incomplete_warning_saying_so():
    from types import SimpleNamespace

    from care_record.fhir_export import sources_outcome
    from care_record.reading import SourceView
    from records.fetching import SourceState
    from records.models import SourceSystem

    state = SourceView(
        source=SourceSystem(name="Royal London Hospital", ods_code="R1H"),
        state=SourceState.UP_TO_DATE,
        withheld=["Allergies and reactions: sent 26,000 resources; at most 2,000 are shown"],
    )
    record = SimpleNamespace(
        sources=[state], categories=[], decision=SimpleNamespace(denied_categories=[])
    )

    [issue] = sources_outcome(record, {})["issue"]

    assert (issue["severity"], issue["code"]) == ("warning", "incomplete")
    assert issue["details"]["text"].endswith(
        "; withheld: Allergies and reactions: sent 26,000 resources; at most 2,000 are shown"
    )
