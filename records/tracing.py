"""Tracing NHS numbers with PDS before identity sync links on them, and keeping the register as
PDS knows each person: current NHS number, demographics, confidentiality, superseded numbers.

PDS is asked over the network before any row is locked; what it said is written afterwards, in
identity sync's one transaction. Not configured (LCR_PDS_BASE_URL empty): nothing here is used.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from records.fetching import response_limits
from records.models import Patient, SupersededNhsNumber, UnmatchedRecord
from records.nhs_numbers import format_nhs_number
from records.sources.errors import MalformedResponse
from records.sources.pds import InvalidNhsNumber, NhsNumberNotKnown, PdsClient, PdsPatient

logger = logging.getLogger(__name__)

# The register's fields PDS is the authority on (the named GP and the practice's name it does
# not hold: they are kept while the practice stays the same).
_FROM_PDS = (
    "prefix",
    "given_names",
    "family_name",
    "birth_date",
    "sex",
    "address_lines",
    "city",
    "postcode",
    "phone",
    "email",
    "gp_practice_ods_code",
    "date_of_death",
    "confidentiality",
)


@dataclass(frozen=True)
class Trace:
    """What PDS said about one stated NHS number: the person (under their current number), or
    why nobody (`reason`, an UnmatchedRecord.Reason), or why its answer could not be used
    (`refused`: the record is neither linked nor queued, and is traced again next time)."""

    stated: str
    patient: PdsPatient | None = None
    reason: str = ""
    refused: str = ""


@dataclass
class RegisterChanges:
    """What writing PDS's answers changed, for the sync run's record."""

    notes: list[dict] = field(default_factory=list)


def pds_client() -> PdsClient | None:
    """A client for the configured PDS, or None when the record is not set up to use PDS."""
    if not settings.LCR_PDS_BASE_URL:
        return None
    return PdsClient(
        settings.LCR_PDS_BASE_URL,
        timeout=settings.LCR_PDS_TIMEOUT_SECONDS,
        limits=response_limits(),
        access_token=settings.LCR_PDS_ACCESS_TOKEN,
    )


def trace_numbers(numbers: Iterable[str], client: PdsClient) -> dict[str, Trace]:
    """Read each NHS number from PDS once. PDS down, slow or refusing us (SourceUnavailable,
    PdsRefused) stops the whole tracing: the caller links nothing on numbers PDS did not see."""
    traces = {}
    for number in sorted(set(numbers)):
        try:
            traces[number] = Trace(number, patient=client.read(number))
        except NhsNumberNotKnown:
            traces[number] = Trace(number, reason=UnmatchedRecord.Reason.NOT_KNOWN_TO_PDS)
        except InvalidNhsNumber:
            traces[number] = Trace(number, reason=UnmatchedRecord.Reason.INVALID_NHS_NUMBER)
        except MalformedResponse as exc:
            # The reason only: the detail may be the NHS number PDS answered under.
            logger.warning("PDS's answer for an NHS number was unusable: %s", exc.reason)
            traces[number] = Trace(number, refused=f"PDS's answer was unusable: {exc.reason}")
    return traces


def register_from_pds(
    pds: PdsPatient, *, actor: AbstractBaseUser, changes: RegisterChanges
) -> Patient | None:
    """The register entry under PDS's current number, created or brought up to date from PDS
    (None if PDS gives too little to create one); a superseded number is remembered."""
    patient = Patient.objects.select_for_update().filter(nhs_number=pds.nhs_number).first()
    wanted = {name: getattr(pds, name) for name in _FROM_PDS}
    if pds.birth_date is None:
        if patient is None:
            changes.notes.append(
                {"nhs_number": pds.nhs_number, "reason": "PDS holds no full date of birth"}
            )
            return None
        wanted.pop("birth_date")
    with set_actor(actor):
        if patient is None:
            patient = Patient(nhs_number=pds.nhs_number, **wanted)
            try:
                patient.full_clean(validate_unique=False)
            except ValidationError as exc:
                changes.notes.append(
                    {
                        "nhs_number": pds.nhs_number,
                        "reason": "PDS's details do not fit the register: "
                        + ", ".join(sorted(exc.message_dict)),
                    }
                )
                return None
            patient.save()
        elif any(getattr(patient, name) != value for name, value in wanted.items()):
            if patient.gp_practice_ods_code != pds.gp_practice_ods_code:
                patient.gp_practice_name = ""
            for name, value in wanted.items():
                setattr(patient, name, value)
            patient.save()
        if pds.superseded:
            _remember_superseded(pds.superseded, patient, changes)
    return patient


def _remember_superseded(old: str, patient: Patient, changes: RegisterChanges) -> None:
    SupersededNhsNumber.objects.update_or_create(nhs_number=old, defaults={"patient": patient})
    earlier = Patient.objects.current().filter(nhs_number=old).first()
    if earlier is not None:
        if patient.restricted and not earlier.restricted:
            # The same person under their old number: restricted there too, until merged.
            earlier.confidentiality = patient.confidentiality
            earlier.save()
        # PDS says remove the superseded details; merging is a person's decision here.
        changes.notes.append(
            {
                "nhs_number": old,
                "reason": f"the register holds superseded NHS number {format_nhs_number(old)} "
                f"as its own entry; merge it into {patient.formatted_nhs_number}",
            }
        )
        logger.warning(
            "PDS superseded an NHS number of patient %s, and the register holds both", patient.pk
        )
