"""Turn one FHIR R4 resource into a plain view item: what a professional reads in a list.

Mapping is deliberately forgiving: a resource type we do not know, or a code without a display,
is shown as it is rather than dropped, because a missing allergy is worse than an ugly one.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from records.sources.terminology import TRANSFER_DEGRADED, is_degraded
from records.sources.wording import (
    STATUS_WORDS,
    date_words,
    number_words,
    period_words,
    status_words,
    time_words,
    unit_words,
    with_unit,
)
from records.stored_items import resource_fields

MEDICINE_TYPES = ("MedicationStatement", "MedicationRequest")
UNNAMED_MEDICINE = "Medicine not named by the source"
# Where each type keeps the fields we show, in order of preference (medicines: see _medicine).
_TITLE_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("code",),
    "Condition": ("code",),
    "Immunization": ("vaccineCode",),
    "Observation": ("code",),
    "DiagnosticReport": ("code",),
    "Encounter": ("type", "class", "serviceType"),
    "Appointment": ("serviceType", "appointmentType", "description"),
    "ServiceRequest": ("code",),
    "ReferralRequest": ("serviceRequested", "reasonCode", "type", "description"),  # STU3
    "CarePlan": ("title", "category"),
    "Flag": ("code",),
    "DocumentReference": ("type", "description"),
}
# When it happened, in order of preference; a Period or Timing gives its start.
_DATE_FIELDS = (
    "onsetDateTime",
    "onsetPeriod",
    "recordedDate",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "effectiveTiming",
    "occurrenceDateTime",
    "authoredOn",
    "issued",
    "period",
    "start",
    "created",
    "date",
    "dateAsserted",
    "assertedDate",  # STU3's recordedDate
)
_STATUS_FIELDS = ("clinicalStatus", "status")
# What a verificationStatus (or a status) says that makes an item not true: never current.
RETRACTING = ("entered-in-error", "refuted")
_VERIFIED = ("AllergyIntolerance", "Condition")


@dataclass(frozen=True)
class ViewItem:
    """One line of a record, with where it came from. Stored in snapshots as a plain dict."""

    resource_type: str
    resource_id: str
    title: str
    date: str  # as the source gave it (ISO 8601), for ordering; pages show it in words
    status: str  # in words: "Active", "Did not attend", "Entered in error"
    code_system: str
    code: str
    code_display: str
    value: str
    detail: str
    last_updated: str
    criticality: str = ""
    contact: str = ""  # who to talk to about it: a care plan's author, a referral's performer
    status_code: str = ""  # the source's code for the status ("noshow"), for rules, not reading
    # Set when the source says the item is not true (verificationStatus entered-in-error or
    # refuted, or status entered-in-error): shown struck through with these words, never current.
    retracted: str = ""
    # The FHIR version the source spoke: GP Connect's STU3 items are never passed off as R4.
    fhir_version: str = "4.0.1"
    # The validated source resource itself, kept with its view so that the API can return what
    # the source said (FHIR R4), not our paraphrase of it. Not part of an item's identity.
    resource: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The item as a snapshot stores it: its resource as records.stored_items keeps it (the
        JSON text, its meta, and the codings in it, for judging its sensitivity)."""
        values = {f.name: getattr(self, f.name) for f in _STORED_FIELDS}  # all text
        if self.resource is not None:
            values.update(resource_fields(self.resource))
        return values


_STORED_FIELDS = [f for f in dataclasses.fields(ViewItem) if f.name != "resource"]


def view_item(
    resource: dict[str, Any], medications: Mapping[str, dict[str, Any]] | None = None
) -> ViewItem:
    """The plain view of a (validated) resource; never raises on missing or unusual fields.

    `medications` are the Medication resources the source sent alongside (`_include`), by
    relative reference ("Medication/<id>"), so that a medicine named only through its
    medicationReference is named."""
    resource_type = str(resource.get("resourceType", "Unknown"))
    concepts = _naming_concepts(resource, resource_type, medications or {})
    system, code, display = _first_coding(concepts)
    fallback = UNNAMED_MEDICINE if resource_type in MEDICINE_TYPES else resource_type
    status_code = _status_code(resource)
    retracted = _retracted(resource, resource_type, status_code)
    return ViewItem(
        resource_type=resource_type,
        resource_id=str(resource.get("id", "")),
        title=_title(concepts) or display or code or fallback,
        date=_date(resource),
        status=retracted or _status(resource, resource_type, status_code),
        code_system=system,
        code=code,
        code_display=display,
        value=_value(resource),
        detail=_detail(resource, resource_type, system, code),
        last_updated=str((resource.get("meta") or {}).get("lastUpdated", "")),
        criticality=str(resource.get("criticality", "")),
        contact=_contact(resource, resource_type),
        status_code=status_code,
        retracted=retracted,
        resource=resource,
    )


