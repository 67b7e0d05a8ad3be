"""Limits on what one answer from a source may be: its size on the wire and once decompressed,
how deep its JSON nests, how long its texts are, and which characters they may hold.

The body is counted while it is read and inflated a bounded amount at a time, so a hostile or
broken source costs at most one limit's worth of memory; a breach refuses the whole answer with
a reason a reader can be shown (LimitExceeded), and nothing of it is used.
"""

import codecs
import re
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3.exceptions

from records.sources.errors import LimitExceeded, MalformedResponse, SourceUnavailable

CHUNK_BYTES = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"  # what we ask for; any other encoding is refused
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# C0 controls other than tab, LF and CR, and UTF-16 surrogates (in a decoded str only a lone one
# can be left): PostgreSQL refuses NUL in text and jsonb, and none of them belongs in a record.
_INVALID_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


@dataclass(frozen=True)
class ResponseLimits:
    """The most one answer may be (settings LCR_SOURCE_MAX_*; records.fetching.response_limits)."""

    max_bytes: int  # on the wire, compressed or not
    max_decompressed_bytes: int
    max_depth: int  # of JSON objects and arrays, the outermost counting one
    max_string_chars: int  # of any one string, keys included
    # Objects and arrays in one answer, counted in the bytes before parsing (a bracket inside a
    # text counts too: the count can only be high). Each costs memory once parsed: 10 MB of
    # `{},{},...` is three million empty objects, some 280 MB of Python, within every other limit.
    max_containers: int = 500_000


def size_words(count: int) -> str:
    """10000000 -> "10 MB": limits are set in bytes and said in the units people use."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= size:
            return f"{count / size:,.3g} {unit}"
    return f"{count:,} bytes"


def read_body(
    response: Any, limits: ResponseLimits, *, deadline: float | None = None, where: str = ""
) -> bytes:
    """The body of a streamed `requests` response, counted as it comes: refused as soon as it
    passes a size limit (on the wire, or inflated), or the source's time budget runs out."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise LimitExceeded(
            f"sent more than {size_words(limits.max_bytes)}",
            detail=f"Content-Length {declared} from {where}",
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    inflater = None if encoding in ("", "identity") else _Inflater(encoding, where)
    wire = inflated = 0
    parts = []
    for chunk in _raw_chunks(response, where):
        wire += len(chunk)
        if wire > limits.max_bytes:
            raise LimitExceeded(
                f"sent more than {size_words(limits.max_bytes)}",
                detail=f"body over {limits.max_bytes} bytes from {where}",
            )
        if deadline is not None and time.monotonic() > deadline:
            # Each read has its own timeout, but a source dripping its answer would pass them all.
            raise SourceUnavailable("timed out", detail=f"reading the answer from {where}")
        data = chunk if inflater is None else inflater.inflate(chunk, limits.max_decompressed_bytes)
        inflated += len(data)
        if inflated > limits.max_decompressed_bytes:
            raise LimitExceeded(
                f"sent more than {size_words(limits.max_decompressed_bytes)} once decompressed",
                detail=f"{encoding} body over {limits.max_decompressed_bytes} bytes from {where}",
            )
        parts.append(data)
    return b"".join(parts)


def _raw_chunks(response: Any, where: str) -> Iterable[bytes]:
    """The body as it comes off the wire (de-chunked, not decompressed), CHUNK_BYTES at most."""
    try:
        yield from response.raw.stream(CHUNK_BYTES, decode_content=False)
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise SourceUnavailable("timed out", detail=f"reading the answer from {where}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise SourceUnavailable(
            "connection broke", detail=f"{type(exc).__name__} reading the answer from {where}"
        ) from exc


