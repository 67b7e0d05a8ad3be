"""The forms of patient reference real sources send, taught to the simulated ones.

UK Core examples and national services name the patient in more ways than `Patient/<id>`: a
versioned reference, an absolute one on the server's own base URL, the NHS number alone (as
NRL's pointers do), or a `urn:uuid:` to a Patient sent in the same Bundle. One source also mixes
people up once, for one person, so that `make run` shows what the record does then.
"""

from __future__ import annotations

import uuid
from typing import Any

from demo.fhir_resources import NHS_NUMBER_SYSTEM, Resource
from demo.population import Person, Population

# Which source names its patient how, for which resource type (the rest: `Patient/<id>`).
VERSIONED = ("gp", "Condition")  # Patient/<id>/_history/1
BY_NHS_NUMBER = ("acute", "DocumentReference")  # subject.identifier, as NRL pointers do
ABSOLUTE = ("social_care", "Encounter")  # <base URL>/Patient/<id>
IN_THE_BUNDLE = ("community", "Observation")  # urn:uuid: of a Patient entry in the same answer
# The source that once sends a record about someone else, in this heading's type.
MIXED_UP = ("acute", "AllergyIntolerance")


def mixed_up_person(population: Population) -> Person | None:
    """The person whose acute allergies come with someone else's: the second the hospital knows
    (the first is the example `make run` prints, whose record stays whole)."""
    known = population.people_at(MIXED_UP[0])
    return known[1] if len(known) > 2 else None


def reshaped(
    resources: list[Resource], *, source_key: str, resource_type: str, person: Person,
    base_url: str,
) -> list[Resource]:  # fmt: skip
    """The resources with their patient named the way this source names it."""
    local_id = person.local_ids[source_key]
    nhs_number = person.source_views[source_key].nhs_number
    if (source_key, resource_type) == VERSIONED:
        reference = {"reference": f"Patient/{local_id}/_history/1"}
    elif (source_key, resource_type) == BY_NHS_NUMBER and nhs_number:
        reference = {
            "identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number},
            "display": person.display_name,
        }
    elif (source_key, resource_type) == ABSOLUTE:
        reference = {"reference": f"{base_url}/Patient/{local_id}"}
    else:
        return resources
    field = "patient" if resource_type in ("AllergyIntolerance", "Immunization") else "subject"
    return [{**resource, field: reference} for resource in resources]


def in_the_bundle(
    resources: list[Resource], *, source_key: str, resource_type: str, patient: Resource
) -> tuple[list[Resource], list[dict[str, Any]]]:
    """For a search: the resources naming a `urn:uuid:` Patient, and that Patient's entry."""
    if (source_key, resource_type) != IN_THE_BUNDLE or not resources:
        return resources, []
    name = f"{source_key}/{patient['id']}"
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
    entry = {"fullUrl": full_url, "resource": patient, "search": {"mode": "include"}}
    return [{**resource, "subject": {"reference": full_url}} for resource in resources], [entry]


def someone_elses(
    population: Population, person: Person, *, source_key: str, resource_type: str
) -> list[Resource]:
    """The one record about someone else that this source sends with this person's, if any."""
    if (source_key, resource_type) != MIXED_UP or person is not mixed_up_person(population):
        return []
    known = population.people_at(source_key)
    other = known[2]
    return [
        {
            "resourceType": "AllergyIntolerance",
            "id": f"{person.local_ids[source_key]}-alg-mixed-1",
            "meta": {"lastUpdated": "2026-01-15T09:30:00Z"},
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Latex"},
            "patient": {"reference": f"Patient/{other.local_ids[source_key]}"},
        }
    ]
