"""The API's JSON is written by orjson, for speed, as DRF's own renderer writes it."""

import datetime
import decimal
import json
import uuid

from django.utils.functional import lazy
from rest_framework.renderers import JSONRenderer as DrfJsonRenderer

from partner_api.renderers import FhirJsonRenderer, JsonRenderer, JsonText

LONDON = datetime.timezone(datetime.timedelta(hours=1))


def _every_kind_of_value() -> dict:
    return {
        "resourceType": "Bundle",
        "text": "Ôlá, Zoë — café",
        "at": datetime.datetime(2026, 11, 29, 14, 5, 6, 123456, tzinfo=datetime.UTC),
        "local": datetime.datetime(2026, 6, 1, 9, 0, tzinfo=LONDON),
        "naive": datetime.datetime(2026, 6, 1, 9, 0, 0, 500),
        "day": datetime.date(1954, 1, 15),
        "time": datetime.time(8, 30, 0, 250000),
        "span": datetime.timedelta(hours=4),
        "dose": decimal.Decimal("2.5"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "label": lazy(lambda: "Allergies and reactions", str)(),
        "counts": {1: "one", 2: "two"},
        "entry": [{"n": 1, "ok": True, "none": None, "big": 2**53, "ratio": 0.1}],
    }


def test_every_kind_of_value_is_written_byte_for_byte_as_drf_writes_it():
    data = _every_kind_of_value()
    assert JsonRenderer().render(data) == DrfJsonRenderer().render(data)
    assert FhirJsonRenderer().render(data) == DrfJsonRenderer().render(data)


def test_what_orjson_cannot_write_is_written_by_drf():
    data = {"huge": 2**70, "small": -(2**64)}
    assert JsonRenderer().render(data) == DrfJsonRenderer().render(data)
    assert json.loads(JsonRenderer().render(data)) == data


def test_a_float_may_be_spelled_otherwise_but_reads_the_same():
    data = {"dose": 0.00005, "big": 1e22, "third": 1 / 3}
    assert json.loads(JsonRenderer().render(data)) == json.loads(DrfJsonRenderer().render(data))


def test_indented_json_when_asked_for_and_nothing_for_no_data():
    data = {"resourceType": "Bundle", "entry": []}
    indented = JsonRenderer().render(data, "application/json; indent=2")
    assert indented == DrfJsonRenderer().render(data, "application/json; indent=2")
    assert json.loads(indented) == data
    assert JsonRenderer().render(None) == b""


def test_json_already_written_is_spliced_in_as_it_is_and_decoded_where_drf_writes():
    written = '{"resourceType":"Condition","id":"c1","note":[{"text":"Ôlá"}]}'
    data = {"entry": [{"resource": JsonText(written)}], "big": 1}
    as_it_is = b'{"entry":[{"resource":' + written.encode() + b'}],"big":1}'
    assert JsonRenderer().render(data) == as_it_is
    expected = {"entry": [{"resource": json.loads(written)}], "big": 1}
    indented = JsonRenderer().render(data, "application/json; indent=2")
    assert json.loads(indented) == expected
    huge = {**data, "big": 2**70}  # orjson refuses the whole answer: DRF writes it all
    assert json.loads(JsonRenderer().render(huge)) == {**expected, "big": 2**70}


RESOURCES = [
    {"resourceType": "Condition", "id": "c1", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "38341003"}]},
     "meta": {"lastUpdated": "2026-10-01T09:00:00+00:00", "source": "http://elsewhere/fhir",
              "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "PSY"}]}},
    {"resourceType": "AllergyIntolerance", "id": "a1", "note": [{"text": "Zoë \u2028 \"x\""}]},
    {"resourceType": "Observation", "id": "o1", "valueQuantity": {"value": 0.00005}},
]  # fmt: skip


def test_the_bundle_of_stored_resources_says_what_it_said_when_they_were_kept_as_data():
    """Resources stored as text (records.stored_items) reach the Bundle as the same FHIR as the
    resources an earlier snapshot kept as data: each with meta.source, its own meta kept, at
    its address at its source; and meta.source is the source's address at this read."""
    from care_record.fhir_export import record_bundle
    from records.sources.view_items import view_item
    from tests.test_gp_connect import _record_view

    def bundle_of(items: list[dict], base_url: str) -> list[dict]:
        record = _record_view([{**item, "source_ods_code": "Y90001"} for item in items])
        record.sources[0].source.base_url = base_url
        written = json.loads(FhirJsonRenderer().render(record_bundle(record)))
        return [entry for entry in written["entry"] if "fullUrl" in entry][: len(items)]

    as_text = [view_item(resource).as_dict() for resource in RESOURCES]
    assert all("resource_text" in item and "resource" not in item for item in as_text)
    as_data = [{**view_item(resource).as_dict(), "resource": resource} for resource in RESOURCES]
    for base_url in ("http://gp/fhir", "https://gp.example/fhir/"):
        spliced, decoded = bundle_of(as_text, base_url), bundle_of(as_data, base_url)
        assert spliced == decoded
        assert [entry["resource"]["meta"]["source"] for entry in spliced] == [base_url] * 3
        assert spliced[0]["fullUrl"] == f"{base_url.rstrip('/')}/Condition/c1"
        assert spliced[0]["resource"]["meta"]["security"] == RESOURCES[0]["meta"]["security"]
        assert [{k: v for k, v in e["resource"].items() if k != "meta"} for e in spliced] == [
            {k: v for k, v in resource.items() if k != "meta"} for resource in RESOURCES
        ]
