"""A hostile FHIR source for tests: a real HTTP server on a free loopback port that answers every
search with one attack (a huge body, a gzip bomb, JSON nested 200,000 deep, characters no record
may hold, or tens of thousands of resources).

Each answer is made once, before any fetch, and sent in pieces (the 50 MB body is never whole in
memory), so that what a test measures of the process's memory is the fetcher's, not the server's.
"""

from __future__ import annotations

import functools
import json
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCAL_ID = "hostile-1"
MB = 1_000_000
PIECE = 64 * 1024
ATTACKS = (
    "huge_body",  # one 50 MB string in a resource, chunked, no Content-Length
    "gzip_bomb",  # 1 MB of gzip that inflates to 1 GB
    "deep_nesting",  # an extension nested 200,000 arrays deep
    "nul",  # a NUL character (escaped, as JSON allows) in a resource's text
    "control_character",  # U+0007 (bell), escaped
    "lone_surrogate",  # half of a UTF-16 pair, escaped
    "many_resources",  # 26,000 resources in one answer, whatever _count asked
    "many_resources_paged",  # 26,000 resources, _count a page, with Bundle.total and next links
    "many_empty_objects",  # 3,000,000 empty objects in under 10 MB: cheap bytes, dear memory
)
MANY = 26_000


def allergy(n: int, text: str = "Peanut") -> dict:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"h{n}",
        "patient": {"reference": f"Patient/{LOCAL_ID}"},
        "code": {"text": text},
    }


def immunization(n: int) -> dict:
    return {
        "resourceType": "Immunization",
        "id": f"i{n}",
        "status": "completed",
        "vaccineCode": {"text": "Influenza"},
        "patient": {"reference": f"Patient/{LOCAL_ID}"},
        "occurrenceDateTime": "2026-01-15",
    }


def searchset(entries: bytes, *, extra: str = "") -> bytes:
    return (
        b'{"resourceType":"Bundle","type":"searchset"' + extra.encode() + b',"entry":['
        + entries + b"]}"
    )  # fmt: skip


def _entries(resources: list[dict]) -> bytes:
    return b",".join(json.dumps({"resource": r}, separators=(",", ":")).encode() for r in resources)


@functools.cache
def gzip_bomb(inflated: int = 1024 * 1024 * 1024) -> bytes:
    """A valid one-member gzip of `inflated` spaces, about 1 MB, made in about a second: one
    block compressed after a full flush compresses the same way every time, so it is repeated
    rather than compressed 1,024 times."""
    block = b" " * (1024 * 1024)
    count = inflated // len(block)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (count * len(block)) & 0xFFFFFFFF)
    return first + again * (count - 1) + final_empty_block + trailer


class HostileSource:
    """Serves `attack` for every search under /fhir; `/fhir/metadata` offers `types`."""

    def __init__(self, attack: str, *, types: tuple[str, ...] = ("AllergyIntolerance",)) -> None:
        if attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}; expected one of {ATTACKS}")
        self.attack = attack
        self.types = types
        self.requests = 0
        self._answer = self._prepare()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hostile = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/fhir"

    def start(self) -> HostileSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _prepare(self) -> bytes:
        if self.attack == "gzip_bomb":
            return gzip_bomb()
        if self.attack == "deep_nesting":
            resource = json.dumps(allergy(1))[:-1].encode()  # without its closing brace
            nested = b"[" * 200_000 + b"]" * 200_000
            return searchset(b'{"resource":' + resource + b',"extension":' + nested + b"}}")
        if self.attack in ("nul", "control_character", "lone_surrogate"):
            escape = {"nul": "\\u0000", "control_character": "\\u0007"}.get(self.attack, "\\ud800")
            body = _entries([allergy(1, "Peanut"), allergy(2, "Latex?")])
            return searchset(body.replace(b"Latex?", f"Latex{escape}".encode()))
        if self.attack == "many_resources":
            return searchset(_entries([allergy(n) for n in range(MANY)]))
        if self.attack == "many_empty_objects":
            # Under 10 MB, no text, no depth: three million empty objects once parsed.
            empties = b",".join([b"{}"] * 3_000_000)
            return searchset(b'{"resource":' + json.dumps(allergy(1))[:-1].encode()
                             + b',"extension":[' + empties + b"]}}")  # fmt: skip
        return b""  # huge_body and many_resources_paged are made as they are sent

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        url = urlsplit(handler.path)
        if url.path == "/fhir/metadata":
            statement = {
                "resourceType": "CapabilityStatement",
                "rest": [{"mode": "server", "resource": [{"type": t} for t in self.types]}],
            }
            _send(handler, json.dumps(statement).encode())
        elif self.attack == "huge_body":
            _send_huge(handler)
        elif self.attack == "many_resources_paged":
            _send(handler, self._page(url.path, parse_qs(url.query)))
        elif self.attack == "gzip_bomb":
            _send(handler, self._answer, headers={"Content-Encoding": "gzip"})
        else:
            _send(handler, self._answer)

    def _page(self, path: str, query: dict[str, list[str]]) -> bytes:
        size = int(query.get("_count", ["100"])[0])
        page = int(query.get("page", ["0"])[0])
        # Each search gets its own type: a resource of another type would be withheld as such.
        make = immunization if path.endswith("/Immunization") else allergy
        resources = [make(n) for n in range(page * size, min(MANY, (page + 1) * size))]
        extra = f',"total":{MANY}'
        if (page + 1) * size < MANY:
            next_url = f"{self.base_url}{path[len('/fhir') :]}?_count={size}&page={page + 1}"
            extra += f',"link":[{{"relation":"next","url":"{next_url}"}}]'
        return searchset(_entries(resources), extra=extra)


def _send(handler: BaseHTTPRequestHandler, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    with _quietly_cut_off():
        for start in range(0, len(body), PIECE):
            handler.wfile.write(body[start : start + PIECE])


def _send_huge(handler: BaseHTTPRequestHandler, size: int = 50 * MB) -> None:
    """A resource whose text is `size` letters, chunked, so no Content-Length warns of it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    start = json.dumps(allergy(1))[: -len('Peanut"}}')].encode()
    piece = b"A" * PIECE
    parts = [searchset(b'{"resource":' + start)[: -len(b"]}")]]
    parts += [piece] * (size // PIECE)
    parts += [b'"}}}]}']
    with _quietly_cut_off():
        for part in parts:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")


class _quietly_cut_off:
    """The fetcher hangs up on an attack as soon as it has seen enough: that is the point."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *rest: object) -> bool:
        return kind is not None and issubclass(kind, ConnectionError | OSError)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.hostile.answer(self)

    def log_message(self, *args: object) -> None:
        pass
