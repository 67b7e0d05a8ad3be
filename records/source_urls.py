"""Which base URLs a source system may have: http or https, and never the product itself, so that
the fetcher cannot be turned on the product's own pages (its admin, its API) by a source's URL.

The product is: its own host names (ALLOWED_HOSTS), on any port; its own addresses (loopback,
and the IP addresses in ALLOWED_HOSTS) on the port its web server listens on (LCR_PORT) or the
web's (80, 443, where a proxy in front of it would listen); and the origin of the request that
sets the URL. Those addresses on any other port stay allowed: the demo's simulated sources live
there. (A name that only resolves to this machine is not caught: nothing is looked up.)
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
WEB_PORTS = (80, 443)
DEFAULT_PORTS = {"http": 80, "https": 443}

_http_only = URLValidator(schemes=["http", "https"])


def is_this_machine(host: str) -> bool:
    """A loopback or unspecified address (0.0.0.0 reaches this machine too), or localhost."""
    host = host.lower().rstrip(".").strip("[]")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_source_base_url(value: str, *, request: HttpRequest | None = None) -> None:
    """Raise ValidationError unless `value` is an http(s) URL that does not point at the product.

    `request` is the request that sets the URL, where there is one (the admin's form passes it):
    the URL may not have its origin either."""
    _http_only(value)
    parts = urlsplit(value)
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme.lower()]
    except ValueError as exc:
        raise ValidationError("Enter a valid port.", code="invalid") from exc
    own_names = [name for name in settings.ALLOWED_HOSTS if name != "*"]
    answers_to = validate_host(f"[{host}]" if ":" in host else host, own_names)
    if is_this_machine(host) or (answers_to and _is_address(host)):
        points_at_product = port in (settings.LCR_PORT, *WEB_PORTS)
    else:
        points_at_product = answers_to
    if request is not None and not points_at_product:
        points_at_product = (host, port) == _origin_of(request)
    if points_at_product:
        raise ValidationError(
            "This address is the shared care record itself, not a source system.",
            code="own_address",
        )


def validate_alias_base_urls(value: str) -> None:
    """Every line a base URL that a source may have (blank lines are ignored)."""
    for line in value.splitlines():
        if line.strip():
            validate_source_base_url(line.strip())


def _origin_of(request: HttpRequest) -> tuple[str, int]:
    """The host and port the request was sent to, as the browser named them."""
    name, port = split_domain_port(request.get_host())
    return name.rstrip(".").strip("[]"), int(port) if port else DEFAULT_PORTS[request.scheme]
