"""Signing a patient in through NHS login: from the claims it vouches for to their record in the
register, or a refusal that says plainly why. Nothing here talks HTTP (lcr/oidc.py checks the
tokens) and nothing makes a user: a patient is not staff, and holds no account here.

NHS login's claims (its interface specification): `identity_proofing_level` "P9" when NHS login
has fully proved who the person is (a photo ID check, or the NHS App's), "P5" after a match on
their details alone; `nhs_number`, verified at P9. Only P9 opens a record's trail.
"""

from dataclasses import dataclass

from access.exceptions import SignInRefused
from access.models import IdentityProvider
from records.models import Patient
from records.nhs_numbers import is_valid_nhs_number

REQUIRED_PROOFING = "P9"


@dataclass(frozen=True)
class SignedInPatient:
    """Whom NHS login signed in: their record here, its sub, and how far it proved them."""

    patient: Patient
    subject: str
    proofing_level: str


def patient_for_claims(*, provider: IdentityProvider, id_claims: dict) -> SignedInPatient:
    """The patient the ID token's verified claims name, or SignInRefused: a provider that is not
    for patients, an identity not proved to P9 ("not-proved"), no NHS number, or an NHS number
    the register does not hold ("not-registered")."""
    if not provider.for_patients:
        raise SignInRefused("not-for-patients", "This sign-in is for staff, not for patients.")
    subject = str(id_claims.get("sub") or "")
    if not subject:
        raise SignInRefused("no-subject", "NHS login did not say who you are.")
    level = str(id_claims.get("identity_proofing_level") or "")
    if level != REQUIRED_PROOFING:
        raise SignInRefused(
            "not-proved",
            "To see who has looked at your record, you need to prove who you are with NHS "
            "login first.",
        )
    nhs_number = str(id_claims.get("nhs_number") or "").replace(" ", "")
    if not is_valid_nhs_number(nhs_number):
        raise SignInRefused("no-nhs-number", "NHS login did not send your NHS number.")
    patient = Patient.objects.filter(nhs_number=nhs_number).first()
    while patient is not None and patient.merged_into_id is not None:
        # A record found to be the same person as another: the one kept is theirs.
        patient = Patient.objects.filter(pk=patient.merged_into_id).first()
    if patient is None:
        raise SignInRefused(
            "not-registered", "The shared care record holds no record with your NHS number."
        )
    return SignedInPatient(patient=patient, subject=subject, proofing_level=level)
