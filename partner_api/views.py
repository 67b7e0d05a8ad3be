"""The base of every API view: patient data never cached on the way, FHIR routes answering in
FHIR JSON, a scope asked of every call, and ids out of any database's range named as missing.
"""

from typing import TypeVar

from django.db.models import Model, QuerySet
from rest_framework.response import Response
from rest_framework.views import APIView

from partner_api.errors import ApiError
from partner_api.permissions import HasScope
from partner_api.renderers import FhirJsonRenderer, JsonRenderer

M = TypeVar("M", bound=Model)
LARGEST_ID = 2**63 - 1  # a larger number names no row, and some databases cannot even compare it


class ApiView(APIView):
    """Base of every API view: patient data is never cached by anyone on the way."""

    fhir = False  # FHIR routes answer errors as OperationOutcome

    def get_renderers(self):
        if self.fhir:
            return [FhirJsonRenderer(), JsonRenderer()]
        return super().get_renderers()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        if isinstance(response, Response):
            response.add_post_render_callback(_let_go_of_data)
        return response


def _let_go_of_data(response: Response) -> None:
    """Once written, the answer's data goes. DRF keeps a response in reference cycles (its
    renderer context names it and its view), so its data (a record's 550 resources) outlived
    the request until the garbage collector's next full sweep, which then took 35 to 45 ms on
    one API read in eight."""
    response.data = None


class ScopedView(ApiView):
    """A view that a token may call only with its `required_scope`."""

    permission_classes = [HasScope]
    required_scope: str = ""


class FhirView(ScopedView):
    """A FHIR route: FHIR JSON, and errors as OperationOutcome."""

    fhir = True


def row_or_404(rows: QuerySet[M], row_id: int) -> M:
    """The row with this id among `rows`; absent or beyond any database's ids: 404."""
    row = rows.filter(pk=row_id).first() if 0 < row_id <= LARGEST_ID else None
    if row is None:
        raise ApiError(404, "not-found", "Not found.")
    return row
