"""Opening a document of the record: fetched from its source when asked, through read_document,
one access event naming it; a PDF in the browser, text and HTML sanitised on a page, anything
else offered for download with its type and size, and a size limit said in words."""

import base64
import contextlib
import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.models import AccessEvent
from demo.letters import letter_pdf
from records.categories import Category
from records.models import Link, MatchMethod, Snapshot, SourceSystem
from tests.factories import PatientFactory, SourceSystemFactory, UserFactory, make_team, member
from tests.test_security_headers import policy_of

pytestmark = pytest.mark.django_db

# The session and user, the policy (memberships, relationship, emergency access, objection), the
# link, its snapshot, the sensitive code sets, and the access event on its chain; however many
# documents the source holds.
QUERIES_TO_OPEN_A_DOCUMENT = 13
PDF_BYTES = letter_pdf({"description": "Discharge summary", "custodian": {"display": "Thameside"}})


class AttachmentServer:
    """A source's server for attachments only, over real HTTP on loopback: each path answers
    what `files` holds for it (status, content type, body); `asked` records the paths asked."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, str, bytes]] = {}
        self.asked: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.asked.append(self.path)
                status, content_type, body = server.files.get(self.path, (404, "text/plain", b""))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # the record may stop reading, past its limit

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/fhir"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def attachments():
    server = AttachmentServer()
    yield server
    server.stop()


def document(doc_id: str, attachment: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The record's line for a DocumentReference, with the source's resource as it is kept."""
    resource = {
        "resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "subject": {"reference": "Patient/L-1"}, "description": "Discharge summary",
        "content": [{"attachment": {"title": "Discharge summary", **attachment}}],
        **fields,
    }  # fmt: skip
    return {
        "resource_type": "DocumentReference", "resource_id": doc_id, "title": "Discharge summary",
        "date": "2026-11-01", "status": "current", "value": "", "detail": "", "code_system": "",
        "code": "", "resource": resource,
    }  # fmt: skip


def inline(data: bytes, content_type: str) -> dict[str, Any]:
    return {"contentType": content_type, "data": base64.b64encode(data).decode("ascii")}


@pytest.fixture
def gp(client):
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    user = member(team, Role.GP, "gp")
    patient = PatientFactory(given_names="Grace", family_name="Okafor")
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    client.force_login(user)
    return client, patient


def holding(patient, *items, base_url="http://127.0.0.1:9/fhir", **source) -> Link:
    """The patient linked at a source whose documents' snapshot holds these lines."""
    link = Link.objects.create(
        patient=patient, source=SourceSystemFactory(ods_code="RXT", name="Thameside Hospital",
                                                    base_url=base_url, **source),
        local_id="L-1", matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
    )  # fmt: skip
    now = timezone.now()
    Snapshot.objects.create(
        link=link, category=Category.DOCUMENTS, status=Snapshot.Status.FRESH, items=list(items),
        item_count=len(items), requested_at=now, fetched_at=now,
        expires_at=now + datetime.timedelta(hours=1),
    )  # fmt: skip
    return link


def open_document(client, patient, doc_id="doc-1", ods_code="RXT", **query):
    address = reverse("patient-document", args=[patient.pk, ods_code, doc_id])
    return client.get(address, query)


def test_a_pdf_opens_in_the_browser_inline_not_stored_and_one_access_event_names_it(
    gp, attachments
):
    client, patient = gp
    attachments.files["/fhir/Binary/doc-1"] = (200, "application/pdf", PDF_BYTES)
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": "Binary/doc-1"}),
            base_url=attachments.base_url)  # fmt: skip

    response = open_document(client, patient)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="Discharge summary.pdf"'
    assert "no-store" in response["Cache-Control"]
    assert response.content == PDF_BYTES
    assert attachments.asked == ["/fhir/Binary/doc-1"]
    event = AccessEvent.objects.get()
    assert event.resource_ids == ["RXT/DocumentReference/doc-1"]
    assert event.categories == ["documents"]
    assert event.patient_id == patient.pk


def test_only_a_pdfs_own_answer_lets_the_browsers_viewer_embed_it(gp, attachments):
    client, patient = gp
    attachments.files["/fhir/Binary/doc-1"] = (200, "application/pdf", PDF_BYTES)
    holding(
        patient,
        document("doc-1", {"contentType": "application/pdf", "url": "Binary/doc-1"}),
        document("doc-2", inline(b"a letter", "text/plain")),
        base_url=attachments.base_url,
    )

    pdf = policy_of(open_document(client, patient))
    page = policy_of(open_document(client, patient, "doc-2"))

    assert pdf == {**page, "object-src": "'self'"}
    assert page["object-src"] == "'none'"


def test_an_html_letter_is_shown_on_the_page_sanitised(gp):
    client, patient = gp
    html = (
        b"<h2>Plan</h2><p onclick='steal()'>Review in <b>two weeks</b>.</p>"
        b"<script>alert(1)</script><img src='https://tracker.example/x.gif'>"
        b"<a href='javascript:alert(1)'>x</a>"
    )
    holding(patient, document("doc-1", inline(html, "text/html; charset=utf-8")))

    page = open_document(client, patient).content.decode()

    assert "<p>Review in <b>two weeks</b>.</p>" in page
    assert "<h2>Plan</h2>" in page
    for unsafe in ("steal()", "alert(1)", "tracker.example", "javascript:"):
        assert unsafe not in page
    assert "no-store" in open_document(client, patient)["Cache-Control"]


