"""The WSGI plumbing the simulated identity providers share (demo/identity_provider.py): an
answer raised from anywhere in a request, OAuth error bodies, and reading queries, forms and JSON.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Answer(Exception):
    """Raised to answer a request: status, body (dict for JSON, bytes for HTML), headers."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or []


def redirect(location: str) -> Answer:
    return Answer(302, b"", [("Location", location)])


def oauth_error(status: int, error: str, description: str, **headers: str) -> Answer:
    body = {"error": error, "error_description": description}
    return Answer(status, body, [("Cache-Control", "no-store"), *headers.items()])


def query_parameters(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def request_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def form_parameters(environ: dict[str, Any]) -> dict[str, str]:
    return {
        k: v[-1]
        for k, v in parse_qs(request_body(environ).decode(), keep_blank_values=True).items()
    }


def json_body(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(request_body(environ) or b"{}")
    except ValueError:
        raise Answer(400, {"error": "the body is not JSON"}) from None
    return body if isinstance(body, dict) else {}


def add_query(uri: str, parameters: dict[str, str]) -> str:
    if not parameters:
        return uri
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(parameters)
