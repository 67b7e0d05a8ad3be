"""What `benchmarks.load --hosts N` adds: N hosts, each a gunicorn and a Celery worker with an
environment of its own (nothing shared but PostgreSQL and Redis), behind HAProxy sending each
request to the next host in turn; and the checks that the product holds together across them.

The checks, made on the hosts directly (so that each request goes where it is meant to): a
session signed in works on every host, and once signed out on one it is refused by the others; an
API client's rate limit is one count across hosts; a circuit breaker opened by failures is seen
open by every host, and closed again; concurrent looks at one patient on every host each leave
one access event, in a chain left intact (benchmarks.load checks every chain after the load).
"""

import csv
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

PROXY_BACKEND = "hosts"
RATE_CHECK_CLIENT = "Bench load rate check"
RATE_CHECK_LIMIT = 6
LOOKS_PER_HOST = 12  # at one patient, all at once: the chain's head is contended
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Host:
    number: int
    port: int
    env: dict[str, str]

    @property
    def name(self) -> str:
        return f"host{self.number}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def hosts_of(count: int, first_port: int, env: dict[str, str], var: Path) -> list[Host]:
    """Each host's environment: the deployment's settings (one SECRET_KEY, one database, one
    Redis: in `env`) and its own files (static files, live-update files, checkpoint file)."""
    hosts = []
    for number in range(1, count + 1):
        own = var / f"host{number}"
        (own / "live").mkdir(parents=True, exist_ok=True)
        port = first_port + number - 1
        host_env = {
            **env,
            "LCR_PORT": str(port),
            "LCR_STATIC_ROOT": str(own / "static"),
            "LCR_LIVE_DIR": str(own / "live"),
            "LCR_AUDIT_CHECKPOINT_FILE": str(own / "audit-checkpoints.jsonl"),
            # Behind the proxy, which sets X-Forwarded-For itself (option forwardfor).
            "TRUST_X_FORWARDED_FOR": "true",
        }
        hosts.append(Host(number, port, host_env))
    return hosts


def deployment_env(env: dict[str, str], secret_key: str) -> dict[str, str]:
    """What every host of one deployment is given alike, as an orchestrator would: the secret
    key (sessions' hashes; without it each host would make its own), live updates on Redis
    rather than in a host's files, and a token to read each host's /metrics."""
    return {
        **env,
        "SECRET_KEY": secret_key,
        "LCR_LIVE_URL": env.get("LCR_LIVE_URL") or env["CACHE_URL"],
        "LCR_METRICS_TOKEN": env.get("LCR_METRICS_TOKEN") or secrets.token_urlsafe(24),
    }


def proxy_config(port: int, hosts: list[Host], stats_socket: Path) -> str:
    """HAProxy in HTTP mode: each request (not each connection) to the next host, round robin;
    a host that fails its health check is left out."""
    servers = "\n".join(
        f"    server {host.name} 127.0.0.1:{host.port} check inter 2s" for host in hosts
    )
    return f"""global
    maxconn 2000
    stats socket {stats_socket} mode 600 level user

defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s

frontend care_record
    bind 127.0.0.1:{port}
    default_backend {PROXY_BACKEND}

backend {PROXY_BACKEND}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
{servers}
"""


def proxy_command(port: int, hosts: list[Host], var: Path) -> list[str]:
    """HAProxy in the foreground, with its config written to var (`make haproxy` installs it)."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise RuntimeError("--hosts needs HAProxy: `make haproxy` installs Debian's.")
    config = var / "haproxy.cfg"
    config.write_text(proxy_config(port, hosts, stats_socket(var)))
    subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=True)  # noqa: S603
    return [haproxy, "-db", "-f", str(config)]


def stats_socket(var: Path) -> Path:
    return var / "haproxy.sock"


def requests_by_host(var: Path) -> dict[str, int]:
    """HTTP requests each host has been sent since the proxy started (its stats: req_tot)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stats:
        stats.connect(str(stats_socket(var)))
        stats.sendall(b"show stat\n")
        text = b""
        while chunk := stats.recv(65536):
            text += chunk
    lines = text.decode().lstrip("# ").splitlines()
    return {
        row["svname"]: int(row["req_tot"] or 0)
        for row in csv.DictReader(line for line in lines if line)
        if row["pxname"] == PROXY_BACKEND and row["svname"] not in ("BACKEND", "FRONTEND")
    }


@dataclass
class Check:
    what: str
    ok: bool
    said: str


def across_hosts(
    hosts: list[Host], scene: dict, *, run: str, request_id: Callable[[str, str, int], str]
) -> list[Check]:
    """Every check, in turn; each says what it saw."""
    return [
        _sessions(hosts, scene),
        _rate_limit(hosts, scene),
        _circuit_breaker(hosts),
        _concurrent_looks(hosts, scene, run, request_id),
    ]


def _sessions(hosts: list[Host], scene: dict) -> Check:
    """Signed in: every host serves the home page. Signed out on the first host (with the form
    of the last's page): every host sends the same cookie to the sign-in page."""
    browser = requests.Session()
    browser.cookies.set(scene["cookie_name"], scene["sign_out_session"])
    served = [browser.get(f"{h.url}/", allow_redirects=False).status_code for h in hosts]
    page = browser.get(f"{hosts[-1].url}/", allow_redirects=False)
    token = CSRF_FIELD.search(page.text)
    if token is None:
        return Check("sessions", False, f"no sign-out form on {hosts[-1].name}'s home page")
    out = browser.post(
        f"{hosts[0].url}/sign-out/",
        data={"csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{hosts[0].url}/"},
        allow_redirects=False,
    )
    after = [browser.get(f"{h.url}/", allow_redirects=False) for h in hosts]
    refused = [a.status_code == 302 and "sign-in" in a.headers.get("Location", "") for a in after]
    ok = served == [200] * len(hosts) and out.status_code == 302 and all(refused)
    return Check(
        "sessions",
        ok,
        f"signed in: {', '.join(f'{h.name} {s}' for h, s in zip(hosts, served, strict=True))}; "
        f"signed out on {hosts[0].name} ({out.status_code}), then "
        + ", ".join(
            f"{h.name} {a.status_code} {a.headers.get('Location', '')}"
            for h, a in zip(hosts, after, strict=True)
        ),
    )


