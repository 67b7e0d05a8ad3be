"""CPU per record page for the 550-item cached record, its data just fetched and minutes old:
the page's first answer (the summary, the navigation and the heading open: the timeline, or a
summary's heading), each heading the page fetches within the look, and every heading on one page
(print); with --profile, where the first answer's CPU goes (cProfile), and with --html, every
answer as drawn (for checking that a faster page draws the same HTML).

    python -m benchmarks.record_render [--repeats 30] [--profile fresh|old]
        [--html DIR] [--same-as DIR]

Runs on a SQLite database of its own (var/bench-record-render.sqlite3, rebuilt each run): the
figure is the web process's CPU (time.process_time), which is what the database does not change.
"""

import argparse
import cProfile
import datetime
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

ITEMS_PER_SNAPSHOT = 10  # as benchmarks.london caches them: 5 sources x 11 headings x 10
ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / "var" / "bench-record-render.sqlite3"
SOURCES = 5
AGES = {"fresh": datetime.timedelta(seconds=5), "old": datetime.timedelta(minutes=7)}


def _setup() -> None:
    DATABASE.parent.mkdir(exist_ok=True)
    DATABASE.unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    os.environ["HTTPS_ONLY"] = "false"  # the test client speaks plain HTTP
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Static files through the finders, without a collectstatic manifest, as the tests find them.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    call_command("migrate", verbosity=0)


def _record() -> tuple[object, int, datetime.datetime]:
    """A GP in a practice caring for one patient known to five sources, every heading cached
    with ten items each (550 items); answers the GP, the patient's id and when it was fetched."""
    from django.utils import timezone

    from access import services
    from access.models import Role, Team
    from benchmarks.london import _items, _resources_by_category
    from records.categories import ALL_CATEGORIES
    from records.models import Link, MatchMethod, Snapshot
    from tests.factories import PatientFactory, SourceSystemFactory, UserFactory, make_team, member

    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    patient = PatientFactory(given_names="Grace", family_name="Okafor")
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    fetched = timezone.now()
    pools = _resources_by_category()
    for n in range(SOURCES):
        link = Link.objects.create(
            patient=patient, source=SourceSystemFactory(name=f"Source {n}", ods_code=f"R{n:04d}"),
            local_id=f"L-{n}", matched_by=MatchMethod.NHS_NUMBER, confirmed_at=fetched,
        )  # fmt: skip
        for category in ALL_CATEGORIES:
            items = _items(pools[category], category, ITEMS_PER_SNAPSHOT)
            Snapshot.objects.create(
                link=link, category=category, status=Snapshot.Status.FRESH, items=items,
                item_count=len(items), requested_at=fetched, fetched_at=fetched,
                expires_at=fetched + datetime.timedelta(days=3650),
            )  # fmt: skip
    return gp, patient.pk, fetched


def _normalised(html: str) -> str:
    """The page without what differs between two draws of it (the forms' token, the look and
    its moment, the time printed on the print notice)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', html)
    html = re.sub(r"X-CSRFToken&#34;: &#34;\w+&#34;", "X-CSRFToken&#34;: &#34;&#34;", html)
    html = re.sub(r"look=\d+&amp;after=[\d.]+", "look=&amp;after=", html)
    html = re.sub(r"data-lcr-printed-at>[^<]*<", "data-lcr-printed-at><", html)
    html = re.sub(r'name="look" value="\d+"', 'name="look"', html)
    html = re.sub(r"look=\d+", "look=", html)
    return html


def _timed(get, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        get()
        times.append((time.process_time() - started) * 1000)
    return sorted(times)


def _said(name: str, times: list[float], size: int) -> str:
    return (
        f"    {name:28} median {statistics.median(times):5.1f}, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:5.1f}, {size:,} bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--profile", choices=sorted(AGES), default=None)
    parser.add_argument("--html", type=Path, default=None, help="write each age's page here")
    parser.add_argument(
        "--same-as", type=Path, default=None, help="fail unless each page is the one drawn here"
    )
    args = parser.parse_args()
    _setup()
    import time_machine
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's hosts and e-mail, as the tests run
    gp, patient_id, fetched = _record()
    client = Client()
    client.force_login(gp)
    from records.categories import ALL_CATEGORIES

    url = f"/patients/{patient_id}/"
    print(f"Record page, {SOURCES} sources x 11 headings x 10 items, CPU per answer (ms):")
    for age, delta in AGES.items():
        print(f"  {age} ({delta}):")
        with time_machine.travel(fetched + delta, tick=True):
            drawn = {}
            first = client.get(url)
            if first.status_code != 200:
                sys.exit(f"GET {url} answered {first.status_code}")
            look = re.search(r'name="look" value="(\d+)"', first.content.decode())[1]
            answers = {
                "page (timeline open)": (url, {}),
                "page (allergies open)": (f"{url}?heading=allergies", {}),
                "every heading (print)": (f"{url}?heading=all", {}),
            }
            for heading in ("timeline", *ALL_CATEGORIES):
                fetch = f"{url}?heading={heading}&look={look}"
                answers[f"fetch {heading}"] = (fetch, {"HTTP_HX_REQUEST": "true"})
            for name, (address, headers) in answers.items():
                response = client.get(address, **headers)
                if response.status_code != 200:
                    sys.exit(f"GET {address} answered {response.status_code}")
                drawn[name] = _normalised(response.content.decode())
            whole = drawn["every heading (print)"]
            if whole.count('class="lcr-provenance"') < SOURCES * 11 * ITEMS_PER_SNAPSHOT:
                sys.exit("The whole record does not show the 550 items with their source and age")
            if "None recorded" in drawn["page (timeline open)"].split('id="record-headings"')[1]:
                sys.exit("A heading not drawn yet reads as empty")
            for name, html in drawn.items():
                file = f"record-{age}-{re.sub(r'[^a-z]+', '-', name).strip('-')}.html"
                if args.html:
                    args.html.mkdir(parents=True, exist_ok=True)
                    (args.html / file).write_text(html)
                if args.same_as and (args.same_as / file).read_text() != html:
                    sys.exit(f"{name} ({age}) differs from {args.same_as / file}")
            fetches = []
            for name, (address, headers) in answers.items():
                repeats = (
                    args.repeats if not name.startswith("fetch") else max(args.repeats // 3, 5)
                )
                times = _timed(lambda: client.get(address, **headers), repeats)  # noqa: B023
                if name.startswith("fetch"):
                    fetches.append(statistics.median(times))
                print(_said(name, times, len(drawn[name])))
            print(f"    the {len(fetches)} fetches together (every heading): {sum(fetches):.1f}")
            if args.profile == age:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(5):
                    client.get(url)
                profiler.disable()
                stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
                stats.print_stats(30)
                stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
