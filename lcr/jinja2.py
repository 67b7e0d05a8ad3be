"""The Jinja2 environment of the portal's pages: NHS.UK frontend macros, Django's URLs and static
files, and the few Django filters the pages use (dates in the local time zone, plurals).

Autoescape stays on. The admin and DRF keep Django's own template engine (settings.TEMPLATES).
"""

import datetime
import functools
from contextvars import ContextVar
from typing import Any

from django import forms
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince as timesince_between
from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    PackageLoader,
    Template,
    Undefined,
    pass_context,
)
from jinja2.runtime import Context, Macro
from markupsafe import Markup

from access.models import AccessBasis
from care_record.timeline import date_sort_key
from records.fetching import SourceState
from records.form_fields import PARTS, DayMonthYearField, DayMonthYearInput, parts_in_error
from records.sources import wording

# Where a form field's value goes in a remembered macro output (see `memo`): what people type is
# put in afterwards, escaped, and never kept.
VALUE_SLOT = "\x00lcr-value\x00"
_MEMO_SIZE = 4096
_memo: dict[tuple, Markup] = {}
# What one page's render has worked out already (see PageTemplate): a record page says how old
# the same few fetches are hundreds of times.
_this_render: ContextVar[dict | None] = ContextVar("lcr_this_render", default=None)


class PageTemplate(Template):
    """A template whose render (with everything it includes and imports) reads every age against
    one moment, and works each one out once."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        if _this_render.get() is not None:  # rendered inside another page's render
            return super().render(*args, **kwargs)
        token = _this_render.set({})
        try:
            return super().render(*args, **kwargs)
        finally:
            _this_render.reset(token)


def url(name: str, *args: Any, **kwargs: Any) -> str:
    """`url("patient-record", patient_id=3)`: Django's reverse, with arguments either way."""
    return reverse(name, args=args or None, kwargs=kwargs or None)


def date(value: Any, format_string: str = "j M Y") -> str:
    """Django's `date` filter, after converting to the local time zone as Django's templates do."""
    return defaultfilters.date(timezone.template_localtime(value), format_string) if value else ""


def time(value: Any, format_string: str = "H:i") -> str:
    return defaultfilters.time(timezone.template_localtime(value), format_string) if value else ""


def timesince(value: Any) -> str:
    return defaultfilters.timesince_filter(value) if value else ""


def ago(value: Any) -> str:
    """How old something is, for a reader: "just now", "3 minutes ago", "2 hours ago". Within
    a page's render, against the moment of its first age, each moment worked out once."""
    if not value:
        return ""
    memo = _this_render.get()
    if memo is None:
        return _ago(value, timezone.now())
    key = ("ago", value)
    found = memo.get(key)
    if found is None:
        now = memo.get("now")
        if now is None:
            now = memo["now"] = timezone.now()
        found = memo[key] = _ago(value, now)
    return found


def _ago(value: datetime.datetime, now: datetime.datetime) -> str:
    if now - value < datetime.timedelta(minutes=1):
        return "just now"
    try:
        return f"{timesince_between(value, now)} ago"
    except (ValueError, TypeError):  # as Django's timesince filter: nothing to say
        return " ago"


def provenance(item: Any) -> Markup:
    """Where a record item comes from and how old that is, as the record page says it under
    every item: "Royal London Hospital, fetched 3 minutes ago" ("stale: fetched ..." when the
    snapshot is stale). A page has hundreds of items from a few fetches: each said once per
    render."""
    name, stale, fetched_at = item.get("source_name"), item.get("stale"), item.get("fetched_at")
    memo = _this_render.get()
    key = ("provenance", name, bool(stale), fetched_at)
    found = memo.get(key) if memo is not None else None
    if found is None:
        found = Markup('<span class="lcr-provenance">{}, {}fetched {}</span>').format(
            name, "stale: " if stale else "", ago(fetched_at)
        )
        if memo is not None:
            memo[key] = found
    return found


# A source's dates and status codes read the same every time: the words are remembered.
_date_words = functools.lru_cache(maxsize=_MEMO_SIZE)(wording.date_words)
_status_words = functools.lru_cache(maxsize=_MEMO_SIZE)(wording.status_words)
_date_sort_key = functools.lru_cache(maxsize=_MEMO_SIZE)(date_sort_key)


def fhir_date(value: Any) -> str:
    """A date a source gave (FHIR date, dateTime or instant) as NHS.UK writes it, in London
    time: "15 January 2026", or "15 January 2026, 14:40" when the source gave a time."""
    return _date_words(value) if isinstance(value, str) else wording.date_words(value)


def status_words(value: Any) -> str:
    """A status in plain English ("noshow" -> "Did not attend"); words already plain stay."""
    return _status_words(value) if isinstance(value, str) else wording.status_words(value)


def sort_key(value: Any) -> str:
    """care_record.timeline.date_sort_key, remembered for the dates seen before."""
    return _date_sort_key(value) if isinstance(value, str) else date_sort_key(value)


def pluralize(value: Any, suffixes: str = "s") -> str:
    return defaultfilters.pluralize(value, suffixes)


def linebreaksbr(value: Any) -> str:
    return defaultfilters.linebreaksbr(value or "", autoescape=True)


