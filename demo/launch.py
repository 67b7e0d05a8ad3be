"""`make run`: start the whole product on this machine with synthetic demo data.

Starts the simulated source systems and PDS, loads the demo register and users, starts a Celery
worker, Celery beat and the web server, queues an identity sync, prints where to go, then restarts
whatever stops (and says so), says when /readyz fails, and stops everything, whole, on Ctrl-C.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from demo.pds import BASE_PATH as PDS_BASE_PATH
from demo.sign_in import (
    CLINICAL_SYSTEM_CLIENT_ID,
    DEMO_PROVIDERS,
    NHS_LOGIN,
    clinical_system_port,
    make_portal_key,
    provider_command,
)
from demo.supervisor import ReadinessWatch, Supervisor

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
LOGS = VAR / "log"
PYTHON = sys.executable
# The simulated PDS's bearer token (synthetic demo only): the product sends it, PDS checks it.
DEMO_PDS_TOKEN = "demo-pds-access-token-2026"  # noqa: S105 (published, synthetic)


def main() -> int:
    options = _parse_args()
    env = _environment(options)
    LOGS.mkdir(parents=True, exist_ok=True)
    # The five sources, then PDS, the two staff identity providers, the clinical system and NHS
    # login.
    ports = [options.port, *range(options.source_port, options.source_port + 10)]
    busy = [port for port in ports if _port_in_use(options.host, port)]
    if busy:
        print(f"Port(s) {', '.join(map(str, busy))} already in use on {options.host}.")
        print(
            "Stop whatever uses them, or choose others: LCR_PORT=8010 LCR_SOURCE_PORT=8111 make run"
        )
        return 1

    print("Preparing the database and static files ...", flush=True)
    _manage(env, "migrate", "--no-input", "-v", "0")
    _manage(env, "collectstatic", "--no-input", "-v", "0")

    supervisor = Supervisor(env=env, cwd=ROOT, logs=LOGS)
    where = ["--host", options.host, "--base-port", str(options.source_port)]
    try:
        sources = [PYTHON, "-m", "demo.sources", *_population_args(options), *where]
        supervisor.start("sources", sources)
        for port in range(options.source_port, options.source_port + 5):
            metadata = f"http://{options.host}:{port}/fhir/metadata"
            _wait_for(metadata, "simulated sources", supervisor)
        pds = [PYTHON, "-m", "demo.pds", *_population_args(options), "--host", options.host]
        pds += ["--port", str(_pds_port(options)), "--access-token", DEMO_PDS_TOKEN]
        supervisor.start("pds", pds)
        _wait_for(env["LCR_PDS_BASE_URL"] + "/metadata", "simulated PDS", supervisor)
        portal = f"http://{options.host}:{options.port}"
        for provider in (*DEMO_PROVIDERS, NHS_LOGIN):
            command = provider_command(provider, options.host, options.source_port, portal)
            idp = [PYTHON, *command, *_population_args(options)]
            supervisor.start(provider.slug, idp)
            issuer = provider.issuer(options.host, options.source_port)
            _wait_for(issuer + "/.well-known/openid-configuration", provider.name, supervisor)
        clinical_port = clinical_system_port(options.source_port)
        clinical = [PYTHON, "-m", "demo.clinical_system", *_population_args(options)]
        clinical += ["--host", options.host, "--port", str(clinical_port)]
        clinical += ["--portal-url", portal, "--client-id", CLINICAL_SYSTEM_CLIENT_ID]
        supervisor.start("clinical-system", clinical)
        _wait_for(
            f"http://{options.host}:{clinical_port}/fhir/metadata",
            "simulated clinical system",
            supervisor,
        )

        print(f"Loading {options.patients} demo patients ...", flush=True)
        load = [PYTHON, "-m", "demo.load", *_population_args(options), *where]
        subprocess.run(load, env=env, check=True, cwd=ROOT)

        # Prefork, so that each fetch's time limit is enforced. Beat runs apart from the worker:
        # embedded in it (--beat), it was one more child of the worker, killed with the pool and
        # never started again.
        worker = [PYTHON, "-m", "celery", "-A", "lcr", "worker", "--concurrency", "6"]
        supervisor.start("worker", [*worker, "--loglevel", "INFO"])
        beat = [PYTHON, "-m", "celery", "-A", "lcr", "beat"]
        supervisor.start("beat", [*beat, "--schedule", str(VAR / "celerybeat-schedule")])
        web = [PYTHON, "-m", "gunicorn", "lcr.wsgi", "--bind", f"{options.host}:{options.port}"]
        # No gunicorn access log: its request line holds the query string (a search's NHS
        # number); the product logs one line a request itself, by view name (docs/operations.md).
        web += ["--workers", "2", "--threads", "4"]
        supervisor.start("web", web)

        url = f"http://{options.host}:{options.port}/"
        _wait_for(url + "healthz", "web server", supervisor)
        _manage(env, "sync_identities", "--queue")
        _banner(url, options)
        _supervise(supervisor, ReadinessWatch(lambda: _read_readiness(url + "readyz"), supervisor))
        return 0
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"\nCould not start: {exc}. Logs are in {LOGS}.", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--patients", type=int, default=int(os.environ.get("LCR_DEMO_PATIENTS", 500))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("LCR_DEMO_SEED", 2026)))
    parser.add_argument("--host", default=os.environ.get("LCR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LCR_PORT", 8000)))
    parser.add_argument(
        "--source-port", type=int, default=int(os.environ.get("LCR_SOURCE_PORT", 8101))
    )
    return parser.parse_args()


def _population_args(options: argparse.Namespace) -> list[str]:
    return ["--seed", str(options.seed), "--patients", str(options.patients)]


def _environment(options: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    # The demo serves plain HTTP on loopback; everything else keeps its production default.
    env.setdefault("HTTPS_ONLY", "false")
    env.setdefault("ALLOWED_HOSTS", f"{options.host},localhost,127.0.0.1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The web server's port, which no source's base URL may point at (records/source_urls.py).
    env["LCR_PORT"] = str(options.port)
    # Identity sync traces NHS numbers with the simulated PDS (docs/identity.md).
    env["LCR_PDS_BASE_URL"] = f"http://{options.host}:{_pds_port(options)}{PDS_BASE_PATH}"
    env["LCR_PDS_ACCESS_TOKEN"] = DEMO_PDS_TOKEN
    # Staff sign in through the simulated CIS2 and council providers (demo/identity_provider.py)
    # with this service's own key (made under var/ on first run); a password is only for the
    # break-glass administrator.
    env["LCR_OIDC_PRIVATE_KEY_FILE"] = str(make_portal_key(VAR))
    env.setdefault("LCR_PASSWORD_SIGN_IN", "break-glass")
    # Professionals may choose to be shown to patients by job role only (docs/patients.md).
    env.setdefault("LCR_STAFF_MAY_BE_SHOWN_BY_ROLE", "true")
    # Metrics of every web and worker process at http://127.0.0.1:8000/metrics, from this
    # machine only (docs/operations.md); the folder is emptied at each start, as it must be.
    env.setdefault("LCR_METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR / "prometheus"))
    _empty_folder(Path(env["PROMETHEUS_MULTIPROC_DIR"]))
    return env


def _empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.db"):
        leftover.unlink()


def _pds_port(options: argparse.Namespace) -> int:
    return options.source_port + 5


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], env=env, check=True, cwd=ROOT)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _wait_for(url: str, what: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stopped = supervisor.stopped()
        if stopped is not None:
            log = supervisor.log_of(stopped.name)
            raise RuntimeError(f"the {stopped.name} process stopped; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our loopback URL)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the {what} did not answer at {url} within a minute")


def _banner(url: str, options: argparse.Namespace) -> None:
    width = 72
    print("\n" + "=" * width)
    print(f"  Shared care record (demo) is running at  {url}")
    print(f"  Administration:                         {url}admin/")
    _print_sign_ins(options)
    from demo.population import generate

    population = generate(seed=options.seed, patients=options.patients)
    example = population.people[0]
    print(f"\n  Example patient, known to all five sources: {example.display_name}, NHS number")
    print(f"    {example.nhs_number}. Sign in as gp, ae or social and open them from the list of")
    print("    your team's patients; as ae, other patients are reached through emergency access.")
    print(f"    From a terminal: .venv/bin/python manage.py refresh_record {example.nhs_number}")
    print(f"\n  As privacy, find {example.display_name} at {url}audit/patients/ (NHS number")
    print(f"    {example.nhs_number}) and open the access report: weeks of looks by the GP, A&E")
    print("    under emergency access (under investigation), social care and the practice's EPR,")
    print("    and a subject access request. The review queue has emergency accesses waiting")
    print("    and alerts under 'Worth a look'.")
    _print_mixed_up(population)
    _print_restricted(population)
    _print_pds_people(population)
    from demo.load import DEMO_API_CLIENTS

    print(f"\n  Partner API: {url}api/v1/docs/ (docs/api.md). Demo clients (id, secret):")
    for client in DEMO_API_CLIENTS:
        secret = client.secret or f"signs with var/{client.signing_key}"
        print(f"    {client.client_id:<20} {secret:<25} {client.description}")
    first, last = options.source_port, options.source_port + 4
    print(f"\n  Simulated FHIR sources: http://{options.host}:{first}-{last}/fhir")
    print(f"  The GP practices (port {first}) answer as GP Connect Access Record Structured")
    print("    (FHIR STU3); the others as FHIR R4 search.")
    print(f"  Simulated PDS:          http://{options.host}:{_pds_port(options)}{PDS_BASE_PATH}")
    clinical = f"http://{options.host}:{clinical_system_port(options.source_port)}/"
    print(f"  Simulated clinical system: {clinical} (press 'Shared care record' beside a")
    print("    patient: the record opens on them, signed in as gp; docs/launch.md)")
    print(f"  Logs: {LOGS}")
    print(f"  Audit checkpoints, signed hourly: {VAR / 'audit-checkpoints.jsonl'}, with the key")
    print("    made in var/ on the first signing (manage.py sign_audit_checkpoint signs now;")
    print("    verify_audit and python -m audit.verify_checkpoint check; docs/audit.md).")
    print("  Identity sync has been queued; the home page shows its progress.")
    print("  Press Ctrl-C to stop.")
    print("=" * width, flush=True)


def _print_sign_ins(options: argparse.Namespace) -> None:
    from demo.load import BREAK_GLASS_USERNAME, DEMO_USERS
    from demo.sign_in import provider_only_users
    from demo.totp import authenticator_key

    print("\n  Sign in with the simulated NHS CIS2 or Riverside Council (synthetic data only):")
    for provider in DEMO_PROVIDERS:
        print(f"    {provider.name}:")
        for user in DEMO_USERS:
            if user.signs_in_at == provider.slug:
                print(f"      {user.username:<12} {user.password:<24} {user.description}")
        for username, password, description in provider_only_users(provider):
            print(f"      {username:<12} {password:<24} {description}")
    print("    Clinical roles choose 'Smartcard (AAL3)' there; a password sign-in is refused.")
    glass = next(user for user in DEMO_USERS if user.username == BREAK_GLASS_USERNAME)
    print("\n  Break-glass administrator (password sign-in, under 'Break-glass administrator")
    print(f"    sign-in'): {glass.username} / {glass.password}, then a code from the authenticator")
    print(f"    with key {authenticator_key(glass.totp_key)} (.venv/bin/python -m demo.totp)")
    _print_patient_sign_ins(options)


def _print_patient_sign_ins(options: argparse.Namespace) -> None:
    from demo.identity_provider_users import NHS_LOGIN_PASSWORD, NHS_LOGIN_PATIENTS

    url = f"http://{options.host}:{options.port}/your-record/"
    print(f"\n  Patients: {url} (who has looked at your record, and why), signed in")
    print("  with the simulated NHS login (synthetic patients):")
    for username, (_, _, description) in NHS_LOGIN_PATIENTS.items():
        print(f"      {username:<16} {NHS_LOGIN_PASSWORD:<20} {description}")


def _supervise(supervisor: Supervisor, watch: ReadinessWatch) -> None:
    """Until Ctrl-C (or SIGTERM): restart whatever stops or wedges, say when readiness changes."""
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor.run(lambda: stopping, also=watch)
    print("\nStopping ...", flush=True)


def _read_readiness(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our loopback URL)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError):
            return json.loads(exc.read())
        return {"problems": [f"{url} answered {exc.code}"]}
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {"problems": ["the web server does not answer"]}


def _print_mixed_up(population) -> None:
    from demo.reference_shapes import mixed_up_person

    person = mixed_up_person(population)
    if person is not None:
        print(f"  The hospital sends a record about someone else with {person.display_name}'s")
        print(f"    allergies (NHS number {person.nhs_number}): see what the record says then.")


def _print_restricted(population) -> None:
    from demo.population import restricted_people

    chosen = restricted_people(population)
    if chosen:
        person = chosen[0]
        print(f"  {person.display_name} (NHS number {person.nhs_number}) is restricted: their")
        print(
            "    record says their address and contact details are not shared (docs/identity.md)."
        )


def _print_pds_people(population) -> None:
    from demo.pds_people import STATING_OLD_NUMBERS, superseded_numbers

    superseded = superseded_numbers(population)
    if superseded:
        source = population.source(STATING_OLD_NUMBERS).name
        print("  PDS superseded these NHS numbers (old -> current); identity sync follows them")
        print(f"    for {source}, which still states the old ones:")
        for current, old in list(superseded.items())[:5]:
            person = population.person_by_nhs_number(current)
            print(f"    {person.display_name}: {old} -> {current}")
        print("  (`make run` uses the simulated PDS: LCR_PDS_BASE_URL, docs/identity.md)")


if __name__ == "__main__":
    sys.exit(main())