def test_a_plain_text_letter_is_shown_escaped_with_its_line_breaks(gp):
    client, patient = gp
    text = "Discharge summary\nDiagnosis: <b>pneumonia</b>\nFollow-up: GP review"
    holding(patient, document("doc-1", inline(text.encode(), "text/plain")))

    page = open_document(client, patient).content.decode()

    assert "Diagnosis: &lt;b&gt;pneumonia&lt;/b&gt;<br>Follow-up: GP review" in page


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "idna", "no-such-charset"])
def test_a_letter_naming_a_charset_that_is_not_a_text_encoding_is_read_as_utf8(gp, charset):
    client, patient = gp
    holding(
        patient, document("doc-1", inline("Café review".encode(), f"text/plain; charset={charset}"))
    )

    response = open_document(client, patient)

    assert response.status_code == 200 and "Café review" in response.content.decode()


def test_another_type_is_offered_for_download_with_its_type_and_size(gp):
    client, patient = gp
    data = b"PK\x03\x04" + b"x" * 2996
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    holding(patient, document("doc-1", inline(data, word)))

    page = open_document(client, patient).content.decode()
    download = open_document(client, patient, download="")

    assert f"Word document ({word})" in page and "3 KB" in page
    assert "Download the document" in page
    assert download["Content-Disposition"] == 'attachment; filename="Discharge summary.docx"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download.content == data
    assert AccessEvent.objects.count() == 2  # the page, then the file: each a look of its own


def test_a_pdf_that_is_not_one_is_not_shown_inline_but_offered_for_download(gp):
    client, patient = gp
    holding(patient, document("doc-1", inline(b"<html><script>x</script>", "application/pdf")))

    response = open_document(client, patient)

    assert response["Content-Type"].startswith("text/html")
    assert "Download the document" in response.content.decode()


def test_a_document_larger_than_the_limit_is_refused_with_its_size_and_the_limit(
    gp, attachments, settings
):
    client, patient = gp
    settings.LCR_DOCUMENT_MAX_BYTES = 1_000_000
    attachments.files["/fhir/Binary/big"] = (200, "application/pdf", b"%PDF-" + b"0" * 1_500_000)
    holding(
        patient,
        document("declared", {"contentType": "application/pdf", "url": "Binary/big",
                              "size": 12_000_000}),
        document("undeclared", {"contentType": "application/pdf", "url": "Binary/big"}),
        base_url=attachments.base_url,
    )  # fmt: skip

    declared = open_document(client, patient, "declared").content.decode()
    undeclared = open_document(client, patient, "undeclared").content.decode()

    assert "The document is 12 MB; the record opens documents up to 1 MB." in declared
    assert "Ask Thameside Hospital for the document" in declared
    assert "The document is 1.5 MB; the record opens documents up to 1 MB." in undeclared
    assert "1.5 MB" in undeclared.split("document-problem")[0]  # its size, in the summary too
    assert attachments.asked == ["/fhir/Binary/big"]  # the declared size was never fetched
    assert AccessEvent.objects.count() == 2


def test_a_document_url_off_its_sources_server_is_never_fetched(gp, attachments):
    client, patient = gp
    elsewhere = attachments.base_url.replace("127.0.0.1", "localhost") + "/Binary/doc-1"
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": elsewhere}),
            base_url=attachments.base_url)  # fmt: skip

    page = open_document(client, patient).content.decode()

    assert "The document&#39;s URL is not on its source&#39;s server" in page
    assert attachments.asked == []


def test_a_document_beside_the_sources_fhir_base_on_the_same_server_is_fetched(gp, attachments):
    client, patient = gp
    beside = attachments.base_url.replace("/fhir", "/documents/letter.pdf")
    attachments.files["/documents/letter.pdf"] = (200, "application/pdf", PDF_BYTES)
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": beside}),
            base_url=attachments.base_url)  # fmt: skip

    assert open_document(client, patient).content == PDF_BYTES


@pytest.mark.parametrize(
    ("status", "said"),
    [(500, "Server error 500"), (404, "The source no longer has the document")],
)
def test_a_source_that_does_not_give_the_document_says_why(gp, attachments, status, said):
    client, patient = gp
    attachments.files["/fhir/Binary/doc-1"] = (status, "application/fhir+json", b"{}")
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": "Binary/doc-1"}),
            base_url=attachments.base_url)  # fmt: skip

    response = open_document(client, patient)

    assert response.status_code == 200
    assert f"Thameside Hospital: {said}." in response.content.decode()
    assert AccessEvent.objects.get().resource_ids == ["RXT/DocumentReference/doc-1"]


