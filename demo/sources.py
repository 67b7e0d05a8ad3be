"""Simulated FHIR R4 source systems: one real HTTP server per source, on loopback.

Each can be told to misbehave (slow, failing, malformed, wrong patient) to test adapters.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import signal
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any, Self
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from demo import fhir_resources as fhir
from demo import letters, pds_people, reference_shapes
from demo.clinical import CLINICAL_TYPES, ID_TAGS, SERVED_TYPES, medications_for, resources_for
from demo.population import REFERENCE_DATE, Person, Population, generate, restricted_people

logger = logging.getLogger(__name__)

FAULTS = frozenset(
    {
        "timeout",
        "error_500",
        "rate_limit",
        "malformed_json",
        "invalid_fhir",
        "wrong_patient",
        "fail_mid_paging",
        "connection_drop",
    }
)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_FHIR_JSON = "application/fhir+json; charset=utf-8"
_TAG_TYPES = {tag: resource_type for resource_type, tag in ID_TAGS.items()}
# Resources carry a fixed lastUpdated so that responses do not change between runs.
_LAST_UPDATED = datetime(REFERENCE_DATE.year, REFERENCE_DATE.month, REFERENCE_DATE.day)
_STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    422: "422 Unprocessable Entity",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
}


@dataclass(frozen=True)
class Behaviour:
    """How a simulated source misbehaves; the default behaves perfectly.

    `latency_ms` delays every in-scope response. `fault` fires on in-scope requests it applies to
    (fail_mid_paging only to pages after the first, wrong_patient only to searches and reads),
    for the first `times` of them, or always when `times` is None. `only_types` limits the scope
    to requests for those resource types (None: every request under /fhir). `spine_error`: a
    GP Connect Spine error code (PATIENT_NOT_FOUND, NO_RELATIONSHIP, ...) the simulated GP
    Connect provider answers the structured record with instead (within `times`).
    """

    latency_ms: int = 0
    fault: str | None = None
    hang_seconds: float = 30.0
    retry_after: int = 1
    only_types: frozenset[str] | None = None
    times: int | None = None
    spine_error: str | None = None  # the GP Connect provider only (demo.gp_connect)

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {sorted(FAULTS)}")
        if self.only_types is not None and not isinstance(self.only_types, frozenset):
            object.__setattr__(self, "only_types", frozenset(self.only_types))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behaviour:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["only_types"] = sorted(self.only_types) if self.only_types is not None else None
        return data


@dataclass(frozen=True)
class Letter:
    """A document's PDF, sent as itself (application/pdf) rather than as FHIR JSON."""

    pdf: bytes


