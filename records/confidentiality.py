"""A person's confidentiality, as PDS labels their Patient resource, written once.

PDS marks some people restricted (`meta.security` code R of v3-Confidentiality; V, very
restricted, is stricter still): their address, telephone, email and GP practice must not be
shared. The register stores the label and, for a restricted person, none of those details;
`RESTRICTED_DETAILS` names them, so every place that copies or shows them can leave them out.
"""

from dataclasses import dataclass

from django.db import models

# R4's system, and STU3's (GP Connect and older sources) for the same codes; and the one PDS's
# own published examples label people with (personal-demographics-service-api), which a real
# PDS answer may carry: a restricted label must never be missed for its system's spelling.
CONFIDENTIALITY_SYSTEMS = (
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "http://hl7.org/fhir/v3/Confidentiality",
    "https://www.hl7.org/fhir/valueset-security-labels.html",
)

# The register's fields that a restricted person's record never holds.
RESTRICTED_DETAILS = (
    "address_lines",
    "city",
    "postcode",
    "phone",
    "email",
    "gp_practice_ods_code",
    "gp_practice_name",
    "gp_name",
)
# The same details in a FHIR Patient resource (contact: next of kin's details can lead to them).
RESTRICTED_PATIENT_ELEMENTS = ("address", "telecom", "generalPractitioner", "contact")

RESTRICTED_NOTICE = "Restricted record: address and contact details are not shared"


class Confidentiality(models.TextChoices):
    """PDS's labels, in rising order of restriction."""

    UNRESTRICTED = "U", "Unrestricted"
    RESTRICTED = "R", "Restricted"
    VERY_RESTRICTED = "V", "Very restricted"


_RANK = {Confidentiality.UNRESTRICTED: 0, Confidentiality.RESTRICTED: 1}


def stricter(first: str, second: str) -> str:
    """The stricter of two labels (for one person known by two records)."""
    return first if _RANK.get(first, 2) >= _RANK.get(second, 2) else second


def is_restricted(confidentiality: str) -> bool:
    """Whether a person with this label has their contact details withheld (R and V)."""
    return confidentiality in (Confidentiality.RESTRICTED, Confidentiality.VERY_RESTRICTED)


def confidentiality_of(resource: dict) -> Confidentiality:
    """The label a FHIR resource carries in `meta.security` (the strictest if several), or
    unrestricted. Anything that is not a dict of the expected shape counts as unlabelled."""
    meta = resource.get("meta") if isinstance(resource, dict) else None
    labels = meta.get("security") if isinstance(meta, dict) else None
    found = Confidentiality.UNRESTRICTED
    for label in labels if isinstance(labels, list) else []:
        if not isinstance(label, dict) or label.get("system") not in CONFIDENTIALITY_SYSTEMS:
            continue
        code = label.get("code")
        if code in Confidentiality.values and _RANK.get(code, 2) > _RANK.get(found, 2):
            found = Confidentiality(code)
    return found


def without_restricted_details(resource: dict) -> dict:
    """A copy of a Patient resource with the elements a restricted person's record never holds
    left out, if it is labelled restricted; the resource itself otherwise."""
    if not is_restricted(confidentiality_of(resource)):
        return resource
    return {k: v for k, v in resource.items() if k not in RESTRICTED_PATIENT_ELEMENTS}


def without_restricted_patients(resource: dict, *, restricted: bool) -> dict:
    """A copy of any resource with the restricted elements left out of every Patient in it (the
    resource itself, or one `contained` in it) that is labelled restricted, or of all of them
    when the register says the person is restricted though the source does not label them."""
    if resource.get("resourceType") == "Patient" and (
        restricted or is_restricted(confidentiality_of(resource))
    ):
        resource = {k: v for k, v in resource.items() if k not in RESTRICTED_PATIENT_ELEMENTS}
    contained = resource.get("contained")
    if isinstance(contained, list) and contained:
        kept = [
            without_restricted_patients(inner, restricted=restricted)
            if isinstance(inner, dict)
            else inner
            for inner in contained
        ]
        if any(a is not b for a, b in zip(kept, contained, strict=True)):
            resource = {**resource, "contained": kept}
    return resource


@dataclass(frozen=True)
class ContactDetails:
    """The contact details one may show of a person: theirs, or none and the notice that says
    why. Every page, list, report and API response takes them from here (Patient.contact)."""

    restricted: bool
    address_lines: str = ""
    city: str = ""
    postcode: str = ""
    phone: str = ""
    email: str = ""
    gp_practice_ods_code: str = ""
    gp_practice_name: str = ""
    gp_name: str = ""

    @property
    def notice(self) -> str:
        """What a page says where the details would be, or nothing."""
        return RESTRICTED_NOTICE if self.restricted else ""

    @property
    def address(self) -> list[str]:
        """The address as lines to show: street lines, city, postcode; empty ones left out."""
        lines = [line.strip() for line in self.address_lines.splitlines()]
        return [line for line in (*lines, self.city, self.postcode) if line]


def contact_details(person: object) -> ContactDetails:
    """The contact details of anything with the register's fields and confidentiality that
    may be shown: none at all for a restricted person, whatever the fields hold."""
    if is_restricted(getattr(person, "confidentiality", "")):
        return ContactDetails(restricted=True)
    return ContactDetails(
        restricted=False,
        **{field: getattr(person, field, "") or "" for field in RESTRICTED_DETAILS},
    )


def not_kept(value: str) -> str:
    """How the change history writes a contact detail (django-auditlog's mask_callable): that
    it changed, never what it was, since the person may be restricted later and the history
    cannot be rewritten."""
    return "(not kept)" if value else ""


def security_label(confidentiality: str) -> dict:
    """The `meta.security` coding that labels a Patient resource with this confidentiality, as
    PDS writes it (R4's system)."""
    code = Confidentiality(confidentiality)
    return {"system": CONFIDENTIALITY_SYSTEMS[0], "code": code.value, "display": code.label}