# Which NHS.UK component shows a form field of each widget (first match; anything else: input).
_COMPONENTS = (
    (DayMonthYearInput, "date"),
    (forms.RadioSelect, "radios"),
    (forms.CheckboxInput, "checkbox"),
    (forms.Select, "select"),
    (forms.Textarea, "textarea"),
    (forms.FileInput, "file"),
    (forms.PasswordInput, "password"),
)


def field_kind(bound_field: forms.BoundField) -> str:
    """Which NHS.UK component shows this form field (templates/macros/forms.html)."""
    widget = bound_field.field.widget
    return next((kind for type_, kind in _COMPONENTS if isinstance(widget, type_)), "input")


def field_choices(bound_field: forms.BoundField) -> list[dict[str, Any]]:
    """Choices as the NHS.UK radios and select macros take them, with the current one marked."""
    current = bound_field.value()
    current = "" if current is None else str(current)
    return [
        {"value": str(value), "text": str(label), "selected": chosen, "checked": chosen}
        for value, label in bound_field.field.choices
        for chosen in [str(value) == current]
    ]


def date_items(bound_field: forms.BoundField) -> list[dict[str, Any]]:
    """A date's three boxes as the NHS.UK date-input macro takes them: what was typed (or the
    date), and the boxes its error is about marked."""
    field = bound_field.field
    shown = (
        field.parts_shown(bound_field.value())
        if isinstance(field, DayMonthYearField)
        else ["", "", ""]
    )
    wrong = parts_in_error(bound_field)
    return [
        {
            "id": f"{bound_field.auto_id}_{part}",
            "name": f"{bound_field.html_name}_{part}",
            "label": part.capitalize(),
            "value": value,
            "width": 4 if part == "year" else 2,
            "classes": "nhsuk-input--error" if part in wrong else "",
        }
        for part, value in zip(PARTS, shown, strict=True)
    ]


def error_href(bound_field: forms.BoundField) -> str:
    """Where the error summary's link for this field goes: the field, or a date's first box
    that is wrong."""
    if field_kind(bound_field) == "date":
        wrong = parts_in_error(bound_field) or [PARTS[0]]
        return f"#{bound_field.auto_id}_{wrong[0]}"
    return f"#{bound_field.auto_id}"


@pass_context
def errors_on_page(context: Context) -> bool:
    """Whether a form the page was given is in error (its title then starts "Error: "): any
    bound Django form in the page's context, or `page_errors` set by a view that checks by hand."""
    if context.get("page_errors"):
        return True
    return any(
        isinstance(value, forms.BaseForm) and value.is_bound and bool(value.errors)
        for value in context.get_all().values()
    )


def memo(macro: Macro, params: dict[str, Any]) -> Markup:
    """An NHS.UK component macro's output, remembered for parameters seen before.

    The component macros are pure (same parameters, same HTML) but slow: an input takes about a
    millisecond and a half to render, the header as long, a search form five of them. Pages call
    them with a few repeated sets of parameters, so the output is remembered per macro and
    parameters (bounded; emptied when full). Parameters that cannot be compared are rendered
    every time. Values people type go through VALUE_SLOT, so none is kept here.
    """
    try:
        key = (macro.name, macro._func.__code__.co_filename, _frozen(params))
    except TypeError:
        return macro(params)
    found = _memo.get(key)
    if found is None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        found = _memo[key] = macro(params)
    return found


def _frozen(value: Any) -> Any:
    """A hashable stand-in that tells apart everything a macro tells apart (bool from int, HTML
    from text, undefined from none)."""
    if isinstance(value, Undefined):
        return ("undefined",)
    if isinstance(value, Markup):
        return ("html", str(value))
    if isinstance(value, bool):
        return ("bool", value)
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(v) for v in value))
    raise TypeError(f"{type(value).__name__} is not remembered")


# What a plain dict answers as an attribute (its methods): any other name can only be a key.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class PageEnvironment(Environment):
    """Jinja's environment, reading `item.title` of a plain dict as its key straight away.

    Jinja tries the attribute first and the key after an AttributeError; pages read tens of
    thousands of fields of view items and macro parameters (dicts) each, and the raised error
    was a fifth of a record page's render. The answer is the same: a dict has no attribute but
    its methods, which are still found as attributes.
    """

    template_class = PageTemplate

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def environment(**options: Any) -> Environment:
    """Called by Django's Jinja2 backend with the loader it built from TEMPLATES' DIRS."""
    options["loader"] = ChoiceLoader(
        [options.pop("loader"), PackageLoader("nhsuk_frontend_jinja", "templates")]
    )
    # The NHS.UK macros read nested optional parameters (params.label.text) without checks.
    options["undefined"] = ChainableUndefined
    options["autoescape"] = True
    env = PageEnvironment(**options)  # autoescape is on, set just above
    env.globals.update(
        url=url,
        static=static,
        field_kind=field_kind,
        field_choices=field_choices,
        date_items=date_items,
        errors_on_page=errors_on_page,
        error_href=error_href,
        memo=memo,
        provenance=provenance,
        VALUE_SLOT=VALUE_SLOT,
        now=timezone.now,  # the printed notice's time (portal.js puts the time of printing)
        # The states and bases that pages branch on, by name rather than as repeated strings.
        SourceState=SourceState,
        AccessBasis=AccessBasis,
    )
    env.filters.update(
        date=date,
        time=time,
        timesince=timesince,
        ago=ago,
        fhir_date=fhir_date,
        date_sort_key=sort_key,
        status_words=status_words,
        pluralize=pluralize,
        linebreaksbr=linebreaksbr,
    )
    return env
