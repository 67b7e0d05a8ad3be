"""Test helpers for the patients' part of the portal: a patient's session as NHS login's sign-in
leaves it (care_record/patient_sessions.py), without the round trip to the provider."""

import time

from access.services.patient_sign_in import SignedInPatient
from care_record.patient_sessions import PATIENT_SESSION


def sign_in_as_patient(client, patient, *, subject: str = "nhs-login-sub", **times) -> None:
    """Give the test client the session a P9 sign-in through NHS login gives `patient`."""
    signed_in = SignedInPatient(patient=patient, subject=subject, proofing_level="P9")
    now = time.time()
    session = client.session
    session[PATIENT_SESSION] = {
        "patient_id": signed_in.patient.pk,
        "subject": signed_in.subject,
        "provider": "nhs-login",
        "signed_in_at": times.get("signed_in_at", now),
        "last_activity": times.get("last_activity", now),
    }
    session.save()
