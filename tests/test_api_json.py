"""The API's JSON is written by orjson, for speed, as DRF's own renderer writes it."""

import datetime
import decimal
import json
import uuid

from django.utils.functional import lazy
from rest_framework.renderers import JSONRenderer as DrfJsonRenderer

from partner_api.renderers import FhirJsonRenderer, JsonRenderer

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
