"""How a snapshot's item keeps its source resource: its `meta` apart, as data (every look reads
its security labels), and the rest as the JSON text it was written as (the API passes it on as
it is, with meta.source added, rather than decoding and writing 700 KB of resources per read).

Items cached before this kept the resource as data (`resource`), as does an item whose resource
orjson cannot write; both are read here (the data first, if an item had both), so nothing else
needs to know which an item holds.
"""

from typing import Any

import orjson

from records.sources.codings import codings_in

TEXT = "resource_text"  # the resource without its meta, as JSON text
META = "resource_meta"  # its meta, when it has one
CODINGS = "codings"  # every (system, code) in it (records.sources.codings)


def resource_fields(resource: dict[str, Any]) -> dict[str, Any]:
    """What an item stores of its resource. A resource orjson cannot write (an integer beyond
    64 bits) is kept as data, as items were before."""
    codings = [list(pair) for pair in codings_in(resource)]
    rest = {key: value for key, value in resource.items() if key != "meta"}
    try:
        text = orjson.dumps(rest).decode()
    except orjson.JSONEncodeError:
        return {"resource": resource, CODINGS: codings}
    fields = {TEXT: text, CODINGS: codings}
    if "meta" in resource:
        fields[META] = resource["meta"]
    return fields


def holds_resource(item: dict[str, Any]) -> bool:
    return isinstance(item.get(TEXT), str) or isinstance(item.get("resource"), dict)


def stored_resource(item: dict[str, Any]) -> dict[str, Any] | None:
    """The item's source resource as data (decoded: for the few readers that need all of it)."""
    resource = item.get("resource")
    if isinstance(resource, dict):
        return resource
    text = item.get(TEXT)
    if not isinstance(text, str):
        return None
    resource = orjson.loads(text)
    if META in item:
        resource["meta"] = item[META]
    return resource


def resource_meta(item: dict[str, Any]) -> Any:
    """The resource's meta, without decoding the rest of it (None when it has none)."""
    resource = item.get("resource")
    return resource.get("meta") if isinstance(resource, dict) else item.get(META)


def may_hold_patient(item: dict[str, Any]) -> bool:
    """False only when the item's resource cannot be, or contain, a Patient resource: its text
    does not name one (a Patient's resourceType is written `"Patient"`, contained or not)."""
    text = item.get(TEXT)
    return not isinstance(text, str) or "resource" in item or '"Patient"' in text


def with_resource(item: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """The item holding another resource (one with elements left out), its codings found again
    so that nothing left out still counts."""
    kept = {key: value for key, value in item.items() if key not in ("resource", TEXT, META)}
    if "resource" in item:
        kept["resource"] = resource
        if CODINGS in item:
            kept[CODINGS] = [list(pair) for pair in codings_in(resource)]
        return kept
    return {**kept, **resource_fields(resource)}


def resource_text_with_source(item: dict[str, Any], source: str) -> str | None:
    """The item's resource as JSON text with meta.source set to `source`, made from its stored
    text without decoding it; None for an item that keeps its resource as data."""
    text = item.get(TEXT)
    if not isinstance(text, str) or isinstance(item.get("resource"), dict):
        return None
    meta = item.get(META)
    meta = {**meta, "source": source} if isinstance(meta, dict) else {"source": source}
    written = orjson.dumps(meta).decode()
    return f'{text[:-1]},"meta":{written}}}' if text != "{}" else f'{{"meta":{written}}}'
