"""The form that finds a person on the register: an NHS number, or a last name and a date of
birth. The privacy officers' finder uses it as it is; the clinical search adds a postcode."""

from django import forms
from django.core.exceptions import ValidationError

from access.selectors import PatientQuery
from audit.trail_dates import TrailDateField
from records.form_fields import PlainForm
from records.limits import NHS_NUMBER_INPUT_MAX_LENGTH
from records.nhs_numbers import normalise_nhs_number


class FindForm(PlainForm):
    """An NHS number, or a last name and a date of birth (a first name narrows it)."""

    nhs_number = forms.CharField(
        label="NHS number",
        max_length=NHS_NUMBER_INPUT_MAX_LENGTH,
        required=False,
        help_text="10 digits, spaces allowed.",
    )
    family_name = forms.CharField(label="Last name", max_length=100, required=False)
    given_name = forms.CharField(label="First name (optional)", max_length=100, required=False)
    birth_date = TrailDateField(
        what="the date of birth",
        label="Date of birth",
        help_text="For example, 15 1 1954",
        required=False,
    )

    def clean_nhs_number(self) -> str:
        value = self.cleaned_data["nhs_number"].strip()
        return normalise_nhs_number(value) if value else ""

    def clean(self) -> dict:
        data = super().clean()
        if self.errors or data.get("nhs_number"):
            return data
        if not data.get("family_name") and not data.get("birth_date"):
            raise ValidationError("Enter an NHS number, or a last name and a date of birth.")
        if not data.get("family_name"):
            self.add_error("family_name", "Enter a last name to search with the date of birth.")
        if not data.get("birth_date"):
            self.add_error("birth_date", "Enter a date of birth to search with the name.")
        return data

    def query(self) -> PatientQuery:
        return PatientQuery(
            nhs_number=self.cleaned_data["nhs_number"],
            family_name=self.cleaned_data["family_name"].strip(),
            given_name=self.cleaned_data["given_name"].strip(),
            birth_date=self.cleaned_data["birth_date"],
        )
