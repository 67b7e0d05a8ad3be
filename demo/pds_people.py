"""Who the simulated PDS restricts and whose NHS number it has superseded, written once for the
simulated PDS (demo/pds.py), the sources that still state old numbers and the demo's register.
"""

from __future__ import annotations

import random
from typing import Any

from nhs_number import calculate_checksum

from demo.population import Population, restricted_people
from records.identifiers import NHS_NUMBER_SYSTEM

# Who PDS restricts is demo.population.restricted_people (the sources label them too).
SUPERSEDED_EVERY = 8  # of the people social care holds with an NHS number
STATING_OLD_NUMBERS = "social_care"  # the source that has not caught up with PDS


def superseded_numbers(population: Population) -> dict[str, str]:
    """Current NHS number -> the old number PDS superseded with it, for a few people social care
    still holds under the old one."""
    restricted = {person.index for person in restricted_people(population)}
    held = [
        person
        for person in population.people_at(STATING_OLD_NUMBERS)
        if person.index >= 2
        and person.index not in restricted
        and person.source_views[STATING_OLD_NUMBERS].nhs_number
    ]
    taken = {person.nhs_number for person in population.people}
    numbers = {}
    for person in held[::SUPERSEDED_EVERY]:
        rng = random.Random(f"superseded-{population.seed}-{person.index}")
        while True:
            stem = f"999{rng.randrange(1_000_000):06d}"
            check = calculate_checksum(stem)
            if check != 10 and f"{stem}{check}" not in taken:
                numbers[person.nhs_number] = f"{stem}{check}"
                taken.add(numbers[person.nhs_number])
                break
    return numbers


def numbers_stated_by(population: Population, source_key: str) -> dict[str, str]:
    """Current NHS number -> the number `source_key` states for that person, where it differs."""
    return superseded_numbers(population) if source_key == STATING_OLD_NUMBERS else {}


def stating(resource: dict[str, Any], stated: dict[str, str]) -> dict[str, Any]:
    """A source's Patient with the NHS number as the source holds it (an old one, maybe)."""
    identifiers = resource.get("identifier") or []
    if not any(
        i.get("value") in stated for i in identifiers if i.get("system") == NHS_NUMBER_SYSTEM
    ):
        return resource
    return {
        **resource,
        "identifier": [
            {**i, "value": stated[i["value"]]}
            if i.get("system") == NHS_NUMBER_SYSTEM and i.get("value") in stated
            else i
            for i in identifiers
        ],
    }
