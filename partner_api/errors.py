"""The API's own refusal, with its HTTP status and stable code; partner_api.responses answers it.

Kept apart from the views so that DRF's default authentication and permission classes, imported
while DRF itself loads, can raise it without importing DRF's views.
"""


class ApiError(Exception):
    """A refusal with its HTTP status and stable code, raised by API views."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
