"""10,000 looks from many threads at once leave 10,000 access events and intact chains."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from tests.factories import PatientFactory, UserFactory, make_team, member

# About 3 minutes on a quiet 2-core machine; the global 300 s limit is too near for a busy one.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
]

LOOKS = 10_000
THREADS = 8


def test_ten_thousand_concurrent_looks_leave_ten_thousand_events_and_intact_chains(
    live_server, capsys
):
    team = make_team("A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    doctor = member(team, Role.AE_CLINICIAN, "doctor")
    office = UserFactory(username="office")
    patients = [PatientFactory() for _ in range(40)]  # spread over every chain
    for patient in patients:
        services.start_relationship(
            patient=patient, team=team, kind="current_episode", reason="r", actor=office
        )
    client = Client()
    client.force_login(doctor)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.session[SESSION_KEY] == str(doctor.pk)

    local = threading.local()

    def look(n: int) -> int:
        if not hasattr(local, "session"):  # one keep-alive connection per thread
            local.session = requests.Session()
            local.session.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
        patient = patients[n % len(patients)]
        return local.session.get(
            f"{live_server.url}/patients/{patient.pk}/", timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        statuses = list(pool.map(look, range(LOOKS)))

    assert statuses.count(200) == LOOKS
    assert AccessEvent.objects.count() == LOOKS
    call_command("verify_audit")
    assert f"All {LOOKS} access events" in capsys.readouterr().out
