"""What the API returns of a record, as FHIR R4: the Patient, and Bundles of the source resources,
each marked with where it came from (meta.source, a Provenance per source) and each source's state
for this look (an OperationOutcome entry). Plain functions over a RecordView; no queries.

Resources a source sent in another FHIR version (GP Connect's STU3) are left out, never passed
off as R4: the OperationOutcome says per source how many and why (docs/api.md).
"""

import uuid
from typing import Any

from django.utils import timezone

from access.sensitivity import withheld_words
from care_record.reading import RecordView, SourceView
from partner_api.renderers import JsonText
from records.confidentiality import security_label
from records.fetching import SourceState
from records.identifiers import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from records.models import Patient
from records.stored_items import holds_resource, resource_text_with_source

SOURCE_STATE = "https://shared-care-record.example/CodeSystem/source-state"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
WITHHELD = "https://shared-care-record.example/CodeSystem/withheld-category"
HEADING = "https://shared-care-record.example/CodeSystem/record-heading"
# How each source state reads as an OperationOutcome issue: severity and FHIR issue type.
STATE_ISSUES = {
    SourceState.UP_TO_DATE: ("information", "informational"),
    SourceState.STALE: ("warning", "informational"),
    SourceState.LOADING: ("information", "incomplete"),
    SourceState.REFRESHING: ("information", "incomplete"),
    SourceState.UNAVAILABLE: ("error", "transient"),
}
R4_VERSION = "4.0.1"  # what a view item says of an R4 source's resource (ViewItem.fhir_version)
GENDERS = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}


def patient_resource(patient: Patient) -> dict[str, Any]:
    """The register's demographics as a FHIR R4 Patient (UK Core's NHS number identifier)."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": patient.nhs_number}],
        "name": [
            {
                "use": "official",
                "family": patient.family_name,
                "given": patient.given_names.split() or [patient.given_names],
                **({"prefix": [patient.prefix]} if patient.prefix else {}),
            }
        ],
        "gender": GENDERS.get(patient.sex, "unknown"),
        "birthDate": patient.birth_date.isoformat(),
    }
    contact = patient.contact
    if contact.restricted:
        # As PDS marks the person; the elements that would hold their details are left out.
        resource["meta"] = {"security": [security_label(patient.confidentiality)]}
    lines = [line for line in contact.address_lines.splitlines() if line.strip()]
    if lines or contact.city or contact.postcode:
        address: dict[str, Any] = {"use": "home"}
        if lines:
            address["line"] = lines
        if contact.city:
            address["city"] = contact.city
        if contact.postcode:
            address["postalCode"] = contact.postcode
        resource["address"] = [address]
    telecom = []
    if contact.phone:
        telecom.append({"system": "phone", "value": contact.phone})
    if contact.email:
        telecom.append({"system": "email", "value": contact.email})
    if telecom:
        resource["telecom"] = telecom
    if contact.gp_practice_ods_code:
        resource["generalPractitioner"] = [
            {
                "identifier": {"system": ODS_SYSTEM, "value": contact.gp_practice_ods_code},
                **({"display": contact.gp_practice_name} if contact.gp_practice_name else {}),
            }
        ]
    if patient.date_of_death:
        resource["deceasedDateTime"] = patient.date_of_death.isoformat()
    return resource


def search_bundle(patients: list[Patient], self_url: str) -> dict[str, Any]:
    """A searchset Bundle of the patients the client may see (none, if it may see nobody)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timezone.now().isoformat(),
        "total": len(patients),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": patient_resource(patient),
                "search": {"mode": "match"},
            }
            for patient in patients
        ],
    }


def record_bundle(record: RecordView, *, with_patient: bool = False) -> dict[str, Any]:
    """A collection Bundle of the source resources of every heading in the look, then a
    Provenance per source that gave any, then an OperationOutcome with each source's state."""
    entries: list[dict[str, Any]] = []
    if with_patient:
        patient = patient_resource(record.patient)
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": patient})
    by_source: dict[str, list[str]] = {}
    without_resource: dict[str, int] = {}
    other_versions: dict[str, tuple[str, int]] = {}
    base_urls = {state.source.ods_code: state.source.base_url for state in record.sources}
    for category in record.categories:
        for item in category.items:
            base_url = base_urls.get(item["source_ods_code"])
            if not holds_resource(item) or base_url is None:
                without_resource[item["source_ods_code"]] = (
                    without_resource.get(item["source_ods_code"], 0) + 1
                )
                continue
            version = item.get("fhir_version", R4_VERSION)
            if version != R4_VERSION:
                ods = item["source_ods_code"]
                other_versions[ods] = (version, other_versions.get(ods, (version, 0))[1] + 1)
                continue
            entry = _entry(item, base_url)
            entries.append(entry)
            by_source.setdefault(item["source_ods_code"], []).append(entry["fullUrl"])
    for state in record.sources:
        targets = by_source.get(state.source.ods_code)
        if targets:
            entries.append(
                {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": _provenance(state, targets)}
            )
    entries.append(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": sources_outcome(record, without_resource, other_versions),
        }
    )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": entries,
    }


