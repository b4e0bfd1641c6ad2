"""Conditions under which a clause applies, read from the words around its keyword.

The spec states conditions in a handful of stock phrasings ("If VIRTIO_F_X has been
negotiated", "if offered by the device", "When using the legacy interface", a block
preamble "Normative statements in this section apply if ..."). We recognise those and
nothing cleverer; a clause whose condition is phrased otherwise gets its conditions from
the overlay, where a person has read it.
"""

from __future__ import annotations

import re

FEATURE = re.compile(r"\bVIRTIO_(?:BALLOON_)?F_[A-Z0-9_]+\b")
_NEGATED = re.compile(
    r"\b(?:not\s+(?:been\s+)?(?:negotiated|accepted)|did\s+not\s+accept|not\s+accept(?:ed)?|"
    r"is\s+not\s+negotiated|unless)\b"
)
_NEGOTIATED = re.compile(r"\b(?:negotiat\w*|accept\w*)\b")
_OFFERED = re.compile(r"\boffer\w*\b")
_SEGMENT = re.compile(r"[,;:]|\band\s+if\b|\bOtherwise\b|\bwhen\b|\bWhen\b")
_PREAMBLE = re.compile(r"Normative statements in this section apply if", re.IGNORECASE)
_IF_OFFERED = re.compile(r"\bif\s+(?:it\s+is\s+|they\s+are\s+)?offered\b")
_LEGACY = re.compile(r"\blegacy\s+interface\b", re.IGNORECASE)


def preamble(text: str) -> dict[str, list[str]] | None:
    """Conditions stated by a block preamble, or None if ``text`` is not one."""
    if not _PREAMBLE.search(text):
        return None
    return _features(text)


def _features(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    last_feature = ""
    for segment in _SEGMENT.split(text):
        names = FEATURE.findall(segment)
        if not names and re.search(r"\bthis feature\b", segment) and last_feature:
            names = [last_feature]
        for name in names:
            if _NEGATED.search(segment):
                key = "not_negotiated"
            elif _NEGOTIATED.search(segment):
                key = "negotiated"
            elif _OFFERED.search(segment):
                key = "offered"
            else:
                continue
            if name not in found.setdefault(key, []):
                found[key].append(name)
        if names:
            last_feature = names[-1]
    return found


def derive(
    before_keyword: str,
    after_keyword: str,
    context: str,
    block: dict[str, list[str]],
    legacy_block: bool,
    transport: str | None,
) -> dict[str, object]:
    """Conditions of one clause: its block's preamble, its list lead-ins, the text that
    precedes its keyword in its own sentence, and a trailing "if (it is) offered"."""
    merged: dict[str, list[str]] = {k: list(v) for k, v in block.items()}
    found = _features(f"{context} {before_keyword}")
    offered_if = _IF_OFFERED.search(after_keyword)
    if offered_if:
        found.setdefault("offered", []).extend(FEATURE.findall(after_keyword[: offered_if.start()]))
    for key, names in found.items():
        merged.setdefault(key, [])
        merged[key].extend(n for n in names if n not in merged[key])
    result: dict[str, object] = {
        key: merged[key] for key in ("negotiated", "not_negotiated", "offered") if merged.get(key)
    }
    if legacy_block or _LEGACY.search(f"{context} {before_keyword}"):
        result["legacy"] = True
    if transport:
        result["transport"] = transport
    return result
