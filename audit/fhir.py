"""Access events as FHIR R4 AuditEvent resources, after the IHE Basic Audit Log Patterns.

One look becomes one AuditEvent: a RESTful read (BALP "rest" / "read") of the patient's record by
an agent (the user, on behalf of their organisation, with the purpose of use), observed by this
record, with the patient and each item shown as entities (those its live updates showed too).
The access report's Bundle is made of the report's Looks (audit/report.py), so it lists the same
looks, chosen by the same filters, as the page, the PDF and the CSV.
"""

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from access.models import AccessBasis
from audit.models import AccessEvent
from audit.report import Look
from records.identifiers import NHS_NUMBER_SYSTEM, ODS_SYSTEM

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
USERNAME = "https://shared-care-record.example/Id/username"
CLIENT_ID = "https://shared-care-record.example/Id/api-client"
REQUEST_ID = "https://shared-care-record.example/Id/request-id"
OBSERVER = "Shared care record"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ROLE = "https://shared-care-record.example/CodeSystem/role"


# HL7 v3 PurposeOfUse: emergency treatment, patient administration, health compliance.
PURPOSE_OF_BASIS = {
    AccessBasis.BREAK_GLASS: "ETREAT",
    AccessBasis.ADMINISTRATION: "PATADMIN",
    AccessBasis.PRIVACY_REVIEW: "HCOMPL",
}


def audit_event(
    event: AccessEvent, nhs_number: str, look: Look | None = None, *, internal: bool = True
) -> dict[str, Any]:
    """The FHIR R4 AuditEvent for one access event (valid against fhir.resources R4B); given
    its Look, with the names in words and the items of its live updates. `internal`: with the
    network address the look came from and the request id (not for a file sent outside)."""
    purpose = PURPOSE_OF_BASIS.get(event.basis, "TREAT")
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {
            "identifier": {"system": USERNAME, "value": event.username},
            "display": look.professional_name if look else event.username,
        },
        "requestor": True,
        "purposeOfUse": [{"coding": [{"system": PURPOSE, "code": purpose}]}],
    }
    if event.role:
        agent["role"] = [
            {"coding": [{"system": ROLE, "code": event.role}], "text": look.job_role}
            if look
            else {"text": event.role}
        ]
    if internal and event.ip_address:
        agent["network"] = {"address": event.ip_address, "type": "2"}
    if event.organisation_ods_code:
        agent["location"] = {
            "identifier": {"system": ODS_SYSTEM, "value": event.organisation_ods_code},
            "display": event.team_name,
        }
    agents = [agent]
    if event.end_user:  # for the API: the partner's own user the call was made for
        agent["altId"] = event.end_user
    if event.client_id:  # BALP: the partner application as a second agent
        agents.append(
            {
                "type": {"coding": [{"system": DCM, "code": "110150", "display": "Application"}]},
                "who": {"identifier": {"system": CLIENT_ID, "value": event.client_id}},
                "requestor": False,
            }
        )
    entities: list[dict[str, Any]] = [
        {
            "what": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}},
            "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
    ]
    entities += [
        {
            "what": {"reference": resource_id.split("/", 1)[1], "display": resource_id},
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
        }
        for resource_id in (look.resource_ids if look else event.resource_ids)
        if resource_id.count("/") >= 2
    ]
    if internal and event.request_id:
        entities.append(
            {
                "what": {"identifier": {"system": REQUEST_ID, "value": event.request_id}},
                "type": {"system": ENTITY_TYPE, "code": "4", "display": "Other"},
            }
        )
    return {
        "resourceType": "AuditEvent",
        "id": f"lcr-{event.chain}-{event.sequence}",
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": RESTFUL, "code": "read", "display": "read"}],
        "action": "R",
        "recorded": timezone.localtime(event.occurred_at).isoformat(),
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": PURPOSE, "code": purpose}]}],
        "agent": agents,
        "source": {
            "site": event.channel,
            "observer": {"display": OBSERVER},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    }


def audit_bundle(
    looks: Iterable[Look], nhs_number: str, *, internal: bool = True
) -> dict[str, Any]:
    """A collection Bundle of AuditEvents, one per look (for one patient's access report). No
    `total`: FHIR allows it only on search and history Bundles (bdl-1)."""
    entries = [
        {"resource": audit_event(look.event, nhs_number, look, internal=internal)} for look in looks
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
