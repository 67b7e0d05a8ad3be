"""The people benchmarks.load sends at the running product (a locustfile): a busy practice's
staff, its EPR through the partner API, and now and then an A&E clinician under emergency access.

Read by `locust -f benchmarks/load_users.py` with LCR_LOAD_SCENE naming the JSON that
benchmarks.load wrote: signed-in session cookies, the busy team's patients, the API client's
token and patients for emergency access. Every request must answer as a signed-in user's
would (a redirect to the sign-in page is a failure, not a page). Each carries an X-Request-ID
(LCR_LOAD_RUN, its kind, a number), which the product writes into the access event; the ids of
the looks made are written to LCR_LOAD_LOOKS at the end, for benchmarks.load to find each one's
event.
"""

import itertools
import json
import os
import re
from pathlib import Path

from locust import HttpUser, constant, events, task
from locust.clients import HttpSession

from benchmarks.load import API_SUMMARY, EMERGENCY_RECORD, LOOKS, RECORD, request_id_of

SCENE = json.loads(Path(os.environ["LCR_LOAD_SCENE"]).read_text())
PATIENTS = SCENE["patients"]
# One counter for every simulated user: each look is at the next of the busy team's patients.
NEXT_PATIENT = itertools.count()
NEXT_USER = itertools.count()
EMERGENCIES = iter(SCENE["emergency_patients"])
RUN = os.environ["LCR_LOAD_RUN"]
NEXT_REQUEST = itertools.count()
LOOKS_MADE: list[str] = []
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class StaffMember(HttpUser):
    """One member of the busy team, signed in, working without pause (a closed loop: the
    benchmark measures what the product serves at this many requests in flight)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        me = next(NEXT_USER)
        sessions = SCENE["gp_sessions"]
        self.client.cookies.set(SCENE["cookie_name"], sessions[me % len(sessions)])
        # One token for the EPR, as a partner system keeps one until it expires.
        self.api = HttpSession(self.host, self.environment.events.request, self)
        self.api.headers["Authorization"] = f"Bearer {SCENE['api_token']}"
        self.api.headers["X-End-User"] = f"bench.user{me}"
        self.ae = HttpSession(self.host, self.environment.events.request, self)
        ae_sessions = SCENE["ae_sessions"]
        self.ae.cookies.set(SCENE["cookie_name"], ae_sessions[me % len(ae_sessions)])

    def _patient(self) -> dict:
        return PATIENTS[next(NEXT_PATIENT) % len(PATIENTS)]

    def _get(self, session: HttpSession, url: str, name: str, marker: str = "") -> None:
        request_id = _request_id(name)
        with session.get(
            url,
            name=name,
            headers={"X-Request-ID": request_id},
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code} {answer.headers.get('Location', '')}")
            elif marker and marker not in answer.text:
                answer.failure(f"the answer does not hold {marker!r}")
            elif name in LOOKS:
                LOOKS_MADE.append(request_id)

    @task(10)
    def look_at_a_record(self) -> None:
        patient = self._patient()
        self._get(self.client, f"/patients/{patient['id']}/", RECORD, patient["shown_nhs_number"])

    @task(4)
    def home_page(self) -> None:
        self._get(self.client, "/", "home page")

    @task(4)
    def search_by_nhs_number(self) -> None:
        patient = self._patient()
        url = f"/patients/?nhs_number={patient['nhs_number']}"
        self._get(self.client, url, "NHS number search", patient["shown_nhs_number"])

    @task(4)
    def api_summary(self) -> None:
        patient = self._patient()
        self._get(self.api, f"/api/v1/fhir/Patient/{patient['id']}/$summary", API_SUMMARY)

    @task(2)
    def api_search(self) -> None:
        patient = self._patient()
        url = f"/api/v1/fhir/Patient?identifier={patient['nhs_number']}"
        self._get(self.api, url, "API Patient search", patient["nhs_number"])

    @task(1)
    def emergency_access(self) -> None:
        """An A&E clinician's emergency access to someone their team does not care for: the
        form, its answer (a redirect to the record) and the record page."""
        patient = next(EMERGENCIES, None)
        if patient is None:
            return
        name = "emergency access form"
        headers = {"X-Request-ID": _request_id(name)}
        with self.ae.get("/break-glass/", name=name, headers=headers, catch_response=True) as form:
            token = CSRF_FIELD.search(form.text)
            if form.status_code != 200 or token is None:
                form.failure(f"{form.status_code}: no form")
                return
        fields = {
            "csrfmiddlewaretoken": token.group(1),
            "nhs_number": patient["nhs_number"],
            "birth_date": patient["birth_date"],
            "reason": "emergency_treatment",
            "explanation": "Brought in unconscious; load benchmark.",
        }
        name = "emergency access started"
        headers = {"Referer": f"{self.host}/break-glass/", "X-Request-ID": _request_id(name)}
        with self.ae.post(
            "/break-glass/",
            data=fields,
            headers=headers,
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as started:
            where = started.headers.get("Location", "")
            if started.status_code != 302 or f"/patients/{patient['id']}/" not in where:
                started.failure(f"{started.status_code} {where}")
                return
        url = f"/patients/{patient['id']}/"
        self._get(self.ae, url, EMERGENCY_RECORD, patient["shown_nhs_number"])


def _request_id(name: str) -> str:
    return request_id_of(RUN, name, next(NEXT_REQUEST))


@events.quitting.add_listener
def _write_looks(environment, **kwargs) -> None:
    Path(os.environ["LCR_LOAD_LOOKS"]).write_text(json.dumps(LOOKS_MADE))
