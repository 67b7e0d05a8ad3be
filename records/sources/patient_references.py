"""Whether a resource a source sent is about the patient asked for, by every legitimate form of
patient reference in FHIR R4: this patient, another patient, or no patient we can recognise.

Relative (`Patient/<id>`), versioned (`.../_history/<v>`), absolute on the source's base URL or
on one of its aliases, by NHS number identifier, and `urn:uuid:` or `#contained` references to a
Patient in the same answer. A display alone names nobody we can check, and is never trusted.
Only a positive statement about someone else (another id on the source's own server, another
NHS number) is "another patient"; anything we cannot check is "not recognised".
"""

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from records.identifiers import NHS_NUMBER_SYSTEM

# Where each resource type names its patient (the rest: `subject`, and `patient` where it has one).
PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "Appointment": ("participant",),
}
DEFAULT_PATIENT_FIELDS = ("subject", "patient")
# `[base/]Patient/<id>[/_history/<version>]`; FHIR ids are 1 to 64 of [A-Za-z0-9-.].
_PATIENT_URL = re.compile(
    r"^(?:(?P<base>.+)/)?Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


class Verdict(enum.Enum):
    THIS = "this patient"
    ANOTHER = "another patient"
    UNKNOWN = "no patient we can recognise"


@dataclass(frozen=True)
class PatientIdentity:
    """Who a source was asked about: its id there, its server's addresses, the NHS number."""

    local_id: str
    base_urls: tuple[str, ...] = ()
    nhs_number: str | None = None

    def on_our_server(self, base: str) -> bool:
        return _normal(base) in {_normal(url) for url in self.base_urls}


def judge(
    resource: dict[str, Any],
    patient: PatientIdentity,
    bundle: Mapping[str, dict[str, Any]] | None = None,
) -> Verdict:
    """Whether `resource` is about `patient`. `bundle`: the answer's other resources by fullUrl.

    Another patient if any of its patient references names someone else; this patient only if
    it has at least one and every one of them names this patient."""
    verdicts = [
        _reference(reference, patient, resource, bundle or {})
        for reference in patient_references(resource, bundle or {})
    ]
    if Verdict.ANOTHER in verdicts:
        return Verdict.ANOTHER
    if verdicts and all(verdict is Verdict.THIS for verdict in verdicts):
        return Verdict.THIS
    return Verdict.UNKNOWN


def patient_references(
    resource: dict[str, Any], bundle: Mapping[str, dict[str, Any]] | None = None
) -> list[Any]:
    """The references by which the resource names its patient (each as sent: a dict if sound)."""
    fields = PATIENT_FIELDS.get(str(resource.get("resourceType")), DEFAULT_PATIENT_FIELDS)
    references: list[Any] = []
    for name in fields:
        value = resource.get(name)
        if value is None:
            continue
        if name == "participant" and isinstance(value, list):
            actors = [p.get("actor") if isinstance(p, dict) else p for p in value]
            references += [
                actor for actor in actors if _names_a_patient(actor, resource, bundle or {})
            ]
        else:
            references.append(value)
    return references


def _names_a_patient(actor: Any, resource: dict[str, Any], bundle: Mapping[str, dict]) -> bool:
    """Whether an Appointment participant is a patient (the others are staff, places, devices)."""
    if not isinstance(actor, dict):
        return actor is not None
    if actor.get("type") == "Patient":
        return True
    reference = actor.get("reference")
    if isinstance(reference, str):
        if _PATIENT_URL.match(reference):
            return True
        target = _target(reference, resource, bundle)
        return target is not None and target.get("resourceType") == "Patient"
    identifier = actor.get("identifier")
    return isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM


def _reference(
    reference: Any, patient: PatientIdentity, resource: dict[str, Any], bundle: Mapping[str, dict]
) -> Verdict:
    if not isinstance(reference, dict):
        return Verdict.UNKNOWN
    found = []
    if isinstance(reference.get("reference"), str):
        found.append(_literal(reference["reference"], patient, resource, bundle))
    if isinstance(reference.get("identifier"), dict):
        found.append(_identifier(reference["identifier"], patient))
    return _combined(found)


def _combined(verdicts: Iterable[Verdict]) -> Verdict:
    """Two ways of naming one patient (a reference and an identifier) must not disagree."""
    verdicts = list(verdicts)
    if Verdict.ANOTHER in verdicts:
        return Verdict.ANOTHER
    return Verdict.THIS if Verdict.THIS in verdicts else Verdict.UNKNOWN


def _literal(
    text: str, patient: PatientIdentity, resource: dict[str, Any], bundle: Mapping[str, dict]
) -> Verdict:
    match = _PATIENT_URL.match(text)
    if match is not None:
        base = match.group("base")
        if base is not None and not patient.on_our_server(base):
            return Verdict.UNKNOWN  # someone on another server: perhaps the same person
        return Verdict.THIS if match.group("id") == patient.local_id else Verdict.ANOTHER
    target = _target(text, resource, bundle)
    if target is None or target.get("resourceType") != "Patient":
        return Verdict.UNKNOWN
    return _patient_resource(target, patient, contained=text.startswith("#"))


def _target(text: str, resource: dict[str, Any], bundle: Mapping[str, dict]) -> dict | None:
    """What a `#contained` or `urn:uuid:`/fullUrl reference points at within the answer."""
    if text.startswith("#"):
        for contained in resource.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == text[1:]:
                return contained
        return None
    target = bundle.get(text)
    return target if isinstance(target, dict) else None


def _patient_resource(target: dict, patient: PatientIdentity, *, contained: bool) -> Verdict:
    """A Patient in the answer is this patient by its NHS number, or (unless contained, where
    ids mean nothing outside the resource) by its id; someone else if either says otherwise."""
    found = [
        _identifier(identifier, patient)
        for identifier in target.get("identifier") or []
        if isinstance(identifier, dict)
    ]
    if not contained and isinstance(target.get("id"), str):
        found.append(Verdict.THIS if target["id"] == patient.local_id else Verdict.ANOTHER)
    return _combined(found)


def _identifier(identifier: dict, patient: PatientIdentity) -> Verdict:
    value = identifier.get("value")
    if identifier.get("system") != NHS_NUMBER_SYSTEM or not isinstance(value, str):
        return Verdict.UNKNOWN  # a local number of some system we do not know
    if not patient.nhs_number:
        return Verdict.UNKNOWN
    return Verdict.THIS if value.replace(" ", "") == patient.nhs_number else Verdict.ANOTHER


def _normal(url: str) -> str:
    """Scheme and host in lower case, the default port and a trailing slash left out."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return url
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"
