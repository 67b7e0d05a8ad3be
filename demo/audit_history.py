"""A history of looks for the privacy officers to see in the demo (docs/audit.md).

`make run` starts on an empty trail; a privacy officer signing in would find nothing to review
and the example patient's access report empty. This writes, through the services that write
the trail in production (`access.policy.decide`, `care_record.reading.record_look`,
`audit.services.record_look_update`, `access.services.break_glass` and `review_break_glass`,
`audit.services.record_subject_access_request`), the weeks of looks a real record would have:

- the example patient looked at by their GP over weeks, by A&E through an emergency access (its
  reason and explanation, flagged by the privacy officer and still under investigation), by the
  social worker, by the practice's EPR through the partner API, and one look whose live updates
  showed more as the sources answered;
- three more emergency accesses by the A&E clinician in the last week, waiting for review (so
  "used emergency access often" fires), looks by the GP out of hours, and looks by the social
  worker at someone living at their own home postcode (from their staff profile);
- a subject access request from the example patient, answered with the PDF.

Each event is written with the clock set to when the look happened (`_at`): the events are
chained, hashed and checkpointed like any other, so `verify_audit` holds them. Loading twice
adds nothing (the example patient's emergency access is the mark that it was done).
"""

import datetime
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

# What each resource type of the simulated sources is shown under (records/categories.py).
HEADING_OF_TYPE = {
    "AllergyIntolerance": "allergies",
    "MedicationStatement": "medicines",
    "MedicationRequest": "medicines",
    "Condition": "problems",
    "Immunization": "immunisations",
    "Observation": "test_results",
    "DiagnosticReport": "test_results",
    "Encounter": "encounters",
    "Appointment": "appointments",
    "ServiceRequest": "referrals",
    "CarePlan": "care_plans",
    "Flag": "flags",
    "DocumentReference": "documents",
}
EMERGENCY_EXPLANATION = (
    "Brought in by ambulance, confused and unable to give a history; no care relationship yet. "
    "Needed their allergies and current medicines before giving treatment."
)
FLAG_NOTE = (
    "The look under emergency access included their letters and social care records as well as "
    "allergies and medicines: asked the A&E lead whether all of that was needed for treatment."
)
STILL_INVESTIGATING_NOTE = (
    "A&E lead confirms the patient was treated that night; waiting for the clinician's own "
    "account of why the letters were opened."
)
OTHER_EMERGENCIES = (
    (6, (3, 5), "emergency_treatment", "Collapsed in the waiting room; needed current medicines."),
    (4, (14, 20), "emergency_treatment", "Arrived by ambulance after a fall, drowsy; allergies?"),
    (1, (1, 40), "emergency_treatment", "Unconscious on arrival; checking for known conditions."),
)
OUT_OF_HOURS = ((5, (22, 41)), (5, (23, 7)), (2, (6, 18)))  # days ago, (hour, minute)
PARTNER_END_USER = "Dr G Okafor (practice EPR)"


@dataclass(frozen=True)
class AuditHistory:
    """What was written, for the banner and the tests (patients by NHS number)."""

    example: str
    emergency_patients: tuple[str, ...]
    out_of_hours_patients: tuple[str, ...]
    same_postcode_patient: str


@contextmanager
def _at(moment: datetime.datetime):
    """Every service called inside sees `moment` as now (the demo writes history as it happened).
    In UTC, as timezone.now() gives it: an event's hash covers its time as written."""
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(datetime.UTC)):
        yield


