"""Deterministic synthetic London population: people, their GP practices and five source systems.

The same seed and size always give an equal Population; the global random state is never used.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

from faker import Faker
from nhs_number import calculate_checksum

# Every date in the demo is relative to this day, so output does not depend on today.
REFERENCE_DATE = date(2026, 11, 1)


@dataclass(frozen=True)
class SourceSpec:
    """One organisation's system that holds records about some of the population."""

    key: str
    kind: str
    ods_code: str
    name: str


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("gp", "gp", "Y90001", "London GP Connect (simulated)"),
    SourceSpec("acute", "acute", "RXT", "Thameside University Hospitals NHS Trust"),
    SourceSpec("community", "community", "RXC", "Riverside Community Health Services"),
    SourceSpec(
        "mental_health", "mental_health", "RXM", "South Thames Mental Health NHS Foundation Trust"
    ),
    SourceSpec(
        "social_care", "social_care", "LBR", "London Borough of Riverside Adult Social Care"
    ),
)
SOURCE_KEYS: tuple[str, ...] = tuple(source.key for source in SOURCES)

# Share of the population each source knows; the GP source knows everyone.
COVERAGE: dict[str, float] = {
    "gp": 1.0,
    "acute": 0.60,
    "community": 0.30,
    "mental_health": 0.15,
    "social_care": 0.20,
}

# Social care holds every third person it knows without an NHS number (the gap identity matching
# must close); systematic rather than random, so that even a small population shows the share.
SOCIAL_CARE_WITHOUT_NHS_NUMBER_EVERY = 3


@dataclass(frozen=True)
class GpPractice:
    """A fictional London GP practice (ODS-like code, not a real organisation)."""

    ods_code: str
    name: str


# (practice, its GPs, outward codes of its catchment). Outward codes are real London districts.
_PRACTICE_TABLE: tuple[tuple[GpPractice, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        GpPractice("F84001", "Mile End Road Surgery"),
        ("Dr Amelia Clarke", "Dr Rahul Mehta", "Dr Grace Okafor"),
        ("E1", "E3", "E14"),
    ),
    (
        GpPractice("F84002", "Dalston Lane Medical Centre"),
        ("Dr Samuel Adeyemi", "Dr Hannah Whitfield", "Dr Yusuf Khan"),
        ("E8", "E5", "E9"),
    ),
    (
        GpPractice("F84003", "Peckham Rye Practice"),
        ("Dr Chloe Mensah", "Dr Daniel Brooks", "Dr Priya Raman"),
        ("SE15", "SE22", "SE5"),
    ),
    (
        GpPractice("F84004", "Brixton Hill Group Practice"),
        ("Dr Oliver Grant", "Dr Ngozi Eze", "Dr Laura Fitzgerald"),
        ("SW2", "SW9", "SE24"),
    ),
    (
        GpPractice("F84005", "Harlesden Health Centre"),
        ("Dr Imran Siddiqui", "Dr Emily Carter", "Dr Kwame Boateng"),
        ("NW10", "NW6"),
    ),
    (
        GpPractice("F84006", "Shepherd's Bush Green Surgery"),
        ("Dr Sophie Marsh", "Dr Tomasz Nowak", "Dr Aaliyah Hassan"),
        ("W12", "W6", "W14"),
    ),
    (
        GpPractice("F84007", "Stoke Newington Church Street Surgery"),
        ("Dr Rebecca Stein", "Dr Emre Yilmaz", "Dr Joseph Osei"),
        ("N16", "N4"),
    ),
    (
        GpPractice("F84008", "Walthamstow Village Practice"),
        ("Dr Fatima Rahman", "Dr George Holloway", "Dr Mei Chen"),
        ("E17", "E10"),
    ),
)
PRACTICES: tuple[GpPractice, ...] = tuple(row[0] for row in _PRACTICE_TABLE)
LONDON_OUTWARD_CODES: frozenset[str] = frozenset(code for row in _PRACTICE_TABLE for code in row[2])
# Inward codes never use C, I, K, M, O or V in their last two letters.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
POSTCODE_PATTERN = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}$")


