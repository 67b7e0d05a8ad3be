"""Test set-up for fetching: one person's record linked at each simulated source."""

from dataclasses import dataclass
from pathlib import Path

from django.db import connection

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


def database_url() -> str:
    """The test database, for a worker started as a process of its own."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (a prefork worker's pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
