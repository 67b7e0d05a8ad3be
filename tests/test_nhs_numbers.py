"""NHS numbers: what is accepted, what is refused, and what the person is told."""

import pytest
from django.core.exceptions import ValidationError

from records.nhs_numbers import (
    format_nhs_number,
    is_valid_nhs_number,
    normalise_nhs_number,
    validate_nhs_number,
)
from tests.factories import PatientFactory


@pytest.mark.parametrize("typed", ["9990000018", "999 000 0018", " 999-000-0018 ", "999 0000018"])
def test_valid_number_is_accepted_with_spaces_or_dashes(typed):
    assert normalise_nhs_number(typed) == "9990000018"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("9990000017", "check digit is wrong"),
        ("999000001", "has 10 digits; this has 9"),
        ("99900000188", "has 10 digits; this has 11"),
        ("999O000018", "only digits"),
        ("", "Enter an NHS number"),
    ],
)
def test_invalid_number_is_refused_with_a_clear_message(typed, message):
    with pytest.raises(ValidationError) as caught:
        normalise_nhs_number(typed)
    assert message in caught.value.messages[0]


def test_wrong_check_digit_message_shows_the_number_as_typed_in_groups():
    with pytest.raises(ValidationError) as caught:
        normalise_nhs_number("9990000017")
    assert "999 000 0017" in caught.value.messages[0]


def test_format_groups_three_three_four():
    assert format_nhs_number("9990000018") == "999 000 0018"


def test_is_valid_says_no_to_non_text():
    assert not is_valid_nhs_number(9990000018)


@pytest.mark.django_db
def test_patient_with_a_wrong_check_digit_fails_model_validation():
    patient = PatientFactory.build(nhs_number="9990000017")
    with pytest.raises(ValidationError) as caught:
        patient.full_clean()
    assert "nhs_number" in caught.value.message_dict


@pytest.mark.django_db
def test_stored_nhs_number_must_be_bare_digits():
    with pytest.raises(ValidationError) as caught:
        validate_nhs_number("999-000-0018")
    assert caught.value.code == "nhs_number_format"
