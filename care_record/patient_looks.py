"""Who has looked at a patient's record, as the patient reads it (audit.report's looks, worded
for them): each look's time, the professional's name (unless they are shown by role only, or
the look came through another organisation's system), job role, organisation, the headings looked
at (never their content), and why. Never a username.
"""

from dataclasses import dataclass

from django.core.paginator import Page

from access.models import AccessBasis
from access.selectors import shown_by_role_only
from audit.models import AccessEvent, Channel
from audit.report import (
    Look,
    first_lower,
    looks_from_events,
    looks_page,
    sentence_list,
    when_words,
)
from records.models import Patient


@dataclass(frozen=True)
class LookForPatient:
    event_id: int
    when: str
    name: str  # "" when it is not shown
    name_withheld_because: str
    role: str
    organisation: str
    what: str
    why: str
    emergency: bool


def looks_page_for_the_patient(patient: Patient, number: str | None, *, size: int) -> Page:
    """One page of those looks, paged in the database (a record may have been looked at
    thousands of times)."""
    page = looks_page(patient, number, size=size)
    by_role = shown_by_role_only(look.user_id for look in page.object_list)
    page.object_list = [_worded(look, by_role) for look in page.object_list]
    return page


def one_look_for_the_patient(event: AccessEvent) -> LookForPatient:
    """One access event (with its user selected), worded for the patient."""
    (look,) = looks_from_events([event])
    return _worded(look, shown_by_role_only([look.user_id]))


def _worded(look: Look, by_role: set[int]) -> LookForPatient:
    name, withheld = look.professional_name.strip(), ""
    if look.channel_code == Channel.API:
        # A partner's own system names its user as it likes (often a login name): not shown.
        name, withheld = "", "They looked through their organisation's own system."
    elif look.user_id in by_role:
        name, withheld = "", "They chose to be shown to patients by their job role only."
    elif not name or name == look.username:
        name, withheld = "", "Their name is not held here."
    why = look.basis[:1].upper() + look.basis[1:]
    if look.basis_code == AccessBasis.BREAK_GLASS:
        # The reason chosen from the list, not what they wrote: that may name other people or
        # hold clinical detail (or their name), and is for the privacy officers.
        why = f"Emergency access: {first_lower(look.emergency_reason or 'no reason recorded')}"
    return LookForPatient(
        event_id=look.event_id,
        when=when_words(look.occurred_at),
        name=name,
        name_withheld_because=withheld,
        role=look.job_role,
        organisation=look.organisation,
        what=sentence_list(look.headings) or "Nothing",
        why=why,
        emergency=look.basis_code == AccessBasis.BREAK_GLASS,
    )
