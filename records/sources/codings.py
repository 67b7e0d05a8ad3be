"""Every (system, code) pair a FHIR resource holds, anywhere in it: found once when an item is
made from a fetched resource, so that a look judges sensitivity from a short list of pairs
rather than walking every resource of the record again (access.sensitivity says which count).
"""

from typing import Any

# How deep into a resource codings are looked for: far deeper than any real resource nests.
DEEPEST = 32


def codings_in(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Every distinct (system, code) anywhere in a resource, meta.security included, in the
    order first met; iterative, so no nesting a source sends can exhaust the stack."""
    found: dict[tuple[str, str], None] = {}
    stack: list[tuple[Any, int]] = [(resource, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > DEEPEST:
            continue
        if isinstance(value, dict):
            system, code = value.get("system"), value.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found[(system, code)] = None
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return list(found)
