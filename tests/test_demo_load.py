"""The demo loader gives `make run` its people: every demo sign-in works as described."""

import pytest

from access.policy import actor_for, decide
from demo.load import (
    DEMO_USERS,
    create_demo_relationships,
    create_demo_teams,
    create_demo_users,
    register_population,
)
from records.models import Patient

pytestmark = pytest.mark.django_db


def test_demo_clinicians_see_the_example_patient_and_the_others_do_not(population):
    from django.contrib.auth import get_user_model

    register_population(population)
    create_demo_users()
    teams = create_demo_teams(population)
    assert create_demo_relationships(population, teams) > 0
    assert create_demo_relationships(population, teams) == 0  # loading twice adds nothing

    example = Patient.objects.get(nhs_number=population.people[0].nhs_number)
    users = get_user_model().objects
    for demo in DEMO_USERS:
        user = users.get(username=demo.username)
        assert user.check_password(demo.password)
        decision = decide(actor_for(user), example)
        assert decision.allowed == (demo.username in ("gp", "ae", "social")), demo.username