def sources_outcome(
    record: RecordView,
    without_resource: dict[str, int],
    other_versions: dict[str, tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """Each source's state for this look, then each heading's from each source, then each
    heading withheld by the role's policy. `other_versions`: per source, the FHIR version and
    count of the resources left out for not being R4."""
    issues = []
    for state in record.sources:
        severity, code = STATE_ISSUES[state.state]
        words = f"{state.source.name} ({state.source.ods_code}): {state.state.label}"
        if state.fetched_at:
            words += f", fetched at {timezone.localtime(state.fetched_at).isoformat()}"
        if state.reason:
            words += f" ({state.reason})"
        if state.withheld:
            words += "; withheld: " + "; ".join(state.withheld)
            if severity == "information":
                severity, code = "warning", "incomplete"  # the source sent more than is shown
        missing = without_resource.get(state.source.ods_code)
        if missing:
            words += f"; {missing} item(s) fetched before source resources were kept"
        source = {"system": ODS_SYSTEM, "code": state.source.ods_code, "display": state.source.name}
        issues.append(
            {
                "severity": severity,
                "code": code,
                "details": {
                    "coding": [
                        {"system": SOURCE_STATE, "code": state.state.value},
                        source,
                    ],
                    "text": words,
                },
            }
        )
    issues += heading_issues(record)
    names = {state.source.ods_code: state.source.name for state in record.sources}
    for ods_code, (version, count) in (other_versions or {}).items():
        name = names.get(ods_code, ods_code)
        issues.append(
            {
                "severity": "warning",
                "code": "not-supported",
                "details": {
                    "coding": [{"system": ODS_SYSTEM, "code": ods_code, "display": name}],
                    "text": f"{name} ({ods_code}): {count} item(s) in FHIR {version} "
                    "(GP Connect, STU3) left out: this API returns FHIR R4 only, and they are "
                    "not converted; the record page shows them",
                },
            }
        )
    for category in record.decision.denied_categories:
        issues.append(
            {
                "severity": "warning",
                "code": "suppressed",
                "details": {
                    "coding": [{"system": WITHHELD, "code": category}],
                    "text": f"{category}: not shown to this role",
                },
            }
        )
    if not issues:
        issues.append(
            {"severity": "information", "code": "informational",
             "details": {"text": "No source holds records for this patient."}}
        )  # fmt: skip
    return {"resourceType": "OperationOutcome", "issue": issues}


def heading_issues(record: RecordView) -> list[dict[str, Any]]:
    """An issue per heading and source, as the page says it: shown N, withheld M and why, or
    why it failed, or that it has not answered yet."""
    issues = []
    for category in record.categories:
        other_versions: dict[str, int] = {}
        for item in category.items:
            if item.get("fhir_version", R4_VERSION) != R4_VERSION:
                ods = item["source_ods_code"]
                other_versions[ods] = other_versions.get(ods, 0) + 1
        for part in category.sources:
            words = f"{category.label} from {part.source.name} ({part.source.ods_code}): "
            left_out = other_versions.get(part.source.ods_code, 0)
            if part.state is SourceState.LOADING:
                severity, code = "information", "incomplete"
                # As the page says it: "asking", "retrying (2 of 3): server error 500".
                words += str(part.words).lower() if part.words else "not answered yet"
            else:
                severity, code = "information", "informational"
                words += f"{part.shown} shown, {part.withheld} withheld"
                if part.withheld or part.withheld_reason:
                    # A count, or the source's word that something was not sent (no count).
                    severity, code = "warning", "incomplete"
                    words += f"; it {part.withheld_reason}"
                if left_out:
                    # Shown on the page, but not in this R4 Bundle: the heading is not whole here.
                    severity, code = "warning", "incomplete"
                    words += f"; {left_out} in FHIR 3.0.1 (STU3) left out of this R4 Bundle"
                if part.sensitive:
                    # Not shown to this role: said as the page says it, never "none recorded".
                    severity, code = "warning", "suppressed"
                    words += f"; {withheld_words(part.sensitive)}"
                if part.reason:
                    severity, code = "error", "incomplete"
                    words += f"; unavailable: {part.reason}"
                elif part.state.asking:
                    severity, code = "information", "incomplete"
                    words += f"; {part.words.brief.lower() if part.words else 'refreshing'}"
            codings = [
                {"system": SOURCE_STATE, "code": part.state.value},
                {"system": ODS_SYSTEM, "code": part.source.ods_code, "display": part.source.name},
                {"system": HEADING, "code": category.category, "display": category.label},
            ]
            issues.append(
                {
                    "severity": severity,
                    "code": code,
                    "details": {"coding": codings, "text": words},
                }
            )
    return issues


def _entry(item: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The source's resource as it is, but for meta.source, at where it lives at its source
    (relative references in it resolve from there). Stored as text, it is spliced in as text;
    an item cached before then holds it as data: a new top level and meta, the rest shared with
    the snapshot (a deep copy was half of the API read's time)."""
    text = resource_text_with_source(item, base_url)
    if text is not None:
        # The view item's type and id are the resource's own (records.sources.view_items).
        path = f"{item['resource_type']}/{item['resource_id']}"
        return {"fullUrl": f"{base_url.rstrip('/')}/{path}", "resource": JsonText(text)}
    resource = item["resource"]
    full_url = f"{base_url.rstrip('/')}/{resource.get('resourceType')}/{resource.get('id', '')}"
    meta = {**resource.get("meta", {}), "source": base_url}
    return {"fullUrl": full_url, "resource": {**resource, "meta": meta}}


def _provenance(state: SourceView, targets: list[str]) -> dict[str, Any]:
    recorded = state.fetched_at or timezone.now()
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in targets],
        "recorded": timezone.localtime(recorded).isoformat(),
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]},
                "who": {
                    "identifier": {"system": ODS_SYSTEM, "value": state.source.ods_code},
                    "display": state.source.name,
                },
            }
        ],
    }