def load_audit_history(population, teams: dict) -> AuditHistory | None:
    """Write the demo's history of looks (see the module's docstring); None if already there."""
    from access.models import BreakGlassAccess, StaffProfile
    from access.policy import actor_for
    from records.confidentiality import Confidentiality
    from records.models import Patient

    users = {user.username: user for user in get_user_model().objects.all()}
    ae, social = users["ae"], users["social"]
    example = Patient.objects.get(nhs_number=population.people[0].nhs_number)
    if BreakGlassAccess.objects.filter(patient=example, user=ae).exists():
        return None
    actors = {
        name: actor_for(users[name], teams[key].pk)
        for name, key in (("gp", "gp"), ("ae", "ae"), ("social", "social"), ("privacy", "office"))
    }
    today = timezone.localdate()

    def moment(days_ago: int, hour: int, minute: int) -> datetime.datetime:
        day = today - datetime.timedelta(days=days_ago)
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))

    items = _items_by_source(population, population.people[0])

    def look(actor, patient, when, *, updates=(), person=None):
        with _at(when):
            return _look(actor, patient, _items_by_source(population, person) if person else items,
                         updates=updates)  # fmt: skip

    # The example patient: weeks of care, one emergency, one partner system, one live look.
    for days_ago, hour, minute in ((41, 10, 12), (34, 9, 40), (20, 14, 5)):
        look(actors["gp"], example, moment(days_ago, hour, minute))
    emergency = _emergency(ae, teams["ae"], example, moment(19, 2, 14), "emergency_treatment",
                           EMERGENCY_EXPLANATION)  # fmt: skip
    look(actors["ae"], example, moment(19, 2, 16))
    look(actors["social"], example, moment(27, 15, 30))
    with _at(moment(13, 11, 2)):
        _partner_look(teams["gp"], example, items)
    look(actors["gp"], example, moment(2, 9, 5),
         updates=((moment(2, 9, 5) + datetime.timedelta(seconds=4), "acute"),
                  (moment(2, 9, 5) + datetime.timedelta(seconds=9), "community")))  # fmt: skip
    look(actors["social"], example, moment(1, 16, 45))
    _review(emergency, actors["privacy"], moment(18, 9, 30), "flagged", FLAG_NOTE)
    _review(emergency, actors["privacy"], moment(11, 14, 0), "flagged", STILL_INVESTIGATING_NOTE)

    # The signs the alerts look for, over the last week.
    restricted = set(
        Patient.objects.filter(confidentiality=Confidentiality.RESTRICTED).values_list(
            "nhs_number", flat=True
        )
    )
    open_to_all = [
        person for person in population.people[1:]
        if person.deceased_date is None and person.postcode
        and person.nhs_number not in restricted
    ]  # fmt: skip
    practice = population.people[0].gp_practice
    attending = {person.nhs_number for person in population.people[2:40:9]}
    social_cases = {person.nhs_number for person in population.people_at("social_care")[:40]}
    strangers = [p for p in open_to_all if p.nhs_number not in attending][: len(OTHER_EMERGENCIES)]
    for person, (days_ago, (hour, minute), reason, explanation) in zip(
        strangers, OTHER_EMERGENCIES, strict=True
    ):
        patient = Patient.objects.get(nhs_number=person.nhs_number)
        _emergency(ae, teams["ae"], patient, moment(days_ago, hour, minute), reason, explanation)
        look(actors["ae"], patient, moment(days_ago, hour, minute + 2), person=person)
    registered = [p for p in open_to_all if p.gp_practice == practice][: len(OUT_OF_HOURS)]
    for person, (days_ago, (hour, minute)) in zip(registered, OUT_OF_HOURS, strict=False):
        patient = Patient.objects.get(nhs_number=person.nhs_number)
        look(actors["gp"], patient, moment(days_ago, hour, minute), person=person)
    neighbour = next(p for p in open_to_all if p.nhs_number in social_cases and p not in strangers)
    StaffProfile.objects.update_or_create(
        user=social, defaults={"home_postcode": neighbour.postcode}
    )
    patient = Patient.objects.get(nhs_number=neighbour.nhs_number)
    for days_ago, hour, minute in ((5, 12, 20), (3, 13, 10)):
        look(actors["social"], patient, moment(days_ago, hour, minute), person=neighbour)

    # After every look above (and never in the future, whenever the demo is loaded).
    with _at(moment(1, 17, 30)):
        _subject_access_request(actors["privacy"], example, population.people[0], today)
    return AuditHistory(
        example=example.nhs_number,
        emergency_patients=(example.nhs_number, *(p.nhs_number for p in strangers)),
        out_of_hours_patients=tuple(p.nhs_number for p in registered),
        same_postcode_patient=neighbour.nhs_number,
    )


def _items_by_source(population, person) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """For each source: its kind, and (heading, item id as an access event names it) of
    everything it holds about the person."""
    from demo.clinical import resources_for

    return {
        source.key: (
            source.kind,
            [
                (HEADING_OF_TYPE.get(kind, ""), f"{source.ods_code}/{kind}/{resource['id']}")
                for kind, resources in resources_for(population, person, source.key).items()
                for resource in resources
            ],
        )
        for source in population.sources
    }