def stu3_view_item(
    resource: dict[str, Any], medications: Mapping[str, dict[str, Any]] | None = None
) -> ViewItem:
    """The plain view of a (validated) FHIR STU3 resource, as GP Connect sends it: the same item
    as its R4 counterpart would give, marked 3.0.1. STU3's differences that change what a reader
    is told are read here: an Immunization `notGiven`, a ReferralRequest's recipient."""
    item = view_item(resource, medications)
    changes: dict[str, Any] = {"fhir_version": "3.0.1"}
    if resource.get("resourceType") == "Immunization" and resource.get("notGiven") is True:
        changes.update(status=STATUS_WORDS["not-done"], status_code="not-done")
    if resource.get("resourceType") == "ReferralRequest":
        changes["contact"] = _concept_text(resource.get("recipient"))
        changes["detail"] = changes["contact"]
    return dataclasses.replace(item, **changes)


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


def _code_of(concept: Any) -> str:
    """The first code of a CodeableConcept, else its text; for statuses (rules read codes)."""
    if isinstance(concept, str):
        return concept.strip()
    if not isinstance(concept, dict):
        return ""
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("code"), str) and coding["code"]:
            return coding["code"].strip()
    return str(concept.get("text") or "").strip()


def _naming_concepts(
    resource: dict[str, Any], resource_type: str, medications: Mapping[str, dict[str, Any]]
) -> list[Any]:
    """The concepts that say what the item is, in order of preference."""
    if resource_type in MEDICINE_TYPES:
        return [_medicine(resource, medications)]
    fields = _TITLE_FIELDS.get(resource_type, ("code", "description", "title"))
    return [resource.get(field) for field in fields]


def _medicine(resource: dict[str, Any], medications: Mapping[str, dict[str, Any]]) -> Any:
    """What medicine it is: its own concept, or the Medication it references (contained, or sent
    in the same Bundle), or the reference's display; None if nothing names it."""
    if resource.get("medicationCodeableConcept"):
        return resource["medicationCodeableConcept"]
    reference = resource.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    target = reference.get("reference")
    medication = None
    if isinstance(target, str) and target.startswith("#"):
        medication = next(
            (
                contained
                for contained in resource.get("contained") or []
                if isinstance(contained, dict)
                and contained.get("resourceType") == "Medication"
                and contained.get("id") == target[1:]
            ),
            None,
        )
    elif isinstance(target, str) and target.startswith("Medication/"):
        medication = medications.get("/".join(target.split("/")[:2]))  # drops any _history
    if isinstance(medication, dict):
        if _concept_text(medication.get("code")):
            return medication["code"]
        ingredients = [
            _concept_text(part.get("itemCodeableConcept"))
            for part in medication.get("ingredient") or []
            if isinstance(part, dict)
        ]
        if any(ingredients):
            return {"text": "Containing " + ", ".join(i for i in ingredients if i)}
    if isinstance(reference.get("display"), str) and reference["display"].strip():
        return {"text": reference["display"]}
    return None


def _title(concepts: list[Any]) -> str:
    for concept in concepts:
        text = _concept_text(concept)
        if text:
            return text
    return ""


def _first_coding(concepts: list[Any]) -> tuple[str, str, str]:
    for concept in concepts:
        for item in concept if isinstance(concept, list) else [concept]:
            if isinstance(item, dict):
                for coding in item.get("coding") or []:
                    if isinstance(coding, dict) and coding.get("code"):
                        return (
                            str(coding.get("system", "")),
                            str(coding["code"]),
                            str(coding.get("display", "")),
                        )
    return "", "", ""


def _when(value: Any) -> str:
    """The moment a date field gives: itself, a Period's start (or end), a Timing's first event."""
    if isinstance(value, dict):
        events = value.get("event")
        if isinstance(events, list) and events and isinstance(events[0], str):
            return events[0]
        bounds = (value.get("repeat") or {}).get("boundsPeriod")
        if isinstance(bounds, dict):
            value = bounds
        value = value.get("start") or value.get("end")
    return value if isinstance(value, str) else ""


def _date(resource: dict[str, Any]) -> str:
    for field in _DATE_FIELDS:
        when = _when(resource.get(field))
        if when:
            return when
    return ""


def _status_code(resource: dict[str, Any]) -> str:
    for field in _STATUS_FIELDS:
        code = _code_of(resource.get(field))
        if code:
            return code
    return ""


def _verification(resource: dict[str, Any], resource_type: str) -> str:
    if resource_type not in _VERIFIED:
        return ""
    return _code_of(resource.get("verificationStatus")).lower()


def _retracted(resource: dict[str, Any], resource_type: str, status_code: str) -> str:
    verification = _verification(resource, resource_type)
    if verification in RETRACTING:
        return STATUS_WORDS[verification]
    if status_code.lower() == "entered-in-error":
        return STATUS_WORDS["entered-in-error"]
    return ""


def _status(resource: dict[str, Any], resource_type: str, status_code: str) -> str:
    words = status_words(status_code)
    verification = _verification(resource, resource_type)
    if verification in ("unconfirmed", "provisional", "differential"):
        doubt = STATUS_WORDS[verification].lower()
        return f"{words} ({doubt})" if words else STATUS_WORDS[verification]
    return words


