"""Codes that do not say what a thing is: GP2GP's transfer-degraded codes and generic allergy
codes. Two items sharing one of these are not the same thing, so the summary never merges them.

The degraded codes are SNOMED CT's, as listed by UK Core's clinical codes guidance ("Degraded
concept details") and GP Connect: a record moved between GP systems whose original code the
receiving system did not understand keeps its meaning only in the text (`code.text`).
"""

SNOMED = "http://snomed.info/sct"

TRANSFER_DEGRADED: dict[str, str] = {
    "196461000000101": "Transfer-degraded drug allergy",
    "196471000000108": "Transfer-degraded non-drug allergy",
    "196421000000109": "Transfer-degraded medication entry",
    "196451000000104": "Transfer-degraded plan",
    "196431000000106": "Transfer-degraded referral",
    "196441000000102": "Transfer-degraded request",
    "196411000000103": "Transfer-degraded record entry",
}
# Kinds of allergy rather than substances: "Drug allergy" says nothing of which drug.
GENERIC_ALLERGY: dict[str, str] = {
    "419199007": "Allergy to substance",
    "416098002": "Drug allergy",
    "414285001": "Food allergy",
    "59037007": "Drug intolerance",
    "235719002": "Food intolerance",
    "420134006": "Propensity to adverse reactions",
    "418038007": "Propensity to adverse reactions to substance",
    "419511003": "Propensity to adverse reactions to drug",
    "418471000": "Propensity to adverse reactions to food",
}


def is_degraded(system: str, code: str) -> bool:
    """A GP2GP transfer-degraded code: the meaning is in the text, not the code."""
    return system == SNOMED and code in TRANSFER_DEGRADED


def names_one_thing(system: str, code: str) -> bool:
    """Whether a code (with its system) names one substance or medicine, so that two items with
    it are the same; False for no code, no system, a degraded or a generic code."""
    if not system or not code:
        return False
    return not (system == SNOMED and (code in TRANSFER_DEGRADED or code in GENERIC_ALLERGY))