def _shown(decision, items: dict, sources: list[str]) -> list[str]:
    """What a look on this decision shows of these sources: its headings, not the kinds of
    source it may not see (care_record.reading's rule)."""
    from care_record.reading import hidden_source_kinds

    hidden = set(hidden_source_kinds(decision))
    return [
        item
        for source in sources
        if source in items and items[source][0] not in hidden
        for heading, item in items[source][1]
        if heading in decision.categories
    ]


def _allowed(decision):
    if not decision.allowed:  # the demo's own setup went wrong; never a real refusal
        raise RuntimeError(f"the demo's history could not be written: {decision.why_not}")
    return decision


def _look(actor, patient, items: dict, *, updates=()):
    """One look as the record page writes it: decided, recorded, its updates named."""
    from access.policy import decide
    from audit.models import Channel
    from audit.services import RequestContext, record_look_update
    from care_record.reading import record_look

    decision = _allowed(decide(actor, patient))
    later = {source for _, source in updates}
    first = [source for source in items if source not in later]
    event = record_look(
        actor=actor, patient=patient, decision=decision, categories=decision.categories,
        resource_ids=_shown(decision, items, first), channel=Channel.WEB,
        context=RequestContext(ip_address="10.20.30.40", user_agent="Mozilla/5.0 (demo)"),
    )  # fmt: skip
    for when, source in updates:
        with _at(when):
            record_look_update(look_id=event.pk, resource_ids=_shown(decision, items, [source]))
    return event


def _partner_look(team, patient, items: dict) -> None:
    """The practice's EPR reading the record through the partner API for one of its users."""
    from access.models import ApiClient
    from access.policy import Actor, decide
    from audit.models import Channel
    from audit.services import RequestContext
    from care_record.reading import record_look

    client = ApiClient.objects.select_related("application", "policy").get(
        application__client_id="demo-epr"
    )
    actor = Actor(user=client.service_user, team=client.team, role=client.role,
                  client_id=client.application.client_id, end_user=PARTNER_END_USER,
                  policy=client.policy)  # fmt: skip
    decision = _allowed(decide(actor, patient))
    record_look(
        actor=actor, patient=patient, decision=decision, categories=decision.categories,
        resource_ids=_shown(decision, items, ["gp", "acute"]), channel=Channel.API,
        context=RequestContext(ip_address="10.20.40.50", user_agent="PracticeEPR/4.2"),
    )  # fmt: skip


def _emergency(user, team, patient, when, reason: str, explanation: str):
    from access.services import break_glass

    with _at(when):
        return break_glass(
            user=user, team=team, patient=patient, reason=reason, explanation=explanation
        )


def _review(access, actor, when, outcome: str, note: str) -> None:
    from access.services.emergency_access import review_break_glass

    with _at(when):
        review_break_glass(access=access, outcome=outcome, note=note, actor=actor)


def _subject_access_request(actor, patient, person, today: datetime.date) -> None:
    """The example patient asked who has looked at their record: answered with the PDF, as the
    report page's form does (the officer's look, the file, the request recorded together)."""
    from django.db import transaction

    from access.models import AccessBasis
    from audit.models import SubjectAccessRequest
    from audit.pdf import access_report_pdf
    from audit.report import ReportFilters, looks_for_patient
    from audit.services import record_look_at_details, record_subject_access_request

    with transaction.atomic():
        record_look_at_details(actor=actor, patient=patient, basis=AccessBasis.PRIVACY_REVIEW)
        filters = ReportFilters()
        looks = looks_for_patient(patient)
        content = access_report_pdf(patient, looks, filters=filters)
        record_subject_access_request(
            patient=patient, actor=actor, requested_by=SubjectAccessRequest.Requester.PATIENT,
            requester_name=person.display_name, requester_authority="",
            received_on=today - datetime.timedelta(days=4), filters=filters.as_json(),
            format=SubjectAccessRequest.Format.PDF, looks=len(looks),
            sent_to="The patient, by secure email to the address they gave",
            file_name=f"access-report-{patient.nhs_number}.pdf", content=content,
        )  # fmt: skip
