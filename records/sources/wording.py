"""How the record says what a source coded: statuses in plain English, units as people write them,
dates and times as NHS.UK writes them (15 January 2026, 14:40, in London time).

Each function takes what a source sent and never raises: what it does not recognise is shown as
it came, because an odd word is better than a missing one.
"""

import datetime
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# FHIR status codes (every resource type the record shows) in the words a professional reads.
STATUS_WORDS: dict[str, str] = {
    "active": "Active",
    "inactive": "Inactive",
    "resolved": "Resolved",
    "remission": "In remission",
    "recurrence": "Recurrence",
    "relapse": "Relapse",
    "confirmed": "Confirmed",
    "unconfirmed": "Unconfirmed",
    "provisional": "Provisional",
    "differential": "Differential diagnosis",
    "refuted": "Refuted",
    "entered-in-error": "Entered in error",
    "completed": "Completed",
    "stopped": "Stopped",
    "on-hold": "On hold",
    "cancelled": "Cancelled",
    "draft": "Draft",
    "unknown": "Status not known",
    "intended": "Intended",
    "not-taken": "Not taken",
    "not-done": "Not done",
    "revoked": "Revoked",
    "planned": "Planned",
    "arrived": "Arrived",
    "triaged": "Triaged",
    "in-progress": "In progress",
    "onleave": "On leave",
    "finished": "Finished",
    "proposed": "Proposed",
    "pending": "Pending",
    "booked": "Booked",
    "fulfilled": "Attended",
    "noshow": "Did not attend",
    "checked-in": "Checked in",
    "waitlist": "On the waiting list",
    "registered": "Registered",
    "preliminary": "Preliminary",
    "final": "Final",
    "amended": "Amended",
    "corrected": "Corrected",
    "appended": "Appended",
    "partial": "Partial",
    "current": "Current",
    "superseded": "Superseded",
}

# UCUM codes (and the ways sources spell them) as people write them; anything else is shown as
# the source's own unit text, or its code.
UNIT_WORDS: dict[str, str] = {
    "mm[Hg]": "mmHg",
    "mmHg": "mmHg",
    "10*9/L": "10^9/L",
    "10*12/L": "10^12/L",
    "10*3/uL": "10^3/µL",
    "/min": "/min",
    "{beats}/min": "beats/min",
    "{breaths}/min": "breaths/min",
    "%": "%",
    "kg/m2": "kg/m²",
    "Cel": "°C",
    "[degF]": "°F",
    "mmol/L": "mmol/L",
    "mmol/mol": "mmol/mol",
    "umol/L": "µmol/L",
    "ug/L": "µg/L",
    "ng/mL": "ng/mL",
    "mg/L": "mg/L",
    "mg/dL": "mg/dL",
    "g/L": "g/L",
    "g/dL": "g/dL",
    "U/L": "U/L",
    "[IU]/L": "IU/L",
    "fL": "fL",
    "pg": "pg",
    "mL/min/{1.73_m2}": "mL/min/1.73m²",
    "kg": "kg",
    "g": "g",
    "cm": "cm",
    "m": "m",
    "L/min": "L/min",
    "mL": "mL",
}
_NO_SPACE_UNITS = frozenset({"%", "°C", "°F"})
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$")


def status_words(code: Any) -> str:
    """'noshow' -> 'Did not attend'; an unknown code reads as itself ('on-leave' -> 'On leave')."""
    if not isinstance(code, str) or not code.strip():
        return ""
    known = STATUS_WORDS.get(code.strip().lower())
    if known:
        return known
    if re.fullmatch(r"[a-z][a-z-]*", code.strip()):
        words = code.strip().replace("-", " ")
        return words[0].upper() + words[1:]
    return code.strip()


def unit_words(unit: Any = None, code: Any = None) -> str:
    """The unit of a Quantity as people write it: the table for the code (or the unit text);
    else the source's unit text; else its code."""
    for candidate in (code, unit):
        if isinstance(candidate, str) and candidate in UNIT_WORDS:
            return UNIT_WORDS[candidate]
    for candidate in (unit, code):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return ""


def number_words(value: Any) -> str:
    """A FHIR decimal as written, never in exponent form (0.00001, not 1e-05)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    if isinstance(value, str):
        return value
    return ""


def with_unit(number: str, unit: str) -> str:
    if not unit:
        return number
    # 97%, 36.8°C and 72/min are written close up; 5 mmol/L with a space.
    close = unit in _NO_SPACE_UNITS or unit.startswith("/")
    return f"{number}{unit}" if close else f"{number} {unit}"


def date_words(value: Any) -> str:
    """A FHIR date, dateTime or instant as NHS.UK writes it: '15 January 2026' for a date,
    '15 January 2026, 14:40' (London time) for a moment, 'January 2026' or '2026' for less."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    plain = _DATE.match(text)
    if plain:
        year, month, day = plain.groups()
        try:
            if day:
                return _day_words(datetime.date(int(year), int(month), int(day)))
            if month:
                return datetime.date(int(year), int(month), 1).strftime("%B %Y")
        except ValueError:
            return text
        return year
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)  # FHIR requires a zone; a source that leaves it
    local = moment.astimezone(LONDON)  # out is taken to mean its own (London) time
    return f"{_day_words(local.date())}, {local:%H:%M}"


def time_words(value: Any) -> str:
    """A FHIR time ('14:40:00') as '14:40'."""
    if not isinstance(value, str):
        return ""
    found = _TIME.match(value.strip())
    return f"{found.group(1)}:{found.group(2)}" if found else value.strip()


def period_words(period: Any) -> str:
    """'15 January 2026 to 20 January 2026', 'from 15 January 2026', 'until 20 January 2026'."""
    if not isinstance(period, dict):
        return ""
    start, end = date_words(period.get("start")), date_words(period.get("end"))
    if start and end:
        return start if start == end else f"{start} to {end}"
    if start:
        return f"from {start}"
    return f"until {end}" if end else ""


def _day_words(day: datetime.date) -> str:
    return f"{day.day} {day:%B %Y}"
