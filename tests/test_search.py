"""Finding a patient: by NHS number or name and date of birth, only among those one may see."""

import datetime

import pytest
from django.urls import reverse

from access import services
from access.models import Role, Team
from audit.models import SearchEvent
from tests.factories import PatientFactory, UserFactory, make_team, member

pytestmark = pytest.mark.django_db
BORN = datetime.date(1961, 7, 30)


@pytest.fixture
def practice(client):
    """A GP whose practice cares for Grace Okafor; her namesake elsewhere is in nobody's care."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    grace = PatientFactory(given_names="Grace", family_name="Okafor", birth_date=BORN)
    services.start_relationship(
        patient=grace, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    stranger = PatientFactory(
        given_names="Grace", family_name="Okafor", birth_date=BORN, postcode="N1 9GU"
    )
    client.force_login(gp)
    return client, gp, grace, stranger


def search(client, **params):
    return client.get(reverse("patient-search"), params)


def test_an_nhs_number_with_spaces_finds_the_patient_in_ones_care(practice):
    client, gp, grace, _ = practice
    number = grace.formatted_nhs_number  # "999 000 0018" style

    body = search(client, nhs_number=number).content.decode()

    assert "1 patient found" in body
    assert reverse("patient-record", kwargs={"patient_id": grace.pk}) in body
    event = SearchEvent.objects.get()
    assert (event.user, event.found, event.purpose) == (gp, grace, "find a patient")


def test_a_wrong_check_digit_says_so_and_searches_nothing(practice):
    client, _, grace, _ = practice
    wrong = grace.nhs_number[:9] + str((int(grace.nhs_number[9]) + 1) % 10)

    body = search(client, nhs_number=wrong).content.decode()

    assert "There is a problem" in body and "check digit" in body
    assert not SearchEvent.objects.exists()


def test_a_name_and_date_of_birth_find_only_the_namesake_in_ones_care(practice):
    client, _, grace, stranger = practice

    body = search(client, family_name="okafur", birth_date="30/07/1961").content.decode()

    assert "1 patient found" in body
    assert grace.formatted_nhs_number in body
    assert stranger.formatted_nhs_number not in body
    assert list(SearchEvent.objects.values_list("found", flat=True)) == [grace.pk]


def test_the_postcode_narrows_a_name_search(practice):
    client, _, grace, _ = practice
    assert (
        "No patient found"
        in search(
            client, family_name="Okafor", birth_date="1961-07-30", postcode="N1 9GU"
        ).content.decode()
    )
    assert (
        "1 patient found"
        in search(
            client, family_name="Okafor", birth_date="1961-07-30", postcode=grace.postcode.lower()
        ).content.decode()
    )


def test_a_name_without_a_date_of_birth_asks_for_one(practice):
    client, *_ = practice
    body = search(client, family_name="Okafor").content.decode()
    assert "Enter a date of birth to search with the name." in body
    assert not SearchEvent.objects.exists()


def test_someone_without_a_relationship_finds_nobody_and_the_search_is_recorded(client):
    grace = PatientFactory(birth_date=BORN)
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="LBR")
    client.force_login(member(team, Role.SOCIAL_WORKER, "sw"))

    body = search(client, nhs_number=grace.nhs_number).content.decode()

    assert "No patient found" in body
    assert grace.family_name not in body and grace.formatted_nhs_number not in body
    assert "emergency access" not in body.lower()  # not a role allowed it
    event = SearchEvent.objects.get()
    assert event.found is None and event.query == grace.nhs_number


def test_ae_clinicians_see_a_separate_way_to_emergency_access_with_the_details_carried(client):
    grace = PatientFactory(birth_date=BORN)
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    client.force_login(member(team, Role.AE_CLINICIAN, "doctor"))

    body = search(client, nhs_number=grace.nhs_number).content.decode()

    assert "No patient found" in body
    assert "Not in your care: emergency access" in body
    assert f"{reverse('break-glass')}?nhs_number={grace.nhs_number}" in body
    form = client.get(reverse("break-glass"), {"nhs_number": grace.nhs_number}).content.decode()
    assert f'value="{grace.nhs_number}"' in form


def test_a_patient_opened_with_emergency_access_is_found_while_it_lasts(client):
    grace = PatientFactory(birth_date=BORN)
    team = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(team, Role.AE_CLINICIAN, "doctor")
    services.break_glass(
        user=doctor, team=team, patient=grace, reason="unconscious", explanation="ED"
    )
    client.force_login(doctor)
    assert "1 patient found" in search(client, nhs_number=grace.nhs_number).content.decode()


def test_emergency_access_is_found_only_while_acting_for_the_team_that_used_it():
    """As access.policy.decide opens it: found for another team, the record would be refused."""
    from access.policy import actor_for
    from access.selectors import PatientQuery, find_my_patients, still_mine

    grace = PatientFactory(birth_date=BORN)
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    minors = make_team("Thameside Minor Injuries", Team.Kind.AE_DEPARTMENT, ods_code="RXT2")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    services.add_member(team=minors, user=doctor, role=Role.AE_CLINICIAN, reason="cover",
        actor=UserFactory(),
    )  # fmt: skip
    services.break_glass(
        user=doctor, team=ae, patient=grace, reason="unconscious", explanation="ED"
    )
    query = PatientQuery(nhs_number=grace.nhs_number)

    assert find_my_patients(actor_for(doctor, ae.pk), query) == [grace]
    assert still_mine(actor_for(doctor, ae.pk), [grace.pk]) == [grace]
    assert find_my_patients(actor_for(doctor, minors.pk), query) == []
    assert still_mine(actor_for(doctor, minors.pk), [grace.pk]) == []


def test_the_search_finds_exactly_the_patients_in_ones_care_and_ones_emergency_access():
    """find_my_patients writes its query out by hand for speed: it must give my_patients'
    answers (plus the searcher's own emergency access) in every state a relationship can be in."""
    from django.utils import timezone
    from guardian.shortcuts import assign_perm, remove_perm

    from access.policy import actor_for
    from access.selectors import PatientQuery, find_my_patients, my_patients

    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    other = make_team("Bow Surgery", Team.Kind.GP_PRACTICE, ods_code="F84002")
    gp = member(team, Role.GP, "gp")
    office = UserFactory(username="office")
    today = timezone.localdate()
    people = {
        state: PatientFactory(given_names="Grace", family_name="Okafor", birth_date=BORN)
        for state in (
            "team", "own", "ended", "not started", "other team", "grant gone", "nobody",
            "emergency",
        )
    }  # fmt: skip

    def relate(state: str, **kwargs) -> object:
        kwargs.setdefault("team", team)
        return services.start_relationship(
            patient=people[state], kind="registered_gp", reason="registered", actor=office,
            **kwargs,
        )  # fmt: skip

    relate("team")
    relate("own", team=None, user=gp)
    services.end_relationship(relationship=relate("ended"), reason="moved", actor=office)
    relate("not started", starts_on=today + datetime.timedelta(days=3))
    relate("other team", team=other)
    relate("grant gone")
    remove_perm("records.view_record", team.group, people["grant gone"])
    for state in ("ended", "not started"):  # a grant left behind gives nothing on its own
        assign_perm("records.view_record", team.group, people[state])
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    services.break_glass(
        user=doctor, team=ae, patient=people["emergency"], reason="unconscious", explanation="ED"
    )

    by_name = PatientQuery(family_name="Okafor", given_name="Grace", birth_date=BORN)
    for user, expected in ((gp, {"team", "own"}), (doctor, {"emergency"})):
        actor = actor_for(user)
        found = {p.pk for p in find_my_patients(actor, by_name)}
        assert found == {people[state].pk for state in expected}
        assert found >= {p.pk for p in my_patients(actor)}
        for state, patient in people.items():
            by_number = find_my_patients(actor, PatientQuery(nhs_number=patient.nhs_number))
            assert [p.pk for p in by_number] == ([patient.pk] if state in expected else [])
