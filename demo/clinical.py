"""Clinical content each simulated source holds about each person, as FHIR R4 resources.

Computed on demand from (seed, person, source), so it is deterministic and never stored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from demo import fhir_resources as fhir
from demo.fhir_resources import LOCAL_CODE_SYSTEMS, LOINC, SNOMED, Resource, concept
from demo.population import REFERENCE_DATE, Person, Population, SourceSpec
from demo.terminology import (
    ALLERGENS,
    CHRONIC_CONDITIONS,
    LAB_PANELS,
    LAB_TESTS,
    MEDICINES,
    MENTAL_HEALTH_CONDITIONS,
    PRESENTATIONS,
    REACTIONS,
    TREATMENTS,
    VACCINES,
    condition_concept,
    medicine_concept,
)

# What each kind of organisation holds; Patient is served by every source as well.
SERVED_TYPES: dict[str, tuple[str, ...]] = {
    "gp": (
        "AllergyIntolerance", "MedicationStatement", "Condition", "Immunization", "Observation",
        "DiagnosticReport", "Encounter", "Appointment", "ServiceRequest", "Flag",
    ),
    "acute": (
        "AllergyIntolerance", "MedicationRequest", "Condition", "Observation", "DiagnosticReport",
        "Encounter", "Appointment", "ServiceRequest", "DocumentReference", "Flag",
    ),
    "community": (
        "Observation", "Immunization", "Encounter", "Appointment", "ServiceRequest", "CarePlan",
        "Flag",
    ),
    "mental_health": (
        "Condition", "Encounter", "Appointment", "ServiceRequest", "CarePlan", "Flag",
    ),
    "social_care": ("Encounter", "Appointment", "ServiceRequest", "CarePlan", "Flag"),
}  # fmt: skip
CLINICAL_TYPES: frozenset[str] = frozenset(t for types in SERVED_TYPES.values() for t in types)
# The record's categories (DESIGN.md) and the resource types that carry them: the product's own
# table (plain data, no Django), so that the demo covers exactly what the record asks for.
# Resource ids are "<local id>-<tag>-<n>", so a server can find the owner of any id.
ID_TAGS: dict[str, str] = {
    "AllergyIntolerance": "alg", "MedicationStatement": "mst", "MedicationRequest": "mrq",
    "Condition": "con", "Immunization": "imm", "Observation": "obs", "DiagnosticReport": "rep",
    "Encounter": "enc", "Appointment": "apt", "ServiceRequest": "ref", "CarePlan": "cpl",
    "Flag": "flg", "DocumentReference": "doc",
}  # fmt: skip


@dataclass(frozen=True)
class _Profile:
    """Facts about a person's health that every source's record must agree on."""

    conditions: tuple[tuple[str, date], ...]
    major_event: str | None
    allergies: tuple[tuple[int, tuple[str, ...]], ...]
    medicines: tuple[str, ...]
    lives_alone: bool
    housebound: bool
    dnacpr: bool

    def has(self, condition: str) -> bool:
        return any(key == condition for key, _ in self.conditions)

    @property
    def allergic_to_penicillin(self) -> bool:
        return any(ALLERGENS[i][1] == "Penicillin" for i, _ in self.allergies)


def resources_for(
    population: Population, person: Person, source_key: str
) -> dict[str, list[Resource]]:
    """Every clinical resource `source_key` holds about `person`, by resource type."""
    record = _Record(population.source(source_key), person, population.seed)
    if person.known_to(source_key):
        _BUILDERS[source_key](record, _profile(population.seed, person))
    return record.resources


def medications_for(population: Population, person: Person, source_key: str) -> dict[str, Resource]:
    """The Medication resources `source_key` holds apart from its requests, by reference
    ("Medication/<id>"): what a search with `_include=MedicationRequest:medication` adds."""
    record = _Record(population.source(source_key), person, population.seed)
    if person.known_to(source_key):
        _BUILDERS[source_key](record, _profile(population.seed, person))
    return record.medications


def _profile(seed: int, person: Person) -> _Profile:
    rng = random.Random(f"{seed}:{person.index}:profile")
    age = person.age_on()
    # Person 0, the showcase known to every source, always has a record worth demonstrating.
    showcase = person.index == 0
    conditions = ["hypertension", "diabetes"] if showcase else []
    for key, (_, _, min_age, chance, _) in CHRONIC_CONDITIONS.items():
        if age >= min_age and rng.random() < chance and key not in conditions:
            conditions.append(key)
    if person.known_to("mental_health") and not set(conditions) & set(MENTAL_HEALTH_CONDITIONS):
        if age < 18:
            conditions.append(rng.choice(("depression", "anxiety")))
        else:
            conditions.append(rng.choices(MENTAL_HEALTH_CONDITIONS, weights=(55, 25, 10, 10))[0])
    onsets = tuple((key, _onset(rng, person)) for key in conditions)
    major_event = rng.choice(("mi", "stroke")) if age >= 50 and rng.random() < 0.06 else None
    allergies = (
        tuple(
            (i, tuple(rng.sample(ALLERGENS[i][4], rng.randint(1, 2))))
            for i in sorted(rng.sample(range(len(ALLERGENS)), rng.randint(1, 2)))
        )
        if rng.random() < 0.2
        else ()
    )
    if showcase:
        allergies = ((0, ("rash", "hives")), *(a for a in allergies if a[0] != 0))
    allergic = {ALLERGENS[i][1] for i, _ in allergies}
    medicines = []
    for key in [*conditions, *([major_event] if major_event else [])]:
        for medicine in TREATMENTS.get(key, ()):
            if medicine not in medicines and medicine.title() not in allergic:
                medicines.append(medicine)
    frail = age >= 75 or "dementia" in conditions or "heart_failure" in conditions
    return _Profile(
        conditions=onsets,
        major_event=major_event,
        allergies=allergies,
        medicines=tuple(medicines),
        lives_alone=showcase or (age >= 18 and rng.random() < (0.35 if age >= 65 else 0.1)),
        # District nurses mostly visit people who cannot get out.
        housebound=(frail or (age >= 60 and person.known_to("community"))) and rng.random() < 0.5,
        dnacpr=(age >= 80 or "dementia" in conditions) and rng.random() < 0.35,
    )


def _onset(rng: random.Random, person: Person) -> date:
    """A diagnosis date after birth and before death (or the reference date)."""
    end = person.deceased_date or REFERENCE_DATE
    span = (end - person.birth_date).days
    low = min(60, span // 2)
    return end - timedelta(days=rng.randint(low, max(low, min(span - 1, 7300))))


@dataclass
class _Record:
    """The resources being built for one person at one source, with their ids and dates."""

    source: SourceSpec
    person: Person
    seed: int
    resources: dict[str, list[Resource]] = field(default_factory=dict)
    medications: dict[str, Resource] = field(default_factory=dict)  # by "Medication/<id>"

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.person.index}:{self.source.key}")
        self.local_id = self.person.local_ids.get(self.source.key, "")
        self.resources = {resource_type: [] for resource_type in SERVED_TYPES[self.source.key]}
        self.last_day = self.person.deceased_date or REFERENCE_DATE
        earliest = max(self.person.birth_date, REFERENCE_DATE - timedelta(days=3 * 365))
        self.first_day = min(earliest + timedelta(days=1), self.last_day - timedelta(days=1))
        self.alive = self.person.deceased_date is None
        self.staff = self.person.gp_name if self.source.key == "gp" else self._staff_name()

    def add(self, resource: Resource) -> str:
        """Give the resource its id (unique within the source) and keep it; return the id."""
        resource_type = resource["resourceType"]
        resource_id = self._next_id(resource_type)
        self.resources[resource_type].append(
            {"resourceType": resource_type, "id": resource_id, **resource}
        )
        return resource_id

    def _next_id(self, resource_type: str) -> str:
        kept = self.resources[resource_type]
        return f"{self.local_id}-{ID_TAGS[resource_type]}-{len(kept) + 1}"

    def letter_url(self) -> str:
        """Where the next DocumentReference added has its PDF: `Binary/<its id>` (demo/letters)."""
        return f"Binary/{self._next_id('DocumentReference')}"

    def moment(self, earliest: date | None = None, latest: date | None = None) -> datetime:
        """A working-hours moment between two days (default: the record's past window)."""
        low, high = earliest or self.first_day, latest or self.last_day - timedelta(days=1)
        day = low + timedelta(days=self.rng.randint(0, max(0, (high - low).days)))
        return datetime.combine(
            day, time(self.rng.randint(8, 16), self.rng.choice((0, 15, 30, 45)))
        )

    def future(self) -> datetime:
        return self.moment(REFERENCE_DATE + timedelta(days=3), REFERENCE_DATE + timedelta(days=120))

    def _staff_name(self) -> str:
        titles = {"social_care": "Social worker", "community": "District nurse"}
        title = titles.get(self.source.key, "Dr")
        first = self.rng.choice(("Alex", "Sam", "Jordan", "Priya", "Tunde", "Helen", "Marek"))
        last = self.rng.choice(("Morgan", "Ellis", "Bello", "Kaur", "Fraser", "Lindqvist"))
        return f"{title} {first} {last}"

    def lab_report(
        self, panel: str, tests: dict[str, float], at: datetime, conclusion: str | None = None
    ) -> None:
        ids = []
        for key, value in tests.items():
            code, display, text, unit, reference = LAB_TESTS[key]
            ids.append(
                self.add(
                    fhir.observation(
                        self.local_id,
                        code=concept(LOINC, code, display, text),
                        category="laboratory",
                        effective=at,
                        value=fhir.quantity(value, unit),
                        reference_range=reference,
                        performer=f"{self.source.name} Pathology",
                    )
                )
            )
        code, display, text = LAB_PANELS[panel]
        self.add(
            fhir.diagnostic_report(
                self.local_id,
                code=concept(LOINC, code, display, text),
                effective=at,
                result_ids=ids,
                performer=f"{self.source.name} Pathology",
                conclusion=conclusion,
            )
        )

    def blood_pressure(self, at: datetime, high: bool) -> None:
        systolic = self.rng.randint(135, 168) if high else self.rng.randint(104, 134)
        self.add(
            fhir.observation(
                self.local_id,
                code=concept(
                    LOINC,
                    "85354-9",
                    "Blood pressure panel with all children optional",
                    "Blood pressure",
                ),
                category="vital-signs",
                effective=at,
                performer=self.staff,
                components=[
                    (
                        concept(LOINC, "8480-6", "Systolic blood pressure"),
                        fhir.quantity(systolic, "mm[Hg]"),
                    ),
                    (
                        concept(LOINC, "8462-4", "Diastolic blood pressure"),
                        fhir.quantity(self.rng.randint(62, 96), "mm[Hg]"),
                    ),
                ],
            )
        )

    def vital(self, code: str, display: str, value: float, unit: str, at: datetime) -> None:
        self.add(
            fhir.observation(
                self.local_id,
                code=concept(LOINC, code, display),
                category="vital-signs",
                effective=at,
                value=fhir.quantity(value, unit),
                performer=self.staff,
            )
        )

    def encounter(
        self,
        kind: tuple[str, str],
        code: dict[str, Any],
        start: datetime,
        minutes: int,
        service: str | None,
        **extra: Any,
    ) -> str:
        return self.add(
            fhir.encounter(
                self.local_id,
                encounter_class=kind,
                encounter_type=code,
                status="finished",
                start=start,
                end=start + timedelta(minutes=minutes),
                service=service,
                practitioner=self.staff,
                provider=self.source,
                **extra,
            )
        )

    def appointments(self, service: str, description: str, minutes: int) -> None:
        """One or two past appointments (mostly attended) and, for the living, a booked one."""
        slots = [
            (self.moment(), self.rng.choices(("fulfilled", "noshow", "cancelled"), (8, 1, 1))[0])
        ]
        if self.rng.random() < 0.5:
            slots.append((self.moment(), "fulfilled"))
        if self.alive:
            slots.append((self.future(), "booked"))
        for start, status in sorted(slots):
            booked = min(
                start - timedelta(days=self.rng.randint(3, 40)),
                datetime.combine(REFERENCE_DATE, time(9)),
            )
            self.add(
                fhir.appointment(
                    self.local_id,
                    status=status,
                    service=service,
                    description=description,
                    start=start,
                    minutes=minutes,
                    booked=booked,
                    practitioner=self.staff,
                    follow_up=len(self.resources["Appointment"]) > 0,
                )
            )

    def referral(
        self, to: str, performer: str, reason: dict[str, Any] | None, status: str = "active"
    ) -> None:
        self.add(
            fhir.service_request(
                self.local_id,
                status=status,
                referral_to=to,
                performer=performer,
                requester=f"{self.staff}, {self.source.name}",
                authored=self.moment(),
                reason=reason,
                urgent=self.rng.random() < 0.2,
            )
        )

    def flag(self, category: tuple[str, str], code: dict[str, Any]) -> None:
        recorded = self.moment()
        self.add(
            fhir.flag(
                self.local_id,
                category=category,
                code=code,
                start=recorded.date(),
                author=f"{self.staff}, {self.source.name}",
                recorded=recorded,
            )
        )

    def local_code(self, code: str, display: str) -> dict[str, Any]:
        return concept(LOCAL_CODE_SYSTEMS[self.source.key], code, display)

    def care_plan(
        self, category: dict[str, Any], title: str, description: str, activities: list[str]
    ) -> None:
        created = self.moment()
        self.add(
            fhir.care_plan(
                self.local_id,
                category=category,
                title=title,
                description=description,
                start=created.date(),
                activities=activities,
                author=f"{self.staff}, {self.source.name}",
                created=created,
            )
        )


def _allergies(r: _Record, profile: _Profile) -> None:
    recorded = r.moment()
    if not profile.allergies:
        r.add(
            fhir.allergy_intolerance(
                r.local_id,
                recorded=recorded,
                code=concept(SNOMED, "716186003", "No known allergy"),
                category=None,
                criticality=None,
                reactions=[],
                recorder=r.staff,
            )
        )
    for index, reactions in profile.allergies:
        code, display, category, criticality, _ = ALLERGENS[index]
        r.add(
            fhir.allergy_intolerance(
                r.local_id,
                recorded=recorded,
                code=concept(SNOMED, code, display),
                category=category,
                criticality=criticality,
                reactions=[
                    (
                        concept(SNOMED, *REACTIONS[reaction]),
                        "severe"
                        if reaction == "anaphylaxis"
                        else r.rng.choice(("mild", "moderate")),
                    )
                    for reaction in reactions
                ],
                recorder=r.staff,
            )
        )


def _gp(r: _Record, profile: _Profile) -> None:
    person, age = r.person, r.person.age_on()
    _allergies(r, profile)
    problems = [*profile.conditions]
    if profile.major_event:
        problems.append((profile.major_event, r.moment().date()))
    for key, onset in problems:
        r.add(
            fhir.condition(
                r.local_id,
                code=condition_concept(key),
                category="problem-list-item",
                onset=onset,
                recorded=r.moment(max(onset, r.first_day)),
                active=True,
            )
        )
    for key in profile.medicines:
        start = r.moment()
        r.add(
            fhir.medication_statement(
                r.local_id,
                medicine=medicine_concept(key),
                status="active" if r.alive else "stopped",
                start=start.date(),
                end=None if r.alive else person.deceased_date,
                dosage=MEDICINES[key][2],
                recorded=start,
                source_name=person.gp_practice.name,
            )
        )
    if not profile.allergic_to_penicillin and r.rng.random() < 0.25:
        start = r.moment()
        r.add(
            fhir.medication_statement(
                r.local_id,
                medicine=medicine_concept("amoxicillin"),
                status="completed",
                start=start.date(),
                end=start.date() + timedelta(days=5),
                dosage=MEDICINES["amoxicillin"][2],
                recorded=start,
                source_name=person.gp_practice.name,
            )
        )
    _vaccinations(r, profile, age)
    if age >= 16:
        for _ in range(r.rng.randint(1, 3)):
            r.blood_pressure(r.moment(), profile.has("hypertension"))
        bmi = round(r.rng.uniform(19, 36), 1)
        r.vital("39156-5", "Body mass index (BMI) [Ratio]", bmi, "kg/m2", r.moment())
    if profile.has("diabetes"):
        for _ in range(2):
            r.lab_report("hba1c", {"hba1c": round(r.rng.uniform(6.2, 9.4), 1)}, r.moment())
    if any(profile.has(k) for k in ("hypertension", "diabetes", "ckd")) or r.rng.random() < 0.15:
        creatinine = r.rng.randint(120, 220) if profile.has("ckd") else r.rng.randint(55, 105)
        r.lab_report("ue", _electrolytes(r, creatinine), r.moment())
    for _ in range(r.rng.randint(1, 4)):
        telephone = r.rng.random() < 0.35
        kind = ("VR", "virtual") if telephone else ("AMB", "ambulatory")
        code = ("185317003", "Telephone encounter") if telephone else ("11429006", "Consultation")
        reason = condition_concept(r.rng.choice(problems)[0]) if problems else None
        r.encounter(kind, concept(SNOMED, *code), r.moment(), 10, "General practice", reason=reason)
    r.appointments("General practice", f"Appointment with {person.gp_name}", 10)
    for key, _ in profile.conditions:
        if r.rng.random() < 0.3:
            specialty = CHRONIC_CONDITIONS[key][4]
            performer = (
                "South Thames Mental Health NHS Foundation Trust"
                if specialty == "Psychiatry"
                else "Thameside University Hospitals NHS Trust"
            )
            r.referral(
                specialty, performer, condition_concept(key), r.rng.choice(("active", "completed"))
            )
    _social_flags(r, profile)
    if profile.dnacpr:
        r.flag(
            ("advance-directive", "Advance Directive"),
            concept(SNOMED, "304253006", "Not for resuscitation", "DNACPR in place"),
        )
    if holds_sensitive_diagnosis(person):
        _sensitive_diagnosis(r)
    if person.index == 0:
        _gp_shapes_to_read_right(r)


def holds_sensitive_diagnosis(person: Person) -> bool:
    """Some people social care supports have an HIV diagnosis at their practice, so that the
    demo shows what a sensitive item does: a social worker (or an A&E clinician through a
    relationship) sees it withheld and counted, emergency access shows it with a warning."""
    return person.index % 5 == 1 and person.known_to("social_care")


def _sensitive_diagnosis(r: _Record) -> None:
    """An HIV diagnosis, coded with a code of the sensitive code sets (access migration 0006),
    and the practice's referral to the HIV clinic, which gives it as its reason."""
    hiv = concept(SNOMED, "86406008", "Human immunodeficiency virus infection")
    diagnosed = r.moment()
    r.add(
        fhir.condition(
            r.local_id,
            code=hiv,
            category="problem-list-item",
            onset=diagnosed.date(),
            recorded=diagnosed,
            active=True,
        )
    )
    r.referral("HIV medicine", "Thameside University Hospitals NHS Trust", hiv)


def _vaccinations(r: _Record, profile: _Profile, age: int) -> None:
    eligible_for_flu = age >= 65 or any(
        profile.has(k) for k in ("asthma", "copd", "diabetes", "heart_failure", "ckd")
    )
    given = []
    if eligible_for_flu:
        for season in range(REFERENCE_DATE.year - 2, REFERENCE_DATE.year + 1):
            autumn = date(season, 10, 1)
            if r.first_day <= autumn < r.last_day and r.rng.random() < 0.75:
                given.append(
                    (
                        "flu",
                        r.moment(
                            autumn, min(autumn + timedelta(days=28), r.last_day - timedelta(days=1))
                        ),
                    )
                )
    if age >= 65 and r.rng.random() < 0.7:
        given.append(("pneumococcal", r.moment()))
    if age >= 18 and r.rng.random() < 0.5:
        given.append(("covid", r.moment()))
    for key, at in sorted(given, key=lambda item: item[1]):
        code, display, text = VACCINES[key]
        r.add(
            fhir.immunization(
                r.local_id,
                vaccine=concept(SNOMED, code, display, text),
                given=at,
                lot_number=f"{key[:2].upper()}{r.rng.randint(10000, 99999)}",
                performer=f"{r.staff}, {r.source.name}",
            )
        )


def _electrolytes(r: _Record, creatinine: int) -> dict[str, float]:
    return {
        "sodium": r.rng.randint(133, 145),
        "potassium": round(r.rng.uniform(3.5, 5.4), 1),
        "creatinine": creatinine,
    }


def _social_flags(r: _Record, profile: _Profile) -> None:
    if profile.lives_alone:
        r.flag(("safety", "Safety"), concept(SNOMED, "105529008", "Lives alone"))
    if profile.housebound:
        r.flag(("clinical", "Clinical"), concept(SNOMED, "160689007", "Housebound"))


def _acute(r: _Record, profile: _Profile) -> None:
    _allergies(r, profile)
    showcase = r.person.index == 0
    presentations = [profile.major_event] if profile.major_event else []
    presentations += ["pneumonia"] if showcase else []
    presentations += r.rng.sample(sorted(PRESENTATIONS), r.rng.choice((0, 1, 1, 2)))
    outpatient = [key for key, _ in profile.conditions if showcase or r.rng.random() < 0.4]
    if not presentations and not outpatient:
        presentations = [r.rng.choice(("uti", "cellulitis", "chest_pain"))]
    for key in dict.fromkeys(presentations):
        _acute_episode(r, profile, key)
    for key in outpatient:
        specialty = CHRONIC_CONDITIONS[key][4]
        start = r.moment()
        encounter_id = r.encounter(
            ("AMB", "ambulatory"),
            concept(SNOMED, "11429006", "Consultation"),
            start,
            30,
            f"{specialty} clinic",
            reason=condition_concept(key),
        )
        letter = (
            f"{specialty} clinic letter\n\nSeen on {start:%d %B %Y} for "
            f"{CHRONIC_CONDITIONS[key][1].lower()}.\n"
            "Plan: continue current treatment; review in clinic.\n"
        )
        r.add(
            fhir.document_reference(
                r.local_id,
                doc_type=concept(
                    SNOMED, "371531000", "Report of clinical encounter", "Clinic letter"
                ),
                title=f"{specialty} clinic letter",
                text=_letter_header(r) + letter,
                created=start + timedelta(days=2),
                author=f"{r.staff}, {specialty}",
                custodian=r.source,
                encounter_id=encounter_id,
                pdf_url=r.letter_url(),
            )
        )
    if outpatient:
        r.appointments(f"{CHRONIC_CONDITIONS[outpatient[0]][4]} clinic", "Outpatient follow-up", 30)
    if profile.dnacpr:
        r.flag(
            ("advance-directive", "Advance Directive"),
            concept(SNOMED, "304253006", "Not for resuscitation", "DNACPR in place"),
        )
    if r.person.age_on() >= 65 and r.rng.random() < 0.4:
        r.flag(("safety", "Safety"), r.local_code("falls-risk", "High risk of falls"))
    if r.person.index == 0:
        _acute_shapes_to_read_right(r)


def _acute_episode(r: _Record, profile: _Profile, key: str) -> None:
    code, display, usually_admitted = PRESENTATIONS[key]
    # Early enough that even a long stay ends before the record's last day.
    arrived = r.moment(latest=max(r.first_day, r.last_day - timedelta(days=12)))
    reason = concept(SNOMED, code, display)
    r.encounter(
        ("EMER", "emergency"),
        concept(SNOMED, "4525004", "Emergency department patient visit"),
        arrived,
        r.rng.randint(120, 420),
        "Emergency department",
        reason=reason,
    )
    infection = key in ("pneumonia", "uti", "cellulitis")
    r.lab_report(
        "fbc",
        {
            "haemoglobin": r.rng.randint(112, 165),
            "white_cells": round(
                r.rng.uniform(11.5, 18.0) if infection else r.rng.uniform(4.2, 10.5), 1
            ),
            "platelets": r.rng.randint(160, 390),
        },
        arrived + timedelta(hours=1),
        "Raised white cell count, consistent with infection." if infection else None,
    )
    r.lab_report("ue", _electrolytes(r, r.rng.randint(60, 140)), arrived + timedelta(hours=1))
    admitted = usually_admitted or r.rng.random() < 0.2
    encounter_id = None
    if admitted:
        days = r.rng.randint(2, 10)
        admitted_at = arrived + timedelta(hours=6)
        discharged = admitted_at + timedelta(days=days)
        encounter_id = r.encounter(
            ("IMP", "inpatient encounter"),
            concept(SNOMED, "32485007", "Hospital admission"),
            admitted_at,
            days * 1440,
            "Acute medicine",
            reason=reason,
            discharge_disposition=("home", "Home"),
        )
    r.add(
        fhir.condition(
            r.local_id,
            code=reason,
            category="encounter-diagnosis",
            onset=arrived.date(),
            recorded=arrived,
            active=key in ("mi", "stroke"),
            encounter_id=encounter_id,
        )
    )
    if not admitted:
        return
    discharge_meds = list(profile.medicines)
    if infection and not profile.allergic_to_penicillin:
        discharge_meds.append("amoxicillin")
    for medicine in discharge_meds:
        r.add(
            fhir.medication_request(
                r.local_id,
                medicine=medicine_concept(medicine),
                status="completed" if medicine == "amoxicillin" or not r.alive else "active",
                authored=discharged,
                dosage=MEDICINES[medicine][2],
                requester=r.staff,
                encounter_id=encounter_id,
            )
        )
    summary = (
        f"Discharge summary\n\nAdmitted: {admitted_at:%d %B %Y}\n"
        f"Discharged: {discharged:%d %B %Y}\n"
        f"Diagnosis: {display}\nMedicines on discharge: "
        f"{', '.join(MEDICINES[m][1] for m in discharge_meds) or 'none'}\n"
        "Follow-up: GP review within two weeks.\n"
    )
    r.add(
        fhir.document_reference(
            r.local_id,
            doc_type=concept(SNOMED, "373942005", "Discharge summary"),
            title="Discharge summary",
            text=_letter_header(r) + summary,
            created=discharged,
            author=f"{r.staff}, Acute medicine",
            custodian=r.source,
            encounter_id=encounter_id,
            pdf_url=r.letter_url(),
        )
    )
    if r.person.age_on() >= 70 and r.alive and r.rng.random() < 0.5:
        r.referral("District nursing", "Riverside Community Health Services", reason)


def _letter_header(r: _Record) -> str:
    view = r.person.source_views[r.source.key]
    return (
        f"{r.source.name}\nPatient: {' '.join(view.given_names)} {view.family_name}\n"
        f"NHS number: {view.nhs_number or 'not known'}  Hospital number: {r.local_id}\n"
        f"Date of birth: {view.birth_date:%d %B %Y}\n\n"
    )


def _community(r: _Record, profile: _Profile) -> None:
    home_visit = concept(SNOMED, "439708006", "Home visit")
    for _ in range(r.rng.randint(2, 5)):
        at = r.moment()
        r.encounter(("HH", "home health"), home_visit, at, 40, "District nursing")
        if r.rng.random() < 0.5:
            r.blood_pressure(at, profile.has("hypertension"))
            r.vital("8867-4", "Heart rate", r.rng.randint(58, 98), "/min", at)
            r.vital("29463-7", "Body weight", round(r.rng.uniform(48, 105), 1), "kg", at)
    if profile.housebound and r.rng.random() < 0.8:
        # Community nurses give housebound patients their flu jab at home, this autumn if alive.
        autumn = date(REFERENCE_DATE.year, 10, 1)
        given = r.moment(autumn, autumn + timedelta(days=27)) if r.alive else r.moment()
        code, display, text = VACCINES["flu"]
        r.add(
            fhir.immunization(
                r.local_id,
                vaccine=concept(SNOMED, code, display, text),
                given=given,
                lot_number=f"FL{r.rng.randint(10000, 99999)}",
                performer=f"{r.staff}, {r.source.name}",
            )
        )
    activities = ["Pressure area care and skin checks at each visit"]
    if profile.has("diabetes"):
        activities.append("Monthly diabetic foot check")
    if profile.has("heart_failure"):
        activities.append("Weekly weight and fluid balance monitoring")
    activities.append(
        r.rng.choice(
            ("Leg ulcer dressing twice weekly", "Medicines compliance support", "Catheter care")
        )
    )
    r.care_plan(
        concept(SNOMED, "734163000", "Care plan", "Community nursing care plan"),
        "Community nursing care plan",
        "District nursing plan agreed with the patient at home.",
        activities,
    )
    r.appointments("District nursing", "Home visit by district nurse", 40)
    if profile.housebound:
        r.flag(("clinical", "Clinical"), concept(SNOMED, "160689007", "Housebound"))
        r.flag(
            ("admin", "Administrative"),
            r.local_code("key-safe", "Key safe at property (code held by team)"),
        )
    if profile.lives_alone and r.rng.random() < 0.5:
        r.referral(
            "Adult social care",
            "London Borough of Riverside Adult Social Care",
            concept(SNOMED, "105529008", "Lives alone"),
        )


def _mental_health(r: _Record, profile: _Profile) -> None:
    diagnoses = [
        (key, onset) for key, onset in profile.conditions if key in MENTAL_HEALTH_CONDITIONS
    ]
    for key, onset in diagnoses:
        r.add(
            fhir.condition(
                r.local_id,
                code=condition_concept(key),
                category="problem-list-item",
                onset=onset,
                recorded=r.moment(max(onset, r.first_day)),
                active=True,
            )
        )
    contact = concept(SNOMED, "11429006", "Consultation")
    for _ in range(r.rng.randint(2, 5)):
        r.encounter(
            ("AMB", "ambulatory"),
            contact,
            r.moment(),
            50,
            "Community mental health team",
            reason=condition_concept(diagnoses[0][0]),
        )
    if r.rng.random() < 0.2:
        r.encounter(
            ("HH", "home health"),
            concept(SNOMED, "439708006", "Home visit"),
            r.moment(),
            60,
            "Crisis resolution and home treatment team",
        )
    r.care_plan(
        concept(SNOMED, "718347000", "Mental health care plan", "Crisis and contingency plan"),
        "Crisis and contingency plan",
        "Early signs of relapse, what helps, and who to contact in a crisis.",
        [
            "Early warning signs: poor sleep, withdrawing from family, missing appointments",
            "In a crisis call the 24-hour mental health crisis line (NHS 111, option 2)",
            "Care coordinator contact weekly; medication review every three months",
        ],
    )
    r.appointments("Community mental health team", "Care programme approach review", 60)
    if r.rng.random() < 0.25:
        r.flag(
            ("behavioral", "Behavioral"),
            r.local_code("risk-to-self", "Risk to self: see risk assessment"),
        )
    if r.rng.random() < 0.3:
        r.referral(
            "Talking therapies",
            "South Thames Mental Health NHS Foundation Trust",
            condition_concept(diagnoses[0][0]),
        )


def _social_care(r: _Record, profile: _Profile) -> None:
    assessment = r.local_code("needs-assessment", "Care Act needs assessment")
    r.encounter(("HH", "home health"), assessment, r.moment(), 90, "Adult social care")
    for _ in range(r.rng.randint(0, 2)):
        review = r.local_code("review", "Care and support plan review")
        r.encounter(("HH", "home health"), review, r.moment(), 60, "Adult social care")
    package = r.rng.sample(
        [
            "Home care: two visits a day for personal care",
            "Meals delivered at home, five days a week",
            "Day centre on Tuesdays and Thursdays",
            "Telecare pendant alarm",
            "Carer's respite: one week every three months",
            "Direct payment for a personal assistant",
        ],
        r.rng.randint(1, 3),
    )
    r.care_plan(
        concept(SNOMED, "734163000", "Care plan", "Care and support plan"),
        "Care and support plan",
        "Package of care agreed under the Care Act 2014.",
        package,
    )
    r.appointments("Adult social care", "Care and support plan review visit", 60)
    if r.rng.random() < 0.15:
        r.flag(
            ("safety", "Safety"),
            r.local_code(
                "safeguarding-concern", "Safeguarding concern: contact the duty social worker"
            ),
        )
    if profile.lives_alone:
        r.flag(("safety", "Safety"), concept(SNOMED, "105529008", "Lives alone"))
    if r.rng.random() < 0.4:
        to = r.rng.choice(("Occupational therapy", "Telecare service", "Carers' support service"))
        r.referral(to, "London Borough of Riverside Adult Social Care", None)


def _gp_shapes_to_read_right(r: _Record) -> None:
    """What GP records really hold that is easy to show wrongly (issue 14): allergies migrated by
    GP2GP under one degraded code, an allergy entered in error, a diagnosis refuted, a device
    reading timed by an instant, a test with no result, a blood pressure in spelled-out units,
    an appointment not attended. Uses its own random stream, so the rest of the record is as
    it was."""
    rng = random.Random(f"{r.seed}:{r.person.index}:{r.source.key}:shapes")

    def at(days: int) -> datetime:
        """A working-hours moment `days` before the reference date."""
        hour, minute = rng.randint(8, 16), rng.choice((0, 15, 30))
        return datetime.combine(REFERENCE_DATE - timedelta(days=days), time(hour, minute))

    migrated = at(900)
    degraded = ("196461000000101", "Transfer-degraded drug allergy (record artifact)")
    for text, reaction in (("Septrin", "rash"), ("Egg protein", "hives"), ("Amoxicillin", "rash")):
        r.add(
            fhir.allergy_intolerance(
                r.local_id,
                recorded=migrated,
                code=concept(SNOMED, *degraded, text),
                category="medication",
                criticality="low",
                reactions=[(concept(SNOMED, *REACTIONS[reaction]), "mild")],
                recorder=f"{r.staff} (transferred by GP2GP)",
                verification=("unconfirmed", "Unconfirmed"),
            )
        )
    r.add(
        fhir.allergy_intolerance(
            r.local_id,
            recorded=at(400),
            code=concept(SNOMED, "111088007", "Latex"),
            category="environment",
            criticality="low",
            reactions=[(concept(SNOMED, *REACTIONS["itching"]), "mild")],
            recorder=r.staff,
            clinical=("inactive", "Inactive"),
            verification=("entered-in-error", "Entered in Error"),
        )
    )
    r.add(
        fhir.condition(
            r.local_id,
            code=condition_concept("asthma"),
            category="problem-list-item",
            onset=at(700).date(),
            recorded=at(690),
            active=False,
            verification=("refuted", "Refuted"),
        )
    )
    r.add(
        fhir.observation(
            r.local_id,
            code=concept(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry",
                         "Oxygen saturation"),
            category="vital-signs",
            effective=at(30),
            value=fhir.quantity(97, "%", "percent"),
            performer=r.staff,
            effective_as="effectiveInstant",
        )
    )  # fmt: skip
    potassium = LAB_TESTS["potassium"]
    r.add(
        fhir.observation(
            r.local_id,
            code=concept(LOINC, potassium[0], potassium[1], potassium[2]),
            category="laboratory",
            effective=at(20),
            performer=f"{r.source.name} Pathology",
            data_absent=concept(
                "http://terminology.hl7.org/CodeSystem/data-absent-reason", "error", "Error",
                "Specimen unsatisfactory (haemolysed)",
            ),
        )
    )  # fmt: skip
    mercury = "millimeter of mercury"
    r.add(
        fhir.observation(
            r.local_id,
            code=concept(SNOMED, "75367002", "Blood pressure"),
            category="vital-signs",
            effective=at(14),
            performer=r.staff,
            components=[
                (concept(LOINC, "8480-6", "Systolic blood pressure"),
                 fhir.quantity(142, "mm[Hg]", mercury)),
                (concept(LOINC, "8462-4", "Diastolic blood pressure"),
                 fhir.quantity(94, "mm[Hg]", mercury)),
            ],
        )
    )  # fmt: skip
    r.add(
        fhir.appointment(
            r.local_id,
            status="noshow",
            service="General practice",
            description="Diabetes review with the practice nurse",
            start=at(45),
            minutes=20,
            booked=at(75),
            practitioner=r.staff,
            follow_up=True,
        )
    )


def _acute_shapes_to_read_right(r: _Record) -> None:
    """Hospital shapes easy to show wrongly: a medicine named by a contained Medication, one by a
    Medication held apart (sent with `_include`), and an A&E attendance finished this year."""
    rng = random.Random(f"{r.seed}:{r.person.index}:{r.source.key}:shapes")
    arrived = datetime.combine(REFERENCE_DATE - timedelta(days=40), time(rng.randint(18, 22), 10))
    reason = concept(SNOMED, "29857009", "Chest pain")
    encounter_id = r.encounter(
        ("EMER", "emergency"),
        concept(SNOMED, "4525004", "Emergency department patient visit"),
        arrived,
        rng.randint(180, 300),
        "Emergency department",
        reason=reason,
    )
    tablet = concept(SNOMED, "385055001", "Tablet")
    paracetamol = MEDICINES["paracetamol"]
    r.add(
        fhir.medication_request(
            r.local_id,
            medicine=None,
            contained=[fhir.medication("med1", code=medicine_concept("paracetamol"), form=tablet)],
            medication_reference="#med1",
            status="completed",
            authored=arrived + timedelta(hours=1),
            dosage=paracetamol[2],
            requester=r.staff,
            encounter_id=encounter_id,
            category=("inpatient", "Inpatient"),
        )
    )
    medication_id = f"{r.local_id}-med-1"
    r.medications[f"Medication/{medication_id}"] = fhir.medication(
        medication_id,
        code=medicine_concept("ramipril"),
        form=concept(SNOMED, "385049006", "Capsule"),
    )
    r.add(
        fhir.medication_request(
            r.local_id,
            medicine=None,
            medication_reference=f"Medication/{medication_id}",
            status="active",
            authored=arrived + timedelta(hours=3),
            dosage=MEDICINES["ramipril"][2],
            requester=r.staff,
            encounter_id=encounter_id,
        )
    )


_BUILDERS = {
    "gp": _gp,
    "acute": _acute,
    "community": _community,
    "mental_health": _mental_health,
    "social_care": _social_care,
}
