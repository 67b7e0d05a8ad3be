"""A slow or failing source in a real browser, with real sources and a real worker behind it: a
hospital that hangs reads "Timed out after 8 s" by its deadline (never "Loading"), and a service
answering 500 says it is being retried, which attempt of how many and why, before it gives up."""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from access import services
from access.models import Role, Team
from demo.sources import Behaviour
from tests.browser.conftest import PASSWORD
from tests.factories import UserFactory, make_team, member
from tests.fetch_helpers import link_everywhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
BUDGET = 8.0  # the default look budget: LCR_FETCH_LOOK_BUDGET_SECONDS
# The page learns of a change at its next update (a poll every 2 s, or a push): this much after.
NOTICED = 2.5


@pytest.fixture
def record(population, simulated_source, celery_worker, settings):
    """A person known to all five sources: the acute hospital hangs (longer than the look's
    budget, its own timeout too), the community service answers 500 to everything."""
    settings.LCR_FETCH_LOOK_BUDGET_SECONDS = BUDGET
    settings.LCR_FETCH_MAX_RETRIES = 2
    # Attempts at 0, 2 and 6 s: each retry on the page for a poll or two.
    settings.LCR_FETCH_RETRY_BACKOFF_SECONDS = 2.0
    person = next(p for p in population.people if len(p.local_ids) == 5)
    linked = link_everywhere(population, simulated_source, person, timeout=20.0)
    linked.servers["acute"].behaviour = Behaviour(fault="timeout", hang_seconds=60)
    linked.servers["community"].behaviour = Behaviour(fault="error_500")
    return linked


@pytest.fixture
def gp(record, sign_in) -> Page:
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    user = member(team, Role.GP, "gp")
    user.set_password(PASSWORD)
    user.save()
    services.start_relationship(
        patient=record.patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    return sign_in("gp")


def source_line(page: Page, name: str):
    return page.locator("#record-sources .lcr-source").filter(has_text=name)


def test_a_hanging_source_reads_timed_out_by_its_deadline_and_a_failing_one_its_retries(
    record, gp, check_page
):
    page = gp
    hanging, failing = record.sources["acute"].name, record.sources["community"].name

    opened = time.monotonic()
    page.goto(f"/patients/{record.patient.pk}/")
    expect(source_line(page, hanging)).to_contain_text("Asking")

    # The failing service: a retry, numbered, with the reason, while the look's budget lasts.
    expect(source_line(page, failing)).to_contain_text(
        re.compile(r"Retrying \([23] of 3\)\s*: server error 500"), timeout=BUDGET * 1000
    )
    # The hanging hospital: timed out by its deadline (and the page's next update), not later.
    expect(source_line(page, hanging)).to_contain_text(
        re.compile(r"Timed out\s*after 8 s: nothing to show"), timeout=(BUDGET + NOTICED) * 1000
    )
    timed_out_after = time.monotonic() - opened
    print(f"\nhanging source read 'Timed out' {timed_out_after:.1f} s after the page opened")
    assert timed_out_after <= BUDGET + NOTICED, timed_out_after
    # By then the failing service has used its attempts and says why it is unavailable.
    expect(source_line(page, failing)).to_contain_text("Unavailable", timeout=NOTICED * 1000)
    expect(source_line(page, failing)).to_contain_text("server error 500")
    expect(page.locator("#record-sources")).not_to_contain_text("Loading")
    expect(page.locator("#record-sources")).not_to_contain_text("Asking")
    # Nothing drawn reads "Loading" (the headings not opened yet say "Loading <heading> ...").
    expect(page.locator("#record-summary")).not_to_contain_text("Loading")
    expect(page.locator("#record-timeline")).not_to_contain_text("Loading")
    # The summary names the sources it may be missing something from.
    expect(page.locator("#summary-allergies")).to_contain_text(hanging)
    check_page("record-timed-out-and-failing-sources")
