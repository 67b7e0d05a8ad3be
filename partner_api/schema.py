"""The OpenAPI schema's view of the API: how clients get a token and which scope each route
needs, and the real address of a FHIR operation (`$summary`)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from partner_api.views import LARGEST_ID

FHIR_OPERATIONS = ("summary",)
# The schema of an id, as the API reads one (a larger or smaller number is a 404 or a 400).
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": LARGEST_ID}
# An NHS number as the schema states it: ten digits; what no pattern can state (the modulus 11
# check digit, a Scottish CHI number beginning with a date) the custom format and its description
# say. The API also takes the digits with spaces or hyphens.
NHS_NUMBER_RULES = (
    "the last digit is the modulus 11 check digit, and a Scottish CHI number (0100000000 to "
    "3112999999) begins with its holder's date of birth (DDMMYY)"
)
NHS_NUMBER_SCHEMA = {
    "type": "string",
    "pattern": "^[0-9]{10}$",
    "format": "nhs-number",
    "description": f"Ten digits: {NHS_NUMBER_RULES}.",
}
# Text a person writes (a reason): trimmed of white space, it may not be empty, and it may not
# hold NUL. The class is what Python's str.strip() removes, so that the schema says exactly what
# DRF's CharField refuses.
_NOT_SPACE = (
    r"[^\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
WRITTEN_TEXT_PATTERN = rf"^[^\x00]*{_NOT_SPACE}[^\x00]*$"


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
