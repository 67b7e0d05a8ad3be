"""Demographic scoring of a source record against a register patient: a number and its reasons.

Scores only ever rank candidates for a person to review; nothing here links anyone by itself.
"""

import datetime
import re
from dataclasses import dataclass

from rapidfuzz.distance import JaroWinkler

WEIGHTS = {"family_name": 0.35, "given_name": 0.25, "birth_date": 0.3, "postcode": 0.1}
_NOT_LETTERS = re.compile(r"[^a-z]")


@dataclass(frozen=True)
class Demographics:
    given_names: str
    family_name: str
    birth_date: datetime.date | None
    postcode: str


@dataclass(frozen=True)
class Score:
    total: float
    breakdown: dict[str, float]


def score_match(record: Demographics, patient: Demographics) -> Score:
    """Weighted similarity in [0, 1]; each part is kept so a reviewer can see why."""
    parts = {
        "family_name": name_similarity(record.family_name, patient.family_name),
        "given_name": given_name_similarity(record.given_names, patient.given_names),
        "birth_date": _date_similarity(record.birth_date, patient.birth_date),
        "postcode": _postcode_similarity(record.postcode, patient.postcode),
    }
    total = sum(WEIGHTS[field] * value for field, value in parts.items())
    return Score(round(total, 4), {field: round(value, 4) for field, value in parts.items()})


def transposed_date(value: datetime.date | None) -> datetime.date | None:
    """The date with day and month swapped, a common keying slip (3/4 for 4/3)."""
    if value is None or value.day > 12 or value.day == value.month:
        return None
    return value.replace(month=value.day, day=value.month)


def _letters(value: str) -> str:
    return _NOT_LETTERS.sub("", value.lower())


def name_similarity(a: str, b: str) -> float:
    a, b = _letters(a), _letters(b)
    if not a or not b:
        return 0.0
    return JaroWinkler.normalized_similarity(a, b)


def given_name_similarity(record: str, patient: str) -> float:
    """The record's first given name against each of the patient's; the best one counts."""
    record_names = record.split()
    if not record_names:
        return 0.0
    return max((name_similarity(record_names[0], name) for name in patient.split()), default=0.0)


def _date_similarity(a: datetime.date | None, b: datetime.date | None) -> float:
    if a is None or b is None:
        return 0.0
    if a == b:
        return 1.0
    if transposed_date(a) == b:
        return 0.7
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    return 0.5 if same == 2 else 0.0


def _postcode_similarity(a: str, b: str) -> float:
    a, b = a.replace(" ", "").upper(), b.replace(" ", "").upper()
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return 0.5 if a[:-3] == b[:-3] else 0.0


def normalise_postcode(value: str) -> str:
    """Upper case with one space before the inward code: ' se154qf' -> 'SE15 4QF'."""
    compact = value.replace(" ", "").upper()
    if len(compact) < 5:
        return compact
    return f"{compact[:-3]} {compact[-3:]}"


_PART_NAMES = {
    "family_name": "Family name",
    "given_name": "First name",
    "birth_date": "Date of birth",
    "postcode": "Postcode",
}


def _part_words(field: str, value: float) -> str:
    if field == "birth_date":
        if value >= 1:
            return "the same"
        if value >= 0.7:
            return "day and month swapped, a common keying slip"
        if value >= 0.5:
            return "one of the day, month or year differs"
        return "different, or not given"
    if field == "postcode":
        if value >= 1:
            return "the same"
        if value >= 0.5:
            return "the same area (outward code), a different street"
        return "different, or not given"
    if value >= 1:
        return "the same"
    if value >= 0.9:
        return "spelt a little differently"
    if value >= 0.75:
        return "similar"
    if value > 0:
        return "different"
    return "different, or not given"


def explain_score(breakdown: dict) -> list[str]:
    """A candidate's score in words, one sentence per part with the points it earned out of its
    weight (of 100 in all), as a reviewer reads it: "Date of birth: the same (30 of 30 points)".
    Parts missing from a stored breakdown, or not numbers, count as nothing."""
    sentences = []
    for field, weight in WEIGHTS.items():
        value = breakdown.get(field) if isinstance(breakdown, dict) else None
        value = float(value) if isinstance(value, int | float) else 0.0
        value = min(max(value, 0.0), 1.0)
        points, out_of = round(weight * value * 100), round(weight * 100)
        words = _part_words(field, value)
        sentences.append(f"{_PART_NAMES[field]}: {words} ({points} of {out_of} points)")
    return sentences
