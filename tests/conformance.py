"""The conformance figure of docs/fetching.md: every reference fixture (tests/reference_fixtures.py)
served alone by a real HTTP source and read by the FHIR adapter, then counted by resource type as
shown correctly, withheld with its reason, refused as about someone else, or wrong.

Run: .venv/bin/python -m tests.conformance   (no database needed; prints a Markdown table)
"""

from collections import Counter
from dataclasses import dataclass

from records.sources.errors import WrongPatientInResponse
from records.sources.fhir_adapter import FhirAdapter
from records.sources.limits import ResponseLimits
from tests.fixture_source import FixtureSource
from tests.reference_fixtures import (
    ALIAS,
    BASES,
    FORMS,
    LOCAL_ID,
    NHS_NUMBER,
    REFUSED,
    SHOWN,
    WITHHELD,
    Form,
    entries_for,
)

LIMITS = ResponseLimits(
    max_bytes=10**7, max_decompressed_bytes=10**7, max_depth=100, max_string_chars=100_000
)
# Which heading each type is read under.
HEADINGS = {
    "AllergyIntolerance": "allergies", "Condition": "problems", "Observation": "test_results",
    "DiagnosticReport": "test_results", "MedicationRequest": "medicines",
    "Immunization": "immunisations", "Encounter": "encounters",
    "DocumentReference": "documents", "Appointment": "appointments",
}  # fmt: skip


@dataclass(frozen=True)
class Judged:
    resource_type: str
    form: Form
    outcome: str  # shown, withheld, refused, or what went wrong
    reason: str

    @property
    def correct(self) -> bool:
        if self.outcome != self.form.expected:
            return False
        return self.outcome != WITHHELD or self.form.reason in self.reason


def judge_all(source: FixtureSource) -> list[Judged]:
    """Every type in every form, each served alone and read through the adapter."""
    judged = []
    for resource_type in BASES:
        for form in FORMS:
            source.entries.clear()
            source.serve(resource_type, *entries_for(resource_type, form, source.base_url))
            judged.append(Judged(resource_type, form, *_read(source, resource_type)))
    return judged


def _read(source: FixtureSource, resource_type: str) -> tuple[str, str]:
    adapter = FhirAdapter(
        source.base_url, timeout=5, budget_seconds=30, limits=LIMITS, max_per_category=2000,
        max_per_look=10_000, supported_types=frozenset({resource_type}), alias_base_urls=(ALIAS,),
    )  # fmt: skip
    try:
        fetched = adapter.fetch_category(
            local_id=LOCAL_ID, category=HEADINGS[resource_type], nhs_number=NHS_NUMBER
        )
    except WrongPatientInResponse as exc:
        return REFUSED, exc.reason
    if len(fetched.items) == 1 and not fetched.withheld:
        return SHOWN, ""
    if not fetched.items and fetched.withheld == 1 and fetched.withheld_reason:
        return WITHHELD, fetched.withheld_reason
    return f"{len(fetched.items)} shown, {fetched.withheld} withheld", fetched.withheld_reason


def table(judged: list[Judged]) -> str:
    """By resource type: how many, shown correctly, withheld with reason, refused, wrong."""
    counts: dict[str, Counter] = {}
    for one in judged:
        row = counts.setdefault(one.resource_type, Counter())
        row["fixtures"] += 1
        row[one.outcome if one.correct else "wrong"] += 1
    lines = [
        "| resource type | fixtures | shown correctly | withheld with reason "
        "| refused (someone else) | wrong |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    total: Counter = Counter()
    for resource_type, row in counts.items():
        total.update(row)
        lines.append(_line(resource_type, row))
    lines.append(_line("**all**", total))
    return "\n".join(lines)


def _line(name: str, row: Counter) -> str:
    cells = (row["fixtures"], row[SHOWN], row[WITHHELD], row[REFUSED], row["wrong"])
    return f"| {name} | " + " | ".join(str(cell) for cell in cells) + " |"


def main() -> int:
    source = FixtureSource()
    try:
        judged = judge_all(source)
    finally:
        source.stop()
    print(table(judged))
    for one in judged:
        if not one.correct:
            print(f"wrong: {one.resource_type}, {one.form.name}: {one.outcome} {one.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
