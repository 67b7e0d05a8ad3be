"""App configuration: registers the OpenAPI description of the API's authentication."""

from django.apps import AppConfig


class PartnerApiConfig(AppConfig):
    name = "partner_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        # drf-spectacular finds an extension by its class being defined: import it once.
        from partner_api import schema  # noqa: F401
