"""Who is asking through the API: OAuth2 clients bound to a team, the scopes their tokens may
carry, and the actor each call is made as. DRF's defaults (lcr/settings.py) name the
authentication class here, so this module must not import DRF's views.
"""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.scopes import SettingsScopes
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from access.models import ApiClient
from access.policy import Actor
from partner_api.permissions import end_user_of


class ApiClientAuthentication(OAuth2Authentication):
    """A bearer token of a registered, active client; the call is made as its service user."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is None:
            return None
        token = result[1]
        # Read with the token (access.client_assertions.ClientAssertionValidator).
        client: ApiClient | None = getattr(token.application, "api_client", None)
        if client is None or not client.active or not client.service_user.is_active:
            raise AuthenticationFailed("This client is not registered or is switched off.")
        request.api_client = client
        return client.service_user, token


class ApiClientScopes(SettingsScopes):
    """A client's token may carry only the scopes its ApiClient holds (all of them by default)."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        client = ApiClient.objects.filter(application=application, active=True).first()
        known = self.get_all_scopes()
        return [scope for scope in (client.scopes if client else []) if scope in known]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return self.get_available_scopes(application, request)


def actor_from_api_request(request: Request) -> Actor:
    """The actor a call is made as: the client's service user, in its team and role."""
    client: ApiClient = request.api_client
    return Actor(
        user=client.service_user,
        team=client.team,
        role=client.role,
        client_id=client.application.client_id,
        end_user=end_user_of(request),
        policy=client.policy,
    )
