"""Which items of a record are sensitive by what they say, whoever holds them.

An item is sensitive when any code in its source resource (its own code, a reason, a category,
anything coded) is in one of the sensitive code sets (access.models.SensitiveCodeSet), when its
`meta.security` carries an HL7 sensitivity label that is in them (HIV, PSY, SDV...), or when it
is labelled restricted or very restricted (records.confidentiality). The sets are read at every
look, so a change to them applies at once; the role policy (access.policy.decide) says which
sensitivities a look may show.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from access.models import SensitiveCode, Sensitivity
from records.confidentiality import confidentiality_of, is_restricted
from records.sources.codings import codings_in
from records.stored_items import CODINGS, holds_resource, resource_meta, stored_resource

# The names FHIR and UK systems give ICD-10: its codes are matched by category (B20 covers
# B20.1, written with or without the dot).
ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-uk",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10-gm",
    }
)
SENSITIVE_WARNING = "Sensitive: shown under emergency access"


def withheld_words(count: int) -> str:
    """What a heading says of the items it leaves out as sensitive."""
    if count == 1:
        return "1 item withheld because it is sensitive"
    return f"{count:,} items withheld because they are sensitive"


def _icd10_key(code: str) -> str:
    return code.replace(".", "").strip().upper()


@dataclass(frozen=True)
class SensitiveCodes:
    """The code sets as one lookup: exact (system, code) pairs, and ICD-10 by category."""

    exact: Mapping[tuple[str, str], frozenset[str]]
    icd10: Mapping[str, frozenset[str]]

    def of(self, system: str, code: str) -> frozenset[str]:
        """The sensitivities one coding marks, if any."""
        found = self.exact.get((system, code), frozenset())
        if system in ICD10_SYSTEMS and self.icd10:
            key = _icd10_key(code)
            for length in range(3, len(key) + 1):
                found = found | self.icd10.get(key[:length], frozenset())
        return found


def sensitive_codes() -> SensitiveCodes:
    """Every sensitive code, as it stands now (one query)."""
    exact: dict[tuple[str, str], set[str]] = {}
    icd10: dict[str, set[str]] = {}
    rows = SensitiveCode.objects.values_list("system", "code", "code_set__sensitivity")
    for system, code, sensitivity in rows:
        if system in ICD10_SYSTEMS:
            icd10.setdefault(_icd10_key(code), set()).add(sensitivity)
        else:
            exact.setdefault((system, code.strip()), set()).add(sensitivity)
    return SensitiveCodes(
        exact={key: frozenset(value) for key, value in exact.items()},
        icd10={key: frozenset(value) for key, value in icd10.items()},
    )


def sensitivities_of(item: Mapping[str, Any], codes: SensitiveCodes) -> frozenset[str]:
    """The sensitivities of one view item: by its source resource when it kept one, and always
    by its own code (items cached before resources were kept have only that). The resource's
    codings are the ones found when the item was made (`codings`), or, for an item cached
    before they were kept, found here."""
    found = set(codes.of(str(item.get("code_system", "")), str(item.get("code", ""))))
    if holds_resource(item):
        for system, code in _codings_of(item):
            found |= codes.of(system, code)
        if is_restricted(confidentiality_of({"meta": resource_meta(item)})):
            found.add(Sensitivity.RESTRICTED)
    return frozenset(found)


def _codings_of(item: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    kept = item.get(CODINGS)
    return kept if isinstance(kept, list) else codings_in(stored_resource(item) or {})
