"""Test set-up for fetching: one person's record linked at each simulated source."""

from dataclasses import dataclass

from demo.load import register_population
from demo.population import Person, Population
from demo.sources import SimulatedSource
from records.models import Link, MatchMethod, Patient, SourceSystem
from records.services import link_patient, system_user


@dataclass
class LinkedRecord:
    patient: Patient
    links: dict[str, Link]
    servers: dict[str, SimulatedSource]
    sources: dict[str, SourceSystem]


def link_everywhere(
    population: Population, start_source, person: Person, *, timeout: float = 2.0
) -> LinkedRecord:
    """Start a simulated server for each source that knows `person` and link them there."""
    register_population(population)
    patient = Patient.objects.get(nhs_number=person.nhs_number)
    actor = system_user()
    links, servers, sources = {}, {}, {}
    for key, local_id in person.local_ids.items():
        spec = population.source(key)
        servers[key] = start_source(key)
        sources[key] = SourceSystem.objects.create(
            ods_code=spec.ods_code,
            name=spec.name,
            kind=spec.kind,
            base_url=servers[key].base_url,
            timeout_seconds=timeout,
        )
        links[key] = link_patient(
            patient=patient,
            source=sources[key],
            local_id=local_id,
            matched_by=MatchMethod.NHS_NUMBER,
            score=None,
            actor=actor,
        )
    return LinkedRecord(patient, links, servers, sources)