def _quantity(quantity: Any) -> tuple[str, str]:
    """(number with comparator, unit in words) of a Quantity; ("", "") if it has no value."""
    if not isinstance(quantity, dict):
        return "", ""
    number = number_words(quantity.get("value"))
    if not number:
        return "", ""
    comparator = quantity.get("comparator") if isinstance(quantity.get("comparator"), str) else ""
    return f"{comparator}{number}", unit_words(quantity.get("unit"), quantity.get("code"))


def _quantity_words(quantity: Any) -> str:
    return with_unit(*_quantity(quantity))


def _range_words(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    (low, low_unit), (high, high_unit) = _quantity(value.get("low")), _quantity(value.get("high"))
    if low and high:
        if low_unit == high_unit:
            return with_unit(f"{low} to {high}", low_unit)
        return f"{with_unit(low, low_unit)} to {with_unit(high, high_unit)}"
    if low:
        return f"at least {with_unit(low, low_unit)}"
    return f"at most {with_unit(high, high_unit)}" if high else ""


def _ratio_words(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    numerator, denominator = (
        _quantity_words(value.get("numerator")),
        _quantity_words(value.get("denominator")),
    )
    return f"{numerator}/{denominator}" if numerator and denominator else numerator


def _sampled_words(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    data = value.get("data")
    count = len(data.split()) if isinstance(data, str) else 0
    period = number_words(value.get("period"))
    every = f", one every {period} ms" if period else ""
    return f"A series of {count:,} readings{every} (see the source for the trace)"


_VALUE_READERS = {
    "valueQuantity": _quantity_words,
    "valueCodeableConcept": lambda value: _concept_text(value),
    "valueString": lambda value: value if isinstance(value, str) else "",
    "valueBoolean": lambda value: {True: "Yes", False: "No"}.get(value, ""),
    "valueInteger": lambda value: number_words(value) if isinstance(value, int) else "",
    "valueRange": _range_words,
    "valueRatio": _ratio_words,
    "valueSampledData": _sampled_words,
    "valueTime": time_words,
    "valueDateTime": date_words,
    "valuePeriod": period_words,
}


def _one_value(element: dict[str, Any]) -> str:
    """What an Observation (or one of its components) found, or why there is nothing."""
    for field, read in _VALUE_READERS.items():
        if field in element:
            return read(element[field])
    absent = _concept_text(element.get("dataAbsentReason"))
    if absent:
        # "Specimen unsatisfactory" reads as "Not recorded: specimen unsatisfactory"; an
        # initialism ("NA") keeps its capitals.
        said = absent[0].lower() + absent[1:] if absent[1:2].islower() else absent
        return f"Not recorded: {said}"
    return ""


def _value(resource: dict[str, Any]) -> str:
    own = _one_value(resource)
    parts = [part for part in resource.get("component") or [] if isinstance(part, dict)]
    if not parts:
        return own
    quantities = [_quantity(part.get("valueQuantity")) for part in parts]
    units = {unit for _, unit in quantities}
    if all(number for number, _ in quantities) and len(units) == 1:
        # Systolic and diastolic, in one unit: "142/94 mmHg", as it is written by hand.
        together = with_unit("/".join(number for number, _ in quantities), units.pop())
    else:
        together = "; ".join(
            f"{_concept_text(part.get('code')) or 'Component'}: {_one_value(part) or 'no value'}"
            for part in parts
        )
    return f"{own}; {together}" if own else together


def _detail(resource: dict[str, Any], resource_type: str, system: str, code: str) -> str:
    detail = _details_of_type(resource, resource_type)
    if is_degraded(system, code):
        # GP2GP kept the words but not the code: say so, since the code cannot be checked.
        moved = f"Moved between GP systems without its code ({TRANSFER_DEGRADED[code].lower()})"
        return f"{detail}. {moved}" if detail else moved
    return detail


def _details_of_type(resource: dict[str, Any], resource_type: str) -> str:
    if resource_type == "AllergyIntolerance":
        reactions = []
        for reaction in resource.get("reaction") or []:
            if not isinstance(reaction, dict):
                continue
            text = _concept_text(reaction.get("manifestation"))
            severity = reaction.get("severity")
            reactions.append(f"{text} ({severity})" if severity else text)
        return "; ".join(r for r in reactions if r)
    if resource_type in MEDICINE_TYPES:
        dosage = resource.get("dosage") or resource.get("dosageInstruction") or []
        return "; ".join(d.get("text", "") for d in dosage if isinstance(d, dict) and d.get("text"))
    if resource_type == "DiagnosticReport":
        return str(resource.get("conclusion", ""))
    if resource_type == "Encounter":
        period = resource.get("period") or {}
        provider = _concept_text(resource.get("serviceProvider"))
        end = date_words(period.get("end")) if isinstance(period, dict) else ""
        ended = f"ended {end}" if end else ""
        return ", ".join(part for part in (provider, ended) if part)
    if resource_type in ("CarePlan", "Appointment"):
        return str(resource.get("description", ""))
    if resource_type == "ServiceRequest":
        return _concept_text(resource.get("performer"))
    if resource_type == "DocumentReference":
        return str(resource.get("description", ""))
    return _concept_text(resource.get("note"))