class _Response(Exception):
    """Raised to answer a request early (errors, injected faults)."""

    def __init__(self, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


class _DropConnection(Exception):
    """Raised to close the connection without answering (the connection_drop fault)."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Daemon threads: a request stuck in a simulated hang never blocks shutdown.
    daemon_threads = True
    allow_reuse_address = True


class _RequestHandler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["demo.socket"] = self.connection  # lets connection_drop close it unanswered
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class LoopbackServer:
    """A WSGI application (the subclass's __call__) served on loopback in a thread of its own:
    start() and stop(), or a `with` block. `_stopping` wakes requests sleeping in a simulated
    latency or hang when it stops."""

    host: str
    port: int

    def _serve_init(self) -> None:
        self._stopping = threading.Event()
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def _thread_name(self) -> str:
        return "demo-server"

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            self._server = make_server(
                self.host,
                self.port,
                self,
                server_class=_ThreadingServer,
                handler_class=_RequestHandler,
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=self._thread_name(),
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes requests sleeping in latency or a simulated hang
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """Its scheme, host and port, once started."""
        if self._server is None:
            raise RuntimeError(f"the {self._thread_name()} is not started")
        return f"http://{self.host}:{self._server.server_port}"


def serve_until_signalled(*servers: LoopbackServer) -> None:
    """A simulator's `python -m` entry point: serve (already started) until SIGINT or SIGTERM,
    then stop every server, as the launcher's supervisor expects."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        while not stopping.wait(1):
            pass
    finally:
        for server in servers:
            server.stop()


class SimulatedSource(LoopbackServer):
    """A FHIR R4 server for one source of `population`, served from a background thread."""

    def __init__(
        self, population: Population, source_key: str, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.population = population
        self.source = population.source(source_key)
        self.host, self.port = host, port
        self._people = population.people_at(source_key)
        self._restricted = {person.index for person in restricted_people(population)}
        # Someone may be held under an NHS number PDS has since superseded (demo/pds_people.py).
        self._stated = pds_people.numbers_stated_by(population, source_key)
        self._by_nhs_number = {
            self._stated.get(view.nhs_number, view.nhs_number): person
            for person in self._people
            if (view := person.source_views[source_key]).nhs_number
        }
        self._behaviour = Behaviour()
        self._fired = 0
        self._requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._serve_init()

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviour, self._fired = behaviour, 0

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the source is not started")
        return f"http://{self.host}:{self._server.server_port}/fhir"

    @property
    def requests_served(self) -> int:
        return sum(self._requests.values())

    def _thread_name(self) -> str:
        return f"demo-source-{self.source.key}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The WSGI application."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            if path.startswith("/_sim/"):
                status, body, headers = self._control(method, path, environ)
            else:
                status, body, headers = self._fhir(method, path, query, environ)
        except _Response as response:
            status, body, headers = response.status, response.body, response.headers
        except _DropConnection:
            return self._drop(environ, start_response)
        content_type = "application/json" if path.startswith("/_sim/") else _FHIR_JSON
        if isinstance(body, Letter):
            payload, content_type = body.pdf, letters.PDF
        else:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        full_path = path + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        logger.info("%s %s %s %d", self.source.key, method, full_path, status)
        start_response(
            _STATUS_TEXT[status],
            [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers],
        )
        return [payload]

    def _drop(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        logger.info("%s dropped the connection", self.source.key)
        with contextlib.suppress(OSError):
            environ["demo.socket"].shutdown(socket.SHUT_RDWR)
        # Writing to the closed socket fails; wsgiref treats that as the client going away.
        start_response("500 Internal Server Error", [])
        return []

    def _control(
        self, method: str, path: str, environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if path == "/_sim/requests":
            if method == "DELETE":
                with self._lock:
                    self._requests.clear()
            return 200, {"count": self.requests_served, "by_type": dict(self._requests)}, []
        if path != "/_sim/behaviour":
            return 404, {"error": f"no control endpoint {path}"}, []
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                self.behaviour = Behaviour.from_json(json.loads(environ["wsgi.input"].read(length)))
            except (ValueError, TypeError) as error:
                return 400, {"error": str(error)}, []
        elif method == "DELETE":
            self.behaviour = Behaviour()
        elif method != "GET":
            return 405, {"error": "use GET, PUT or DELETE"}, []
        return 200, self.behaviour.to_json(), []

    def _fhir(
        self, method: str, path: str, query: dict[str, str], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        parts = [part for part in path.split("/") if part]
        resource_type = parts[1] if len(parts) > 1 else None
        with self._lock:
            self._requests[resource_type or "other"] += 1
        behaviour = self._behaviour
        in_scope = behaviour.only_types is None or resource_type in behaviour.only_types
        if in_scope and behaviour.latency_ms:
            self._stopping.wait(behaviour.latency_ms / 1000)
        fault = behaviour.fault if in_scope else None
        if fault in ("timeout", "error_500", "rate_limit", "connection_drop") and self._fire():
            self._early_fault(fault, behaviour)
        if parts[:1] != ["fhir"] or len(parts) > 3:
            raise _Response(404, _outcome("not-found", f"Unknown path {path}"))
        if method != "GET":
            raise _Response(405, _outcome("not-supported", "This server is read-only"))
        offset = self._offset(query)
        if fault == "fail_mid_paging" and offset > 0 and self._fire():
            raise _Response(500, _outcome("exception", "Simulated failure while paging"))
        wrong_patient = (
            fault == "wrong_patient" and _can_mix_up_patients(parts, query) and self._fire()
        )
        body = self._route(parts[1:], query, offset, wrong_patient)
        if isinstance(body, Letter):
            return 200, body, []
        if fault == "malformed_json" and self._fire():
            text = json.dumps(body)
            return 200, text[: len(text) // 2].encode("utf-8"), []
        if fault == "invalid_fhir" and self._fire():
            body = _corrupt(body)
        return 200, body, []

    def _fire(self) -> bool:
        """Whether the fault still has budget (`times`), spending one unit if so."""
        with self._lock:
            times = self._behaviour.times
            if times is not None and self._fired >= times:
                return False
            self._fired += 1
            return True

    def _early_fault(self, fault: str, behaviour: Behaviour) -> None:
        if fault == "timeout":
            self._stopping.wait(behaviour.hang_seconds)  # then answer normally
        elif fault == "error_500":
            raise _Response(500, _outcome("exception", "Simulated internal server error"))
        elif fault == "rate_limit":
            raise _Response(
                429,
                _outcome("throttled", "Simulated rate limit"),
                [("Retry-After", str(behaviour.retry_after))],
            )
        elif fault == "connection_drop":
            raise _DropConnection

    def _route(
        self, parts: list[str], query: dict[str, str], offset: int, wrong_patient: bool
    ) -> dict[str, Any] | Letter:
        if not parts:
            raise _Response(404, _outcome("not-found", "Unknown path /fhir"))
        resource_type = parts[0]
        if resource_type == "metadata" and len(parts) == 1:
            return fhir.capability_statement(
                self.source,
                base_url=self.base_url,
                resource_types=list(SERVED_TYPES[self.source.key]),
                published=_LAST_UPDATED,
            )
        if resource_type == "Binary" and len(parts) == 2:
            return self._letter(parts[1], query)
        if resource_type != "Patient" and resource_type not in CLINICAL_TYPES:
            raise _Response(
                404, _outcome("not-supported", f"Unknown resource type {resource_type}")
            )
        if len(parts) == 2:
            return self._read(resource_type, parts[1], wrong_patient)
        included: list[dict[str, Any]] = []
        if resource_type == "Patient":
            matches = self._search_patients(query, wrong_patient)
        else:
            matches, included = self._search_clinical(resource_type, query, wrong_patient)
        bundle = self._bundle(matches, query, offset, resource_type)
        return {**bundle, "entry": bundle["entry"] + included}

    def _read(self, resource_type: str, resource_id: str, wrong_patient: bool) -> dict[str, Any]:
        if resource_type == "Patient":
            person = self.population.person_by_local_id(self.source.key, resource_id)
            if person is not None and wrong_patient:
                person = self._other_person(person)
            if person is not None:
                return self._patient(person)
        else:
            local_id, _, tag = resource_id.rpartition("-")[0].rpartition("-")
            person = self.population.person_by_local_id(self.source.key, local_id)
            if person is not None and _TAG_TYPES.get(tag) == resource_type:
                for resource in self._served(person, resource_type):
                    if resource["id"] == resource_id:
                        return resource
        raise _Response(404, _outcome("not-found", f"{resource_type}/{resource_id} is not known"))

    def _letter(self, document_id: str, query: dict[str, str]) -> Letter | dict[str, Any]:
        """`Binary/<id>`: the PDF of DocumentReference <id> (demo/letters.py); as a FHIR Binary
        resource when asked with `_format=json`, as FHIR servers may also send it."""
        if "DocumentReference" not in SERVED_TYPES[self.source.key]:
            raise _Response(404, _outcome("not-found", f"Binary/{document_id} is not known"))
        pdf = letters.letter_pdf(self._read("DocumentReference", document_id, False))
        if query.get("_format") == "json":
            data = base64.b64encode(pdf).decode("ascii")
            return {"resourceType": "Binary", "id": document_id, "contentType": letters.PDF,
                    "data": data}  # fmt: skip
        return Letter(pdf)

    def _search_patients(self, query: dict[str, str], wrong_patient: bool) -> list[dict[str, Any]]:
        people = self._people
        if "identifier" in query:
            system, _, value = query["identifier"].rpartition("|")
            person = None
            if system in ("", fhir.NHS_NUMBER_SYSTEM):
                person = self._by_nhs_number.get(value)
            if person is None and system in ("", fhir.LOCAL_ID_SYSTEMS[self.source.key]):
                person = self.population.person_by_local_id(self.source.key, value)
            if person is not None and wrong_patient:
                person = self._other_person(person)
            people = [person] if person is not None else []
        views = [(person, person.source_views[self.source.key]) for person in people]
        for name, matches in (
            ("family", lambda view, v: view.family_name.lower().startswith(v.lower())),
            (
                "given",
                lambda view, v: any(g.lower().startswith(v.lower()) for g in view.given_names),
            ),
            ("birthdate", lambda view, v: view.birth_date.isoformat() == v),
            ("address-postalcode", lambda view, v: _squash(view.postcode).startswith(_squash(v))),
        ):
            if name in query:
                views = [(p, view) for p, view in views if matches(view, query[name])]
        return [self._patient(person) for person, _ in views]

    def _search_clinical(
        self, resource_type: str, query: dict[str, str], wrong_patient: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The person's resources of this type, and any entries sent with them as context."""
        person = self._searched_person(query)
        if person is None:
            return [], []
        resources = self._served(person, resource_type)
        resources = resources + reference_shapes.someone_elses(
            self.population, person, source_key=self.source.key, resource_type=resource_type
        )
        if wrong_patient:
            resources = resources + self._foreign_resources(person, resource_type)
        return reference_shapes.in_the_bundle(
            resources,
            source_key=self.source.key,
            resource_type=resource_type,
            patient=self._patient(person),
        )

    def _searched_person(self, query: dict[str, str]) -> Person | None:
        """Whose resources a search asks for: by local id (`patient=`, `subject=`) or by NHS
        number (`patient:identifier=`, `patient.identifier=`)."""
        identifier = query.get("patient:identifier") or query.get("patient.identifier")
        if identifier is not None:
            system, _, value = identifier.rpartition("|")
            return self._by_nhs_number.get(value) if system == fhir.NHS_NUMBER_SYSTEM else None
        reference = query.get("patient") or query.get("subject")
        if not reference:
            raise _Response(
                400, _outcome("required", "Search needs a patient (or subject) parameter")
            )
        return self.population.person_by_local_id(
            self.source.key, reference.rpartition("Patient/")[2]
        )

    def _foreign_resources(self, person: Person, resource_type: str) -> list[dict[str, Any]]:
        """Another person's resources, as a muddled source might return them."""
        for other in self._people[:50]:
            if other is not person and (foreign := self._clinical(other, resource_type)):
                return foreign[:3]
        other_id = self._other_person(person).local_ids[self.source.key]
        own = self._clinical(person, resource_type)[:1] or [{"resourceType": resource_type}]
        return [_repoint(resource, other_id) for resource in own]

    def _other_person(self, person: Person) -> Person:
        index = self._people.index(person)
        return self._people[(index + 1) % len(self._people)]

    def _clinical(self, person: Person, resource_type: str) -> list[dict[str, Any]]:
        return resources_for(self.population, person, self.source.key).get(resource_type, [])

    def _served(self, person: Person, resource_type: str) -> list[dict[str, Any]]:
        """The person's resources as this source sends them, naming the patient its own way,
        and their letters' PDFs by absolute URL on this server, as hospitals' records do."""
        if resource_type == "DocumentReference":
            return [
                letters.with_absolute_urls(document, self.base_url)
                for document in self._reshaped(person, resource_type)
            ]
        return self._reshaped(person, resource_type)

    def _reshaped(self, person: Person, resource_type: str) -> list[dict[str, Any]]:
        return reference_shapes.reshaped(
            self._clinical(person, resource_type),
            source_key=self.source.key,
            resource_type=resource_type,
            person=person,
            base_url=self.base_url,
        )

    def _patient(self, person: Person) -> dict[str, Any]:
        restricted = person.index in self._restricted
        return pds_people.stating(
            fhir.patient(person, self.source, last_updated=_LAST_UPDATED, restricted=restricted),
            self._stated,
        )

    def _offset(self, query: dict[str, str]) -> int:
        try:
            if "_offset" in query:
                return max(0, int(query["_offset"]))
            if "_page" in query:
                return max(0, int(query["_page"]) - 1) * self._page_size(query)
        except ValueError as error:
            raise _Response(
                400, _outcome("invalid", "_offset and _page must be integers")
            ) from error
        return 0

    def _page_size(self, query: dict[str, str]) -> int:
        try:
            count = int(query.get("_count", DEFAULT_PAGE_SIZE))
        except ValueError as error:
            raise _Response(400, _outcome("invalid", "_count must be an integer")) from error
        return min(max(count, 1), MAX_PAGE_SIZE)

    def _bundle(
        self, matches: list[dict[str, Any]], query: dict[str, str], offset: int, resource_type: str
    ) -> dict[str, Any]:
        count = self._page_size(query)
        params = {k: v for k, v in query.items() if k not in ("_offset", "_page")}
        url = f"{self.base_url}/{resource_type}"
        next_url = None
        if offset + count < len(matches):
            next_url = f"{url}?{urlencode({**params, '_count': count, '_offset': offset + count})}"
        self_params = {**params, **({"_offset": offset} if offset else {})}
        page = matches[offset : offset + count]
        return fhir.searchset_bundle(
            page,
            included=self._included(page, query),
            base_url=self.base_url,
            total=len(matches),
            self_url=f"{url}?{urlencode(self_params)}" if self_params else url,
            next_url=next_url,
            bundle_id=str(uuid.uuid4()),
            timestamp=datetime.now(UTC).replace(tzinfo=None),
        )

    def _included(self, page: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        """The Medications a page's requests reference, for `_include=<Type>:medication`."""
        if not query.get("_include", "").endswith(":medication"):
            return []
        included: dict[str, dict[str, Any]] = {}
        for resource in page:
            reference = (resource.get("medicationReference") or {}).get("reference", "")
            local_id = (resource.get("subject") or {}).get("reference", "").rpartition("/")[2]
            person = self.population.person_by_local_id(self.source.key, local_id)
            if person is not None and reference.startswith("Medication/"):
                held = medications_for(self.population, person, self.source.key)
                if reference in held:
                    included[reference] = held[reference]
        return list(included.values())


def _can_mix_up_patients(parts: list[str], query: dict[str, str]) -> bool:
    """Reads, searches by identifier and clinical searches are where a source can mix people up."""
    if len(parts) < 2:
        return False
    if parts[1] == "Patient":
        return len(parts) == 3 or "identifier" in query
    return parts[1] in CLINICAL_TYPES


def _outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return fhir.operation_outcome(code, diagnostics)


def _squash(text: str) -> str:
    return text.replace(" ", "").upper()


def _repoint(resource: dict[str, Any], local_id: str) -> dict[str, Any]:
    field_name = (
        "patient"
        if resource["resourceType"] in ("AllergyIntolerance", "Immunization")
        else "subject"
    )
    return {**resource, "id": f"{local_id}-foreign-1", field_name: fhir.patient_reference(local_id)}


def _corrupt(body: dict[str, Any]) -> dict[str, Any]:
    """Keep the shape but break the types, as a buggy source does (R4B validation must fail)."""

    def corrupt(resource: dict[str, Any]) -> dict[str, Any]:
        broken = {**resource, "status": 12345, "subject": "Patient/not-a-reference"}
        if resource.get("resourceType") == "Patient":
            broken.update(birthDate=12345, gender=["x"])
        return broken

    if body.get("resourceType") != "Bundle":
        return corrupt(body)
    # Every other entry is broken and the envelope stays sound, so that a client has to judge
    # each resource on its own and may still use the good ones.
    entries = [
        {**entry, "resource": corrupt(entry["resource"])} if index % 2 == 0 else entry
        for index, entry in enumerate(body["entry"])
    ]
    if entries:
        del entries[0]["resource"]["resourceType"]
    return {**body, "entry": entries}


def serve_all(
    population: Population,
    *,
    host: str = "127.0.0.1",
    base_port: int = 8101,
    gp_connect: bool = False,
) -> list[SimulatedSource]:
    """Start every source on consecutive ports from `base_port` (0: any free ports). With
    `gp_connect`, the GP practices answer as a GP Connect provider (demo.gp_connect), as real
    ones in England do; without, they speak FHIR R4 search like the others."""
    from demo.gp_connect import SimulatedGpConnectProvider

    started: list[SimulatedSource] = []
    try:
        for offset, source in enumerate(population.sources):
            port = base_port + offset if base_port else 0
            kind = SimulatedSource
            if gp_connect and source.key == "gp":
                kind = SimulatedGpConnectProvider
            started.append(kind(population, source.key, host=host, port=port).start())
    except BaseException:
        for source in started:
            source.stop()
        raise
    return started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8101)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--fhir-r4-gp",
        action="store_true",
        help="the GP practices speak FHIR R4 search, not GP Connect",
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level, format="%(asctime)s %(name)s %(message)s")
    population = generate(seed=options.seed, patients=options.patients)
    sources = serve_all(
        population,
        host=options.host,
        base_port=options.base_port,
        gp_connect=not options.fhir_r4_gp,
    )
    for source in sources:
        print(f"{source.source.key} {source.source.name} {source.base_url}", flush=True)
    serve_until_signalled(*sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
