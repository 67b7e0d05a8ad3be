"""What the simulated sources' hard shapes read as, through the real fetch path (HTTP, adapter,
snapshot): GP2GP-degraded allergies, an allergy entered in error, a refuted diagnosis, medicines
named only by a Medication resource, device readings, a test with no result, a missed
appointment. Modelled on UK Core R4 and GP Connect examples; see demo/clinical.py."""

import pytest

from records.categories import Category
from records.fetching import fetch_link
from records.models import Snapshot
from records.stored_items import stored_resource
from tests.fetch_helpers import link_everywhere

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def record(population, simulated_source):
    """Person 0, known to all five sources, whose record has every shape."""
    return link_everywhere(population, simulated_source, population.people[0])


def fetched(record, source_key, category):
    link = record.links[source_key]
    fetch_link(link_id=link.pk, categories=[category], final_attempt=True)
    return Snapshot.objects.get(link=link, category=category).items


def by_title(items, title):
    return [item for item in items if item["title"] == title]


def test_medicines_named_only_by_a_medication_resource_are_named(record):
    medicines = fetched(record, "acute", Category.MEDICINES)

    [contained] = by_title(medicines, "Paracetamol 500mg tablets")  # Medication "#med1"
    [alongside] = by_title(medicines, "Ramipril 10mg capsules")  # _include=...:medication
    assert (alongside["code_system"], alongside["code"]) == ("https://dmd.nhs.uk", "318906001")
    assert {"MedicationRequest", "Medicine not named by the source"}.isdisjoint(
        item["title"] for item in medicines
    )
    assert stored_resource(contained)["medicationReference"] == {"reference": "#med1"}


def test_degraded_and_retracted_allergies_read_as_what_they_are(record):
    allergies = fetched(record, "gp", Category.ALLERGIES)

    degraded = [item for item in allergies if item["code"] == "196461000000101"]
    assert [item["title"] for item in degraded] == ["Septrin", "Egg protein", "Amoxicillin"]
    assert all("Moved between GP systems without its code" in i["detail"] for i in degraded)
    [latex] = by_title(allergies, "Latex")
    assert (latex["retracted"], latex["status"]) == ("Entered in error", "Entered in error")


def test_a_refuted_diagnosis_is_retracted(record):
    [asthma] = by_title(fetched(record, "gp", Category.PROBLEMS), "Asthma")
    assert asthma["retracted"] == "Refuted"


def test_readings_without_a_date_time_or_a_result_still_say_when_and_why(record):
    results = fetched(record, "gp", Category.TEST_RESULTS)

    [saturation] = by_title(results, "Oxygen saturation")  # effectiveInstant
    assert saturation["date"] and saturation["value"] == "97%"
    [potassium] = [i for i in results if i["title"] == "Potassium" and not i["value"][:1].isdigit()]
    assert potassium["value"] == "Not recorded: specimen unsatisfactory (haemolysed)"
    assert "142/94 mmHg" in {item["value"] for item in results}
    assert not any("millimeter" in item["value"] for item in results)


def test_a_missed_appointment_says_did_not_attend(record):
    appointments = fetched(record, "gp", Category.APPOINTMENTS)
    assert "Did not attend" in {item["status"] for item in appointments}
    assert "noshow" not in {item["status"] for item in appointments}
