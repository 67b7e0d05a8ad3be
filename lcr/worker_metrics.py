"""`python -m lcr.worker_metrics --bind ADDRESS:PORT`: the metrics of a host that runs Celery
workers and no web process (its fetches' latency and outcomes, its tasks' waits), for Prometheus.

The workers write their values to PROMETHEUS_MULTIPROC_DIR (the same folder for every worker of
the host); this serves that folder's sum, with the same rule as the web's `/metrics`: only
LCR_METRICS_ALLOWED_ADDRESSES or `Authorization: Bearer LCR_METRICS_TOKEN`, 404 for anyone
else. The circuit states and queues are the web's to serve (read from the database and the
broker, the same from any host), so they are not repeated here.
"""

import argparse
import os
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    from lcr.metrics import may_scrape_with

    allowed = environ.get("PATH_INFO") == "/metrics" and may_scrape_with(
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        remote_addr=environ.get("REMOTE_ADDR", ""),
    )
    if not allowed or environ.get("REQUEST_METHOD") != "GET":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found\n"]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [generate_latest(registry)]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No access log: Prometheus asks every few seconds."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1:9108", help="ADDRESS:PORT (a private one)")
    options = parser.parse_args(argv)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        parser.error("set PROMETHEUS_MULTIPROC_DIR to the workers' folder")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lcr.settings")
    import django

    django.setup()
    host, _, port = options.bind.rpartition(":")
    server = make_server(host.strip("[]"), int(port), application, handler_class=QuietHandler)
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