class _Inflater:
    """gzip (of one member or several) or deflate (zlib-wrapped or raw), inflated no further than
    the caller's limit: a bomb stops at limit + 1 bytes however far it would go."""

    def __init__(self, encoding: str, where: str) -> None:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise MalformedResponse(
                f"sent a compression we do not accept ({encoding[:20]})", detail=where
            )
        self._gzip = encoding != "deflate"
        self._where = where
        self._obj = zlib.decompressobj(_GZIP_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False  # some output seen: the format is settled
        self._later_member = False  # a gzip member after the first, none of it inflated yet
        self._ended = False  # what comes after the last stream is ignored, as urllib3 does
        self._unsettled = b""  # deflate's input until some output: fed again if it proves raw
        self._given = 0

    def inflate(self, data: bytes, limit: int) -> bytes:
        """What `data` inflates to, cut off once the whole body passes `limit` bytes."""
        out = []
        while data and not self._ended and self._given <= limit:
            if self._obj.eof:
                if not self._gzip:
                    self._ended = True
                    break
                self._obj = zlib.decompressobj(_GZIP_WBITS)  # a gzip body may have members
                self._later_member = True
            if not self._gzip and not self._started:
                self._unsettled += data
            try:
                # One byte past the limit is enough to know the body is too big.
                piece = self._obj.decompress(data, limit + 1 - self._given)
            except zlib.error as exc:
                if self._later_member:
                    self._ended = True  # not another member: trailing bytes
                    break
                if self._gzip or self._started:
                    raise MalformedResponse(
                        "response could not be decompressed", detail=self._where
                    ) from exc
                # "deflate" is meant to be zlib-wrapped, but some servers send it raw.
                self._obj, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                data = self._unsettled
                continue
            if piece:
                self._started, self._unsettled = True, b""
            self._later_member = self._later_member and not piece
            out.append(piece)
            self._given += len(piece)
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        return b"".join(out)


def parse_json(body: bytes, limits: ResponseLimits, *, where: str = "") -> Any:
    """Parse a source's JSON and check every value against the limits; LimitExceeded if one is
    passed, MalformedResponse if it is not JSON."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    if body.count(b"{") + body.count(b"[") > limits.max_containers:
        raise LimitExceeded(
            f"sent more than {limits.max_containers:,} JSON objects and arrays in one answer",
            detail=where,
        )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson stops at depth 1024 and refuses broken UTF-8, lone surrogates and raw controls.
        message = str(exc)
        if "depth limit" in message:
            raise LimitExceeded(
                f"sent JSON nested more than {limits.max_depth} deep", detail=where
            ) from exc
        if "UTF-8" in message:
            raise LimitExceeded("sent an invalid character (not UTF-8)", detail=where) from exc
        if "surrogate" in message:
            raise LimitExceeded(
                "sent an invalid character (a lone surrogate)", detail=where
            ) from exc
        if "control character" in message:
            raise LimitExceeded(
                "sent an invalid character (a control character)", detail=where
            ) from exc
        raise MalformedResponse(
            "response is not valid JSON", detail=f"{message[:80]} from {where}"
        ) from exc
    check_values(value, limits, where=where)
    return value


def check_values(value: Any, limits: ResponseLimits, *, where: str = "") -> None:
    """Walk parsed JSON without recursion: depth, length of every string and key, characters."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
            for key in node:
                _check_text(key, limits, where)
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, str):
                _check_text(node, limits, where)
            continue
        if depth > limits.max_depth:
            raise LimitExceeded(f"sent JSON nested more than {limits.max_depth} deep", detail=where)
        for child in children:
            if isinstance(child, str):
                _check_text(child, limits, where)
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))


def _check_text(text: str, limits: ResponseLimits, where: str) -> None:
    if len(text) > limits.max_string_chars:
        raise LimitExceeded(
            f"sent a text longer than {limits.max_string_chars:,} characters",
            detail=f"{len(text)} characters from {where}",
        )
    found = _INVALID_CHARACTER.search(text)
    if found is not None:
        character = found.group()
        if character == "\x00":
            what = "NUL"
        elif character >= "\ud800":
            what = "a lone surrogate"
        else:
            what = f"control character U+{ord(character):04X}"
        raise LimitExceeded(f"sent an invalid character ({what})", detail=where)