@dataclass(frozen=True)
class SourceDemographics:
    """How one source holds a person; the only identity data that source can offer for matching.

    Usually equal to the person's own details. In social care about a third of people are held
    without an NHS number (nhs_number is None), and some of those with a misspelt given or family
    name ("Jon" for "John", a dropped letter) and/or an out-of-date phone number.
    """

    local_id: str
    nhs_number: str | None
    given_names: tuple[str, ...]
    family_name: str
    birth_date: date
    sex: str
    address_lines: tuple[str, ...]
    postcode: str
    phone: str | None


@dataclass(frozen=True)
class Person:
    """One synthetic person as the (simulated) national identity service knows them.

    `local_ids` maps each source key that knows the person to its local id there, and
    `source_views` maps the same keys to how that source holds the person's demographics.
    `index` is the person's position in the population, which seeds their clinical content.
    """

    index: int
    nhs_number: str
    given_names: tuple[str, ...]
    family_name: str
    prefix: str
    sex: str
    birth_date: date
    deceased_date: date | None
    address_lines: tuple[str, ...]
    city: str
    postcode: str
    phone: str
    email: str | None
    gp_practice: GpPractice
    gp_name: str
    local_ids: dict[str, str]
    source_views: dict[str, SourceDemographics]

    def known_to(self, source_key: str) -> bool:
        return source_key in self.local_ids

    def age_on(self, day: date = REFERENCE_DATE) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    @property
    def display_name(self) -> str:
        return f"{' '.join(self.given_names)} {self.family_name}"


@dataclass(frozen=True)
class Population:
    """The whole synthetic population and the sources that hold records about it."""

    seed: int
    sources: tuple[SourceSpec, ...]
    practices: tuple[GpPractice, ...]
    people: tuple[Person, ...]

    def source(self, source_key: str) -> SourceSpec:
        for source in self.sources:
            if source.key == source_key:
                return source
        raise KeyError(source_key)

    def people_at(self, source_key: str) -> list[Person]:
        return [person for person in self.people if source_key in person.local_ids]

    def person_by_local_id(self, source_key: str, local_id: str) -> Person | None:
        return self._by_local_id.get(source_key, {}).get(local_id)

    def person_by_nhs_number(self, nhs_number: str) -> Person | None:
        return self._by_nhs_number.get(nhs_number)

    @cached_property
    def _by_local_id(self) -> dict[str, dict[str, Person]]:
        index: dict[str, dict[str, Person]] = {source.key: {} for source in self.sources}
        for person in self.people:
            for source_key, local_id in person.local_ids.items():
                index[source_key][local_id] = person
        return index

    @cached_property
    def _by_nhs_number(self) -> dict[str, Person]:
        return {person.nhs_number: person for person in self.people}


