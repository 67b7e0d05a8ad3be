"""A restricted person's confidentiality, as PDS labels it, and what the register then holds."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from records.confidentiality import (
    Confidentiality,
    confidentiality_of,
    is_restricted,
    stricter,
    without_restricted_details,
)
from records.models import Patient

R4_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
STU3_SYSTEM = "http://hl7.org/fhir/v3/Confidentiality"


def _labelled(*codes, system=R4_SYSTEM):
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"security": [{"system": system, "code": code} for code in codes]},
        "address": [{"postalCode": "E1 6AN"}],
        "telecom": [{"system": "phone", "value": "020 7946 0000"}],
        "generalPractitioner": [{"identifier": {"value": "Y12345"}}],
        "birthDate": "1980-01-01",
    }


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (_labelled("R"), Confidentiality.RESTRICTED),
        (_labelled("R", system=STU3_SYSTEM), Confidentiality.RESTRICTED),
        (_labelled("V"), Confidentiality.VERY_RESTRICTED),
        (_labelled("U", "R"), Confidentiality.RESTRICTED),
        (_labelled("V", "R"), Confidentiality.VERY_RESTRICTED),
        (_labelled("U"), Confidentiality.UNRESTRICTED),
        (_labelled("R", system="http://example.org/other"), Confidentiality.UNRESTRICTED),
        ({"resourceType": "Patient"}, Confidentiality.UNRESTRICTED),
        ({"meta": {"security": "R"}}, Confidentiality.UNRESTRICTED),
        ({"meta": {"security": [None, "R", {"code": "R"}]}}, Confidentiality.UNRESTRICTED),
        ("not a resource", Confidentiality.UNRESTRICTED),
    ],
)
def test_the_strictest_confidentiality_label_is_read(resource, expected):
    assert confidentiality_of(resource) == expected


def test_a_restricted_patient_resource_loses_its_contact_details():
    kept = without_restricted_details(_labelled("R"))
    assert {"address", "telecom", "generalPractitioner"}.isdisjoint(kept)
    assert kept["birthDate"] == "1980-01-01"
    unrestricted = _labelled("U")
    assert without_restricted_details(unrestricted) is unrestricted


def test_only_r_and_v_are_restricted():
    assert [is_restricted(c) for c in "URV"] == [False, True, True]


def _patient(**fields):
    return Patient(
        nhs_number="9000000009",
        given_names="Ada",
        family_name="Restricted",
        birth_date=datetime.date(1980, 1, 1),
        postcode="E1 6AN",
        address_lines="1 High Street",
        phone="020 7946 0000",
        gp_practice_name="Riverside Practice",
        **fields,
    )


@pytest.mark.django_db
def test_the_register_stores_no_contact_details_of_a_restricted_person():
    patient = _patient(confidentiality=Confidentiality.RESTRICTED)
    patient.save()
    patient.refresh_from_db()
    assert (patient.postcode, patient.address_lines, patient.phone, patient.gp_practice_name) == (
        "",
        "",
        "",
        "",
    )
    assert patient.restricted


@pytest.mark.django_db
def test_becoming_restricted_clears_the_details_even_when_saving_one_field():
    patient = _patient()
    patient.save()
    patient.confidentiality = Confidentiality.RESTRICTED
    patient.save(update_fields=["confidentiality"])
    assert Patient.objects.filter(pk=patient.pk, postcode="", phone="").exists()


@pytest.mark.django_db
def test_the_database_refuses_contact_details_for_a_restricted_person():
    patient = _patient()
    patient.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(confidentiality=Confidentiality.RESTRICTED)


@pytest.mark.django_db
@pytest.mark.parametrize("restricted_side", ["kept", "retired"])
def test_merging_keeps_the_stricter_label_and_no_details(restricted_side):
    from records import services
    from tests.factories import merged

    plain = _patient()
    plain.save()
    other = _patient(confidentiality=Confidentiality.RESTRICTED)
    other.nhs_number = "9434765919"
    other.save()
    kept, retired = (other, plain) if restricted_side == "kept" else (plain, other)

    merged(kept, retired, actor=services.system_user())

    kept.refresh_from_db()
    assert kept.restricted
    assert (kept.postcode, kept.phone, kept.address_lines) == ("", "", "")


def test_the_stricter_of_two_labels():
    assert stricter("U", "R") == stricter("R", "U") == "R"
    assert stricter("R", "V") == stricter("V", "R") == "V"
    assert stricter("U", "U") == "U"


@pytest.mark.django_db
def test_an_old_entry_of_a_restricted_person_is_restricted_too():
    """PDS superseded the old number by a restricted person's: the register's separate entry
    under the old number is the same person, and keeps no details until it is merged."""
    from records.tracing import RegisterChanges, _remember_superseded

    current = _patient(confidentiality=Confidentiality.RESTRICTED)
    current.save()
    old = _patient()
    old.nhs_number = "9434765919"
    old.save()
    changes = RegisterChanges()

    _remember_superseded("9434765919", current, changes)

    old.refresh_from_db()
    assert old.restricted and old.postcode == "" and old.phone == ""
    assert changes.notes  # and a person is asked to merge them


@pytest.mark.django_db
def test_becoming_restricted_clears_queued_postcodes_stated_any_way():
    """The queue keeps a stated number as the source wrote it: spaced, or the old one."""
    from records.models import SourceSystem, SupersededNhsNumber, UnmatchedRecord

    patient = _patient()
    patient.save()
    SupersededNhsNumber.objects.create(nhs_number="9434765919", patient=patient)
    source = SourceSystem.objects.create(
        ods_code="RXX", name="Hospital", kind="acute", base_url="http://127.0.0.1:9/fhir"
    )
    for local_id, stated in (("a", "900 000 0009"), ("b", "9434765919"), ("c", "9000000009")):
        UnmatchedRecord.objects.create(
            source=source, local_id=local_id, reason="unknown_nhs_number",
            stated_nhs_number=stated, postcode="E1 6AN",
        )  # fmt: skip

    patient.confidentiality = Confidentiality.RESTRICTED
    patient.save()

    assert not UnmatchedRecord.objects.exclude(postcode="").exists()
