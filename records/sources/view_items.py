"""Turn one FHIR R4 resource into a plain view item: what a professional reads in a list.

Mapping is deliberately forgiving: a resource type we do not know, or a code without a display,
is shown as it is rather than dropped, because a missing allergy is worse than an ugly one.
"""

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

# Where each type keeps the fields we show, in order of preference.
_TITLE_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("code",),
    "MedicationStatement": ("medicationCodeableConcept",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "Condition": ("code",),
    "Immunization": ("vaccineCode",),
    "Observation": ("code",),
    "DiagnosticReport": ("code",),
    "Encounter": ("type", "class", "serviceType"),
    "Appointment": ("serviceType", "appointmentType", "description"),
    "ServiceRequest": ("code",),
    "CarePlan": ("title", "category"),
    "Flag": ("code",),
    "DocumentReference": ("type", "description"),
}
_DATE_FIELDS = (
    "onsetDateTime",
    "recordedDate",
    "effectiveDateTime",
    "effectivePeriod",
    "occurrenceDateTime",
    "authoredOn",
    "issued",
    "period",
    "start",
    "created",
    "date",
    "dateAsserted",
)
_STATUS_FIELDS = ("clinicalStatus", "status")


@dataclass(frozen=True)
class ViewItem:
    """One line of a record, with where it came from. Stored in snapshots as a plain dict."""

    resource_type: str
    resource_id: str
    title: str
    date: str
    status: str
    code_system: str
    code: str
    code_display: str
    value: str
    detail: str
    last_updated: str
    criticality: str = ""
    contact: str = ""  # who to talk to about it: a care plan's author, a referral's performer
    # The validated source resource itself, kept with its view so that the API can return what
    # the source said (FHIR R4), not our paraphrase of it. Not part of an item's identity.
    resource: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if values["resource"] is None:
            del values["resource"]
        return values


def view_item(resource: dict[str, Any]) -> ViewItem:
    """The plain view of a (validated) resource; never raises on missing or unusual fields."""
    resource_type = str(resource.get("resourceType", "Unknown"))
    system, code, display = _first_coding(resource, resource_type)
    return ViewItem(
        resource_type=resource_type,
        resource_id=str(resource.get("id", "")),
        title=_title(resource, resource_type) or display or code or resource_type,
        date=_date(resource),
        status=_status(resource),
        code_system=system,
        code=code,
        code_display=display,
        value=_value(resource),
        detail=_detail(resource, resource_type),
        last_updated=str((resource.get("meta") or {}).get("lastUpdated", "")),
        criticality=str(resource.get("criticality", "")),
        contact=_contact(resource, resource_type),
        resource=resource,
    )


def _contact(resource: dict[str, Any], resource_type: str) -> str:
    if resource_type == "CarePlan":
        return _concept_text(resource.get("author")) or _concept_text(resource.get("contributor"))
    if resource_type == "ServiceRequest":
        return _concept_text(resource.get("performer"))
    if resource_type == "Flag":
        return _concept_text(resource.get("author"))
    return ""


def _concept_text(concept: Any) -> str:
    """Text of a CodeableConcept (or a list of them, or a Coding, or a string)."""
    if isinstance(concept, str):
        return concept
    if isinstance(concept, list):
        return "; ".join(text for text in map(_concept_text, concept) if text)
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    if concept.get("display"):
        return str(concept["display"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _title(resource: dict[str, Any], resource_type: str) -> str:
    for field in _TITLE_FIELDS.get(resource_type, ("code", "description", "title")):
        text = _concept_text(resource.get(field))
        if text:
            return text
    return ""


def _first_coding(resource: dict[str, Any], resource_type: str) -> tuple[str, str, str]:
    for field in _TITLE_FIELDS.get(resource_type, ("code",)):
        concept = resource.get(field)
        concepts = concept if isinstance(concept, list) else [concept]
        for item in concepts:
            if isinstance(item, dict):
                for coding in item.get("coding") or []:
                    if isinstance(coding, dict) and coding.get("code"):
                        return (
                            str(coding.get("system", "")),
                            str(coding["code"]),
                            str(coding.get("display", "")),
                        )
    return "", "", ""


def _date(resource: dict[str, Any]) -> str:
    for field in _DATE_FIELDS:
        value = resource.get(field)
        if isinstance(value, dict):
            value = value.get("start") or value.get("end")
        if value:
            return str(value)
    return ""


def _status(resource: dict[str, Any]) -> str:
    for field in _STATUS_FIELDS:
        value = resource.get(field)
        text = _concept_text(value) if isinstance(value, dict) else value
        if text:
            return str(text)
    return ""


def _quantity(quantity: Any) -> str:
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return ""
    unit = quantity.get("unit") or quantity.get("code") or ""
    return f"{quantity['value']} {unit}".strip()


def _value(resource: dict[str, Any]) -> str:
    if "valueQuantity" in resource:
        return _quantity(resource["valueQuantity"])
    for field in ("valueString", "valueCodeableConcept", "valueBoolean", "valueInteger"):
        if field in resource:
            value = resource[field]
            return _concept_text(value) if isinstance(value, dict) else str(value)
    components = [
        _quantity(part.get("valueQuantity"))
        for part in resource.get("component") or []
        if isinstance(part, dict)
    ]
    if components and all(components):
        units = {part.rsplit(" ", 1)[-1] for part in components}
        if len(units) == 1:
            numbers = [part.rsplit(" ", 1)[0] for part in components]
            return f"{'/'.join(numbers)} {units.pop()}"
        return ", ".join(components)
    return ""


def _detail(resource: dict[str, Any], resource_type: str) -> str:
    if resource_type == "AllergyIntolerance":
        reactions = []
        for reaction in resource.get("reaction") or []:
            if not isinstance(reaction, dict):
                continue
            text = _concept_text(reaction.get("manifestation"))
            severity = reaction.get("severity")
            reactions.append(f"{text} ({severity})" if severity else text)
        return "; ".join(r for r in reactions if r)
    if resource_type in ("MedicationStatement", "MedicationRequest"):
        dosage = resource.get("dosage") or resource.get("dosageInstruction") or []
        return "; ".join(d.get("text", "") for d in dosage if isinstance(d, dict) and d.get("text"))
    if resource_type == "DiagnosticReport":
        return str(resource.get("conclusion", ""))
    if resource_type == "Encounter":
        period = resource.get("period") or {}
        provider = _concept_text(resource.get("serviceProvider"))
        ended = f"ended {period['end']}" if isinstance(period, dict) and period.get("end") else ""
        return ", ".join(part for part in (provider, ended) if part)
    if resource_type in ("CarePlan", "Appointment"):
        return str(resource.get("description", ""))
    if resource_type == "ServiceRequest":
        return _concept_text(resource.get("performer"))
    if resource_type == "DocumentReference":
        return str(resource.get("description", ""))
    return _concept_text(resource.get("note"))
