"""What a source's CapabilityStatement (`GET <base>/metadata`) says: the FHIR version it speaks
and the types it lets us search. A source that speaks another version than its interface is
refused in plain words ("this source speaks FHIR 3.0.1, configured as R4"), not as invalid FHIR.
"""

from dataclasses import dataclass

from records.sources.errors import SourceError
from records.sources.fhir_client import FhirClient

R4 = "4.0.1"
STU3 = "3.0.1"
# The FHIR release each kind of interface speaks (SourceSystem.Interface values), and its name.
INTERFACE_VERSIONS = {"fhir_r4_search": R4, "gp_connect_structured": STU3}
RELEASE_NAMES = {"4.0": "R4", "3.0": "STU3", "4.3": "R4B", "5.0": "R5", "1.0": "DSTU2"}


@dataclass(frozen=True)
class Capabilities:
    """A source's CapabilityStatement, as far as we use it. `fhir_version` is "" when it does
    not say; `resource_types` is None when it lists none (then every type is asked)."""

    fhir_version: str
    resource_types: frozenset[str] | None


class VersionMismatch(SourceError):
    """The source speaks another FHIR version than the interface it is configured with."""


def release_of(version: str) -> str:
    """The release a version belongs to: "3.0.1" and "3.0.2" are STU3, "4.0.1" R4."""
    return RELEASE_NAMES.get(".".join(version.split(".")[:2]), version)


def read_capabilities(client: FhirClient) -> Capabilities:
    """The source's CapabilityStatement; SourceError if it cannot be read."""
    statement = client.get_json(client.base_url + "metadata")
    version = statement.get("fhirVersion")
    types = set()
    for rest in statement.get("rest") or []:
        for resource in (rest.get("resource") or []) if isinstance(rest, dict) else []:
            if isinstance(resource, dict) and isinstance(resource.get("type"), str):
                types.add(resource["type"])
    return Capabilities(
        fhir_version=version.strip()[:20] if isinstance(version, str) else "",
        resource_types=frozenset(types) or None,
    )


def mismatch(interface: str, declared: str) -> str:
    """Why a source declaring `declared` cannot be read through `interface`; "" if it can (or
    if it declares nothing, when its answers are judged as they come)."""
    expected = INTERFACE_VERSIONS.get(interface, R4)
    if not declared or release_of(declared) == release_of(expected):
        return ""
    return f"this source speaks FHIR {declared}, configured as {release_of(expected)}"
