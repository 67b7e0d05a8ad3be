"""The FHIR search client against a real HTTP server that misbehaves in ways a source might."""

import codecs
import dataclasses
import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from records.fetching import response_limits
from records.sources.errors import LimitExceeded, MalformedResponse, SourceUnavailable
from records.sources.fhir_client import FhirClient
from records.sources.limits import ResponseLimits

pytestmark = pytest.mark.integration


class Answers(BaseHTTPRequestHandler):
    """Serves whatever the test put in `server.answers[path]`: (status, headers, body), the body
    bytes, JSON, or a function that writes it."""

    def do_GET(self) -> None:
        status, headers, body = self.server.answers[self.path.split("?")[0]]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if callable(body):
            body(self.wfile)
        else:
            self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    httpd.answers = {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    yield httpd
    httpd.shutdown()


def searchset(*resources, next_url=None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    bundle["entry"] = [{"resource": resource} for resource in resources]
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def test_a_next_link_to_another_host_is_refused(server):
    server.answers["/fhir/Patient"] = (
        200,
        {},
        searchset(
            {"resourceType": "Patient", "id": "1"}, next_url="http://elsewhere.invalid/fhir/P"
        ),
    )
    client = FhirClient(server.base_url, timeout=2, limits=response_limits())
    with pytest.raises(MalformedResponse, match="next link leaves the source"):
        list(client.search("Patient", {}))


def test_a_redirect_is_not_followed(server):
    server.answers["/fhir/Patient"] = (302, {"Location": "http://elsewhere.invalid/"}, b"")
    with pytest.raises(MalformedResponse, match="refused"):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))


def test_retry_after_is_read_from_a_429(server):
    server.answers["/fhir/Patient"] = (429, {"Retry-After": "12"}, b"slow down")
    with pytest.raises(SourceUnavailable) as caught:
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))
    assert caught.value.retry_after == 12


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        {"resourceType": "Patient", "id": "1"},
        {"resourceType": "Bundle", "type": "searchset", "entry": "lots"},
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "x"}]},
    ],
)
def test_an_answer_that_is_not_a_search_result_is_refused(server, body):
    server.answers["/fhir/Patient"] = (200, {}, body)
    with pytest.raises(MalformedResponse):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))


def limited(**limits) -> ResponseLimits:
    return dataclasses.replace(response_limits(), **limits)


def test_a_declared_length_over_the_limit_is_refused_before_reading(server):
    server.answers["/fhir/Patient"] = (200, {"Content-Length": "20000000"}, b"{}")
    with pytest.raises(LimitExceeded, match=r"^sent more than 10 MB$"):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))


def test_a_body_over_the_limit_is_refused_when_the_limit_is_passed(server):
    server.answers["/fhir/Patient"] = (200, {}, json.dumps(searchset()).encode() + b" " * 3000)
    client = FhirClient(server.base_url, timeout=2, limits=limited(max_bytes=2_500))
    with pytest.raises(LimitExceeded, match=r"^sent more than 2\.5 KB$"):
        list(client.search("Patient", {}))


@pytest.mark.parametrize("wrap", ["gzip", "zlib", "raw deflate"])
def test_gzip_and_both_kinds_of_deflate_are_read(server, wrap):
    plain = json.dumps(searchset({"resourceType": "Patient", "id": "1"})).encode()
    if wrap == "gzip":
        body, encoding = gzip.compress(plain), "gzip"
    elif wrap == "zlib":
        body, encoding = zlib.compress(plain), "deflate"
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, encoding = compressor.compress(plain) + compressor.flush(), "deflate"
    server.answers["/fhir/Patient"] = (200, {"Content-Encoding": encoding}, body)
    client = FhirClient(server.base_url, timeout=2, limits=response_limits())
    assert [r["id"] for r in client.search("Patient", {})] == ["1"]


def test_an_encoding_we_did_not_ask_for_is_refused(server):
    server.answers["/fhir/Patient"] = (200, {"Content-Encoding": "br"}, b"\x0b\x01\x80{}\x03")
    with pytest.raises(MalformedResponse, match=r"compression we do not accept \(br\)"):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))


def test_a_byte_order_mark_is_allowed(server):
    body = codecs.BOM_UTF8 + json.dumps(searchset({"resourceType": "Patient", "id": "1"})).encode()
    server.answers["/fhir/Patient"] = (200, {}, body)
    client = FhirClient(server.base_url, timeout=2, limits=response_limits())
    assert [r["id"] for r in client.search("Patient", {})] == ["1"]


def test_a_text_longer_than_the_limit_refuses_the_answer(server):
    server.answers["/fhir/Patient"] = (
        200,
        {},
        searchset({"resourceType": "Patient", "id": "x" * 51}),
    )
    client = FhirClient(server.base_url, timeout=2, limits=limited(max_string_chars=50))
    with pytest.raises(LimitExceeded, match=r"^sent a text longer than 50 characters$"):
        list(client.search("Patient", {}))


def test_an_answer_dripped_past_the_time_budget_times_out(server):
    def drip(wfile):
        for _ in range(40):
            wfile.write(b" " * (64 * 1024))
            wfile.flush()
            time.sleep(0.05)

    server.answers["/fhir/Patient"] = (200, {}, drip)
    deadline = time.monotonic() + 0.5
    client = FhirClient(server.base_url, timeout=2, limits=response_limits(), deadline=deadline)
    with pytest.raises(SourceUnavailable, match=r"^timed out$"):
        list(client.search("Patient", {}))
    assert time.monotonic() < deadline + 1