def generate(*, seed: int = 2026, patients: int = 500) -> Population:
    """Build the population for `seed`; equal arguments always give an equal result."""
    if not 1 <= patients <= 200_000:
        raise ValueError("patients must be between 1 and 200,000")
    rng = random.Random(seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    # Each person is drawn whole, in turn, so a smaller population is the start of a larger one.
    drawn = _Drawn()
    people = tuple(_person(index, rng, fake, drawn) for index in range(patients))
    return Population(seed=seed, sources=SOURCES, practices=PRACTICES, people=people)


@dataclass
class _Drawn:
    """What earlier people were given: keeps numbers unique and the social care share steady."""

    nhs_numbers: set[str] = field(default_factory=set)
    local: dict[str, set[int]] = field(default_factory=lambda: {key: set() for key in SOURCE_KEYS})
    social_care_records: int = 0

    def nhs_number(self, rng: random.Random) -> str:
        """A valid NHS number in the 999 range, which is never issued to real people."""
        while True:
            stem = f"999{rng.randrange(1_000_000):06d}"
            check = calculate_checksum(stem)
            if check != 10 and stem not in self.nhs_numbers:
                self.nhs_numbers.add(stem)
                return f"{stem}{check}"

    def local_id(self, rng: random.Random, source_key: str) -> str:
        # Random rather than sequential, so local ids do not line up across sources.
        while True:
            number = rng.randrange(1, _LOCAL_ID_CAPACITY[source_key])
            if number not in self.local[source_key]:
                self.local[source_key].add(number)
                return _LOCAL_ID_FORMATS[source_key].format(number)


_LOCAL_ID_CAPACITY = {
    "gp": 1_000_000,
    "acute": 10_000_000,
    "community": 1_000_000,
    "mental_health": 10_000_000,
    "social_care": 1_000_000,
}
_LOCAL_ID_FORMATS = {
    "gp": "GP-{:06d}",
    "acute": "RXT{:07d}",
    "community": "CH-{:06d}",
    "mental_health": "MH-{:07d}",
    "social_care": "LAS-{:06d}",
}

# Faker's en_GB names are mostly Anglo; these make the population look more like London's.
_LONDON_MALE_NAMES = (
    "Muhammad", "Mohammed", "Ahmed", "Ibrahim", "Yusuf", "Hamza", "Omar", "Abdi", "Oluwaseun",
    "Chidi", "Kwame", "Tunde", "Kofi", "Arjun", "Rahul", "Sanjay", "Ravi", "Wei", "Jun", "Tomasz",
    "Piotr", "Mehmet", "Emre", "Luca", "Mateo", "John", "Stephen", "Michael", "Jonathan", "Philip",
)  # fmt: skip
_LONDON_FEMALE_NAMES = (
    "Aisha", "Fatima", "Amina", "Zainab", "Maryam", "Hodan", "Nasra", "Priya", "Anjali", "Sunita",
    "Ngozi", "Chioma", "Adaeze", "Yetunde", "Mei", "Agnieszka", "Zeynep", "Elif", "Sofia", "Maria",
    "Shanice", "Catherine", "Sarah", "Elizabeth", "Rebecca", "Katherine", "Anne",
)  # fmt: skip
_LONDON_FAMILY_NAMES = (
    "Begum", "Khan", "Ahmed", "Hussain", "Ali", "Islam", "Rahman", "Miah", "Uddin", "Patel", "Shah",
    "Singh", "Kaur", "Okafor", "Adeyemi", "Mensah", "Owusu", "Osei", "Okoye", "Nwosu", "Chen",
    "Wong", "Nguyen", "Kowalski", "Nowak", "Yilmaz", "Demir", "Mohamed", "Abdi", "Warsame", "Silva",
    "Santos", "Rossi", "Campbell", "Clarke", "Francis", "Smith", "Thompson", "Davies", "Stevens",
)  # fmt: skip
# Spellings that the same person often ends up with in different systems.
_GIVEN_VARIANTS = {
    "John": "Jon", "Muhammad": "Mohammed", "Mohammed": "Muhammad", "Stephen": "Steven",
    "Steven": "Stephen", "Catherine": "Katherine", "Katherine": "Catherine", "Sarah": "Sara",
    "Jonathan": "Jonathon", "Philip": "Phillip", "Aisha": "Ayesha", "Elizabeth": "Elisabeth",
    "Anne": "Ann", "Rebecca": "Rebekah", "Michael": "Micheal", "Matthew": "Mathew",
    "Oluwaseun": "Oluseun", "Mohamed": "Mohammed", "Yusuf": "Yousuf", "Zainab": "Zaynab",
}  # fmt: skip
_FAMILY_VARIANTS = {
    "Smith": "Smyth", "Thompson": "Thomson", "Mohamed": "Mohammed", "Davies": "Davis",
    "Ahmed": "Ahmad", "Hussain": "Hussein", "Stevens": "Stephens", "Clarke": "Clark",
    "Begum": "Begom", "Rahman": "Rehman", "Miah": "Mia", "Phillips": "Philips", "Reid": "Reed",
}  # fmt: skip
_STREET_SUFFIXES = (
    "Road", "Street", "Lane", "Avenue", "Grove", "Gardens", "Close", "Way", "Place", "Terrace",
    "Crescent", "Rise", "Square", "Walk",
)  # fmt: skip
_AGE_BANDS = ((0, 17, 0.18), (18, 39, 0.33), (40, 64, 0.31), (65, 79, 0.12), (80, 99, 0.06))


def _person(index: int, rng: random.Random, fake: Faker, drawn: _Drawn) -> Person:
    # Person 0 is a showcase known to every source; person 1 exercises demographic matching.
    showcase, unmatched = index == 0, index == 1
    nhs_number = drawn.nhs_number(rng)
    sex = rng.choices(("male", "female", "other", "unknown"), weights=(49, 49, 1, 1))[0]
    male = sex == "male" or (sex in ("other", "unknown") and rng.random() < 0.5)
    given, family = _names(rng, fake, male)
    birth_date = _birth_date(rng, (65, 85) if showcase else None)
    age = (REFERENCE_DATE - birth_date).days // 365
    deceased_date = None if showcase or unmatched else _deceased_date(rng, age, birth_date)
    practice, gps, outward_codes = rng.choice(_PRACTICE_TABLE)
    postcode = f"{rng.choice(outward_codes)} {rng.randrange(10)}{_inward_letters(rng)}"
    address_lines = _address_lines(rng, fake)
    phone = _phone(rng)
    email = None
    if rng.random() < 0.6:
        handle = ".".join(re.sub(r"[^a-z]", "", part.lower()) for part in (given[0], family))
        email = f"{handle}{rng.randint(1, 99)}@example.com"
    known = [
        key
        for key in SOURCE_KEYS
        if showcase or rng.random() < COVERAGE[key] or (unmatched and key == "social_care")
    ]
    local_ids = {key: drawn.local_id(rng, key) for key in known}
    views = {}
    for key in known:
        view = SourceDemographics(
            local_id=local_ids[key],
            nhs_number=nhs_number,
            given_names=given,
            family_name=family,
            birth_date=birth_date,
            sex=sex,
            address_lines=address_lines,
            postcode=postcode,
            phone=phone,
        )
        if key == "social_care" and not showcase:
            drawn.social_care_records += 1
            if unmatched or drawn.social_care_records % SOCIAL_CARE_WITHOUT_NHS_NUMBER_EVERY == 0:
                view = _without_nhs_number(rng, view, force_variant=unmatched)
        views[key] = view
    return Person(
        index=index,
        nhs_number=nhs_number,
        given_names=given,
        family_name=family,
        prefix=_prefix(rng, sex, male, age),
        sex=sex,
        birth_date=birth_date,
        deceased_date=deceased_date,
        address_lines=address_lines,
        city="London",
        postcode=postcode,
        phone=phone,
        email=email,
        gp_practice=practice,
        gp_name=rng.choice(gps),
        local_ids=local_ids,
        source_views=views,
    )


def _names(rng: random.Random, fake: Faker, male: bool) -> tuple[tuple[str, ...], str]:
    def given_name() -> str:
        if rng.random() < 0.4:
            return rng.choice(_LONDON_MALE_NAMES if male else _LONDON_FEMALE_NAMES)
        return fake.first_name_male() if male else fake.first_name_female()

    given = (given_name(),)
    if rng.random() < 0.3:
        given += (given_name(),)
    family = rng.choice(_LONDON_FAMILY_NAMES) if rng.random() < 0.4 else fake.last_name()
    return given, family


def _birth_date(rng: random.Random, age_range: tuple[int, int] | None) -> date:
    if age_range is None:
        low, high, _ = rng.choices(_AGE_BANDS, weights=[band[2] for band in _AGE_BANDS])[0]
    else:
        low, high = age_range
    age = rng.randint(low, high)
    return REFERENCE_DATE - timedelta(days=age * 365 + rng.randrange(1, 365))


def _deceased_date(rng: random.Random, age: int, birth_date: date) -> date | None:
    # About 2% overall, concentrated in older people.
    chance = 0.008 if age < 65 else 0.04 if age < 80 else 0.12
    if rng.random() >= chance:
        return None
    return max(
        birth_date + timedelta(days=1), REFERENCE_DATE - timedelta(days=rng.randint(1, 1095))
    )


def _inward_letters(rng: random.Random) -> str:
    return rng.choice(_INWARD_LETTERS) + rng.choice(_INWARD_LETTERS)


def _address_lines(rng: random.Random, fake: Faker) -> tuple[str, ...]:
    street = f"{fake.last_name()} {rng.choice(_STREET_SUFFIXES)}"
    if rng.random() < 0.35:
        building = f"{fake.last_name()} {rng.choice(('House', 'Court', 'Mansions', 'Lodge'))}"
        return (f"Flat {rng.randint(1, 60)}", building, street)
    return (f"{rng.randint(1, 240)} {street}",)


def _phone(rng: random.Random) -> str:
    # Ofcom's drama ranges: numbers reserved for fiction, so no real person is ever dialled.
    if rng.random() < 0.7:
        return f"07700 900{rng.randrange(1000):03d}"
    return f"020 7946 0{rng.randrange(1000):03d}"


def _prefix(rng: random.Random, sex: str, male: bool, age: int) -> str:
    if age >= 25 and rng.random() < 0.03:
        return "Dr"
    if sex == "male" or (sex != "female" and male):
        return "Mr"
    if age < 25:
        return "Miss"
    return rng.choices(("Mrs", "Ms", "Miss"), weights=(45, 40, 15))[0]


def _without_nhs_number(
    rng: random.Random, view: SourceDemographics, *, force_variant: bool
) -> SourceDemographics:
    """The view without its NHS number; half the time misspelt, sometimes an old phone."""
    given, family, phone = view.given_names, view.family_name, view.phone
    if force_variant or rng.random() < 0.5:
        if rng.random() < 0.6:
            given = (_misspell(rng, given[0], _GIVEN_VARIANTS), *given[1:])
        else:
            family = _misspell(rng, family, _FAMILY_VARIANTS)
    if rng.random() < 0.4:
        phone = _phone(rng)
    return SourceDemographics(
        local_id=view.local_id,
        nhs_number=None,
        given_names=given,
        family_name=family,
        birth_date=view.birth_date,
        sex=view.sex,
        address_lines=view.address_lines,
        postcode=view.postcode,
        phone=phone,
    )


def _misspell(rng: random.Random, name: str, variants: dict[str, str]) -> str:
    if name in variants:
        return variants[name]
    if len(name) < 4:
        return name + name[-1]
    # Drop one letter after the first, the commonest typing slip in registration systems.
    cut = rng.randrange(1, len(name) - 1)
    return name[:cut] + name[cut + 1 :]


def restricted_people(population: Population) -> tuple[Person, ...]:
    """Whom the national identity service marks restricted in the demo (`meta.security` R:
    their address, telephone and GP practice are not shared). The second person registered at
    the example patient's practice, so that the demo GP opens one and sees the notice, and one
    in fifty of everyone else. The demo's sources label these people's Patient resources, and
    the register is loaded without their details."""
    if not population.people:
        return ()
    example = population.people[0]
    practice = [p for p in population.people if p.gp_practice == example.gp_practice]
    chosen = {p.index for p in practice[1:2]}
    chosen |= {p.index for p in population.people if p.index % 50 == 25}
    return tuple(p for p in population.people if p.index in chosen)
