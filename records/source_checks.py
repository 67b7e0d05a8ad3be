"""Checking a source system: read its CapabilityStatement, keep the FHIR version it declares, and
say whether its interface can read it ("this source speaks FHIR 3.0.1, configured as R4").
"""

from records.fetching import response_limits
from records.models import SourceSystem
from records.sources.capabilities import mismatch, read_capabilities
from records.sources.errors import SourceError
from records.sources.fhir_client import FhirClient


def check_source(*, source: SourceSystem) -> str:
    """Ask the source for its CapabilityStatement and record its fhirVersion on it; return what
    is wrong in words (it cannot be reached, it declares no version, it speaks another version
    than its interface), or "" when all is well."""
    client = FhirClient(source.base_url, timeout=source.timeout_seconds, limits=response_limits())
    try:
        capabilities = read_capabilities(client)
    except SourceError as exc:
        return f"could not read its CapabilityStatement: {exc.reason}"
    if capabilities.fhir_version != source.declared_fhir_version:
        source.declared_fhir_version = capabilities.fhir_version
        SourceSystem.objects.filter(pk=source.pk).update(
            declared_fhir_version=capabilities.fhir_version
        )
    if not capabilities.fhir_version:
        return "its CapabilityStatement declares no FHIR version"
    return mismatch(source.interface, capabilities.fhir_version)