def test_a_source_that_does_not_answer_says_so_within_its_timeout(gp):
    client, patient = gp
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": "Binary/doc-1"}),
            base_url="http://127.0.0.1:9/fhir")  # fmt: skip

    page = open_document(client, patient).content.decode()

    assert "Thameside Hospital: Could not connect." in page


def test_a_document_the_record_does_not_list_is_not_found_and_no_look_is_recorded(gp):
    client, patient = gp
    holding(patient, document("doc-1", inline(b"hello", "text/plain")))

    for doc_id, ods_code in (("doc-2", "RXT"), ("doc-1", "NOPE")):
        response = open_document(client, patient, doc_id, ods_code)
        assert response.status_code == 404
        assert "Document not found" in response.content.decode()
        assert patient.family_name.upper() not in response.content.decode()
    assert not AccessEvent.objects.exists()


def test_someone_without_a_care_relationship_gets_404_and_nothing_is_fetched(client, attachments):
    team = make_team("Other Surgery", Team.Kind.GP_PRACTICE, ods_code="F84999")
    client.force_login(member(team, Role.GP, "stranger"))
    patient = PatientFactory()
    attachments.files["/fhir/Binary/doc-1"] = (200, "application/pdf", PDF_BYTES)
    holding(patient, document("doc-1", {"contentType": "application/pdf", "url": "Binary/doc-1"}),
            base_url=attachments.base_url)  # fmt: skip

    assert open_document(client, patient).status_code == 404
    assert attachments.asked == []
    assert not AccessEvent.objects.exists()


def test_a_mental_health_document_is_not_opened_by_a_role_that_does_not_see_those_sources(
    client,
):
    team = make_team("Riverside Social Care", Team.Kind.SOCIAL_CARE_TEAM, ods_code="SC1")
    client.force_login(member(team, Role.SOCIAL_WORKER, "social"))
    patient = PatientFactory()
    services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r", actor=UserFactory(username="o")
    )
    holding(patient, document("doc-1", inline(b"crisis plan", "text/plain")),
            kind=SourceSystem.Kind.MENTAL_HEALTH)  # fmt: skip

    response = open_document(client, patient)

    assert response.status_code == 404
    assert "crisis plan" not in response.content.decode()


def test_a_restricted_document_is_not_opened_by_a_role_that_may_not_see_restricted_content(
    gp, client
):
    _, patient = gp
    team = make_team("Royal London A&E", Team.Kind.AE_DEPARTMENT, ods_code="R1H")
    services.start_relationship(
        patient=patient, team=team, kind="referral", reason="r", actor=UserFactory(username="o")
    )
    client.force_login(member(team, Role.AE_CLINICIAN, "ae"))
    label = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                           "code": "R"}]}  # fmt: skip
    holding(
        patient,
        document("doc-1", inline(b"restricted letter", "text/plain"), meta=label),
        document("doc-2", inline(b"ordinary letter", "text/plain")),
    )

    response = open_document(client, patient)

    assert response.status_code == 404
    assert "restricted letter" not in response.content.decode()
    assert "ordinary letter" in open_document(client, patient, "doc-2").content.decode()


def test_a_look_that_cannot_be_recorded_shows_nothing(gp, monkeypatch):
    client, patient = gp
    holding(patient, document("doc-1", inline(b"secret letter", "text/plain")))

    def broken(**kwargs):
        raise DatabaseError("audit table unavailable")

    monkeypatch.setattr("care_record.reading.record_access", broken)
    response = open_document(client, patient)

    assert response.status_code == 503
    assert "secret letter" not in response.content.decode()


def test_each_document_in_the_record_table_links_to_the_document(gp):
    client, patient = gp
    holding(patient, document("doc-1", inline(b"hello", "text/plain")))

    page = client.get(reverse("patient-record", args=[patient.pk])).content.decode()

    address = reverse("patient-document", args=[patient.pk, "RXT", "doc-1"])
    assert f'href="{address}"' in page
    assert 'Open document<span class="nhsuk-u-visually-hidden">: Discharge summary' in page


def test_a_document_the_source_sent_without_an_id_is_listed_without_a_link_and_the_page_stands(
    gp,
):
    client, patient = gp
    nameless = {**document("", inline(b"hello", "text/plain")), "title": "Clinic letter"}
    holding(patient, nameless, document("doc-2", inline(b"hello", "text/plain")))

    response = client.get(reverse("patient-record", args=[patient.pk]) + "?heading=all")

    page = response.content.decode()
    assert response.status_code == 200 and "Clinic letter" in page
    assert page.count("Open document<span") == 2  # the one with an id: its heading, the timeline
    assert 'Open document<span class="nhsuk-u-visually-hidden">: Clinic letter' not in page


def test_opening_a_document_asks_the_database_a_bounded_number_of_queries(
    gp, django_assert_max_num_queries
):
    client, patient = gp
    holding(patient, *[document(f"doc-{n}", inline(b"a letter", "text/plain")) for n in range(300)])
    open_document(client, patient)  # the session and the role's policy, read once and cached

    with django_assert_max_num_queries(QUERIES_TO_OPEN_A_DOCUMENT):
        response = open_document(client, patient, "doc-299")

    assert "a letter" in response.content.decode()
