"""A FHIR source for tests that serves exactly the search results it is given, over real HTTP on
loopback: each search of a type answers that type's entries as one searchset Bundle.

`entries` may be changed between requests (a hypothesis example each); `queries` records what
was asked, to check how a source was searched.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FixtureSource:
    def __init__(self) -> None:
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[tuple[str, dict[str, str]]] = []
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                source._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/fhir"

    def serve(self, resource_type: str, *entries: dict[str, Any]) -> None:
        """Answer searches of `resource_type` with these entries (resources, or whole entries
        with a `resource` key)."""
        self.entries[resource_type] = [
            entry if "resource" in entry else {"resource": entry} for entry in entries
        ]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        resource_type = url.path.rsplit("/", 1)[-1]
        if resource_type == "metadata":
            body: dict[str, Any] = {"resourceType": "CapabilityStatement"}  # says no types
        else:
            self.queries.append((resource_type, {k: v[-1] for k, v in parse_qs(url.query).items()}))
            entries = self.entries.get(resource_type, [])
            body = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                    "entry": entries}  # fmt: skip
        payload = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
