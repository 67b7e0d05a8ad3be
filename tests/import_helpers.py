"""The relationship import as an administrator's browser drives it: upload a file (it is kept
and checked), then press the import button of the check page (the kept file's id and hash)."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from access.models import RelationshipImport

HEADER = "nhs_number,team_ods_code,team_name,kind,starts_on,ends_on,reason\n"


def csv_upload(text: str | bytes, name: str = "relationships.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def check(client: Client, text: str | bytes, name: str = "relationships.csv") -> RelationshipImport:
    """Upload a file: the kept upload its check made (the page redirects to its check)."""
    response = client.post(reverse("manage-import-relationships"), {"file": csv_upload(text, name)})
    assert response.status_code == 302, response.content.decode()[:2000]
    kept = RelationshipImport.objects.latest("pk")
    assert response["Location"] == reverse("manage-import-check", kwargs={"import_id": kept.pk})
    return kept


def check_page(client: Client, kept: RelationshipImport) -> str:
    response = client.get(reverse("manage-import-check", kwargs={"import_id": kept.pk}))
    assert response.status_code == 200
    return response.content.decode()


def run(client: Client, kept: RelationshipImport):
    """Press "Import these N relationships" on the check page."""
    return client.post(
        reverse("manage-import-run", kwargs={"import_id": kept.pk}), {"sha256": kept.sha256}
    )


def results_page(client: Client, kept: RelationshipImport) -> str:
    response = client.get(reverse("manage-import-results", kwargs={"import_id": kept.pk}))
    assert response.status_code == 200
    return response.content.decode()


def check_and_import(client: Client, text: str | bytes) -> str:
    """Upload, import what was checked, and read the results page."""
    kept = check(client, text)
    response = run(client, kept)
    assert response.status_code == 302, response.content.decode()[:2000]
    return results_page(client, kept)