def _rate_limit(hosts: list[Host], scene: dict) -> Check:
    """A client allowed RATE_CHECK_LIMIT requests a minute, asking each host in turn: the
    limit is reached after that many in all, not that many per host (or per process)."""
    from django.core.cache import cache

    from access.models import ApiClient, Role, Team
    from access.services import register_api_client

    client = ApiClient.objects.filter(name=RATE_CHECK_CLIENT).first()
    secret = "bench-load-rate-check"  # noqa: S105 (the benchmark's own database)
    if client is None:
        from django.contrib.auth import get_user_model

        client, _ = register_api_client(
            name=RATE_CHECK_CLIENT, team=Team.objects.get(pk=scene["busy_team_id"]),
            role=Role.GP, scopes=["patient.read"], rate=f"{RATE_CHECK_LIMIT}/min",
            actor=get_user_model().objects.get(username="bench-setup"), client_secret=secret,
        )  # fmt: skip
    cache.delete(f"lcr:api-rate:{client.pk}")  # a fresh minute, whatever a run before left
    token = requests.post(
        f"{hosts[0].url}/api/oauth/token/",
        data={"grant_type": "client_credentials"},
        auth=(client.application.client_id, secret),
        timeout=30,
    ).json()["access_token"]
    number = scene["patients"][0]["nhs_number"]
    codes = []
    for n in range(RATE_CHECK_LIMIT + 2):
        host = hosts[n % len(hosts)]
        answer = requests.get(
            f"{host.url}/api/v1/fhir/Patient?identifier={number}",
            headers={"Authorization": f"Bearer {token}", "X-End-User": "bench.rate"},
            timeout=30,
        )
        codes.append(f"{host.name} {answer.status_code}")
    expected = ["200"] * RATE_CHECK_LIMIT + ["429", "429"]
    ok = [code.split()[1] for code in codes] == expected
    return Check("rate limit", ok, f"{RATE_CHECK_LIMIT}/min, asked in turn: {', '.join(codes)}")


def _circuit_breaker(hosts: list[Host]) -> Check:
    """A source's circuit opened by failures (as any host's worker records them): every host's
    /metrics says open; closed by an answer: every host says closed."""
    from django.conf import settings
    from django.utils import timezone

    from records import circuit
    from records.models import SourceSystem

    source = SourceSystem.objects.order_by("ods_code").first()
    token = hosts[0].env["LCR_METRICS_TOKEN"]
    labels = rf'source="{re.escape(source.ods_code)}",state="(\w+)"'
    pattern = re.compile(rf"^lcr_source_circuit_state\{{{labels}\}} 1\.0$", re.MULTILINE)

    def states() -> list[str]:
        seen = []
        for host in hosts:
            page = requests.get(
                f"{host.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            found = pattern.search(page.text)
            seen.append(found.group(1) if found else f"({page.status_code}, no state)")
        return seen

    try:
        for _ in range(settings.LCR_CIRCUIT_FAILURES):
            circuit.record_failure(source.pk, "bench-load: a check of the breaker across hosts")
        opened = states()
    finally:
        circuit.record_success(source.pk, attempt_started_at=timezone.now())
    closed = states()
    ok = opened == ["open"] * len(hosts) and closed == ["closed"] * len(hosts)
    return Check(
        "circuit breaker",
        ok,
        f"source {source.ods_code} after {settings.LCR_CIRCUIT_FAILURES} failures: "
        f"{', '.join(opened)}; after an answer: {', '.join(closed)}",
    )


def _concurrent_looks(
    hosts: list[Host], scene: dict, run: str, request_id: Callable[[str, str, int], str]
) -> Check:
    """LOOKS_PER_HOST looks at one patient on every host at once: each answered, each with one
    access event (their chain is checked with the load's, after it)."""
    from django.db import connection

    patient = scene["patients"][0]
    cookie = {scene["cookie_name"]: scene["gp_sessions"][0]}
    asked = [
        (hosts[n % len(hosts)], request_id(run, "same patient on every host", n))
        for n in range(LOOKS_PER_HOST * len(hosts))
    ]

    def look(where: tuple[Host, str]) -> bool:
        host, rid = where
        answer = requests.get(
            f"{host.url}/patients/{patient['id']}/",
            cookies=cookie,
            headers={"X-Request-ID": rid},
            allow_redirects=False,
            timeout=60,
        )
        return answer.status_code == 200 and patient["shown_nhs_number"] in answer.text

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(asked)) as pool:
        answered = list(pool.map(look, asked))
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT request_id, count(*) FROM audit_accessevent WHERE request_id = ANY(%s) "
            "GROUP BY request_id",
            [[rid for _, rid in asked]],
        )
        events = dict(cursor.fetchall())
    once = sum(1 for _, rid in asked if events.get(rid) == 1)
    ok = all(answered) and once == len(asked)
    return Check(
        "concurrent looks at one patient",
        ok,
        f"{len(asked)} looks at patient {patient['id']} ({LOOKS_PER_HOST} per host, at once, "
        f"{seconds:.1f} s): {sum(answered)} answered, {once} with exactly one access event",
    )
