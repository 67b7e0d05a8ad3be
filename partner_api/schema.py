"""The OpenAPI schema's view of the API: how clients get a token and which scope each route
needs, and the real address of a FHIR operation (`$summary`)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

FHIR_OPERATIONS = ("summary",)


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema how clients get a token, and which scope each route needs."""

    target_class = "access.api_auth.ApiClientAuthentication"  # named, not imported: no app here
    name = "oauth2"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/api/oauth/token/",
                    "scopes": settings.OAUTH2_PROVIDER["SCOPES"],
                }
            },
        }

    def get_security_requirement(self, auto_schema) -> dict:
        scope = getattr(auto_schema.view, "required_scope", "")
        return {self.name: [scope] if scope else []}


def fhir_operation_paths(result: dict, generator, request, public: bool) -> dict:
    """drf-spectacular postprocessing hook: it reads the `$` of a FHIR operation (`$summary`) in a
    route as a regex anchor and drops it; put it back so the schema names the real address."""
    paths = {}
    for address, item in result.get("paths", {}).items():
        head, _, last = address.rpartition("/")
        if head.startswith("/api/v1/fhir/") and last in FHIR_OPERATIONS:
            address = f"{head}/${last}"
        paths[address] = item
    result["paths"] = paths
    return result
