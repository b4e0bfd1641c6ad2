"""The extractor: spec sources -> the extracted layer of the catalogue.

Clause IDs are permanent.  On re-extraction a clause keeps its ID by matching, in order:
its fingerprint within the same block, its fingerprint anywhere (the sentence moved), then
the nearest text within the same block and role (the sentence was edited).  A sentence that
matches nothing gets the next free number of its area; an old clause that nothing matched
is kept with ``status: retired`` and its number is never reused.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballast.errors import UsageError
from ballast.spec.conditions import derive, preamble
from ballast.spec.latex import Block, LatexError, blocks
from ballast.spec.sentences import KEYWORD, Unit, units
from ballast.spec.sources import Area, Sources

NEAREST_TEXT_MIN_RATIO = 0.6
_ROLE_NOUN = re.compile(
    r"\b(?:(?P<both>devices?\s+and\s+(?:transitional\s+)?drivers?|"
    r"drivers?\s+and\s+(?:transitional\s+)?devices?)|(?P<driver>drivers?)|(?P<device>devices?))\b",
    re.IGNORECASE,
)


@dataclass
class Extracted:
    """One clause as the extractor sees it, before an ID is assigned."""

    anchor: str
    prefix: str
    area: str
    role: str
    level: str
    text: str
    context: str
    keyword: int  # 1-based occurrence within its sentence; 0 when the sentence has only one
    position: str  # "p<paragraph>.u<unit>" within the block
    conditions: dict[str, Any]
    legacy: bool
    scope: str
    source: str

    @property
    def fingerprint(self) -> str:
        material = "\n".join(
            [self.role, self.level, str(self.keyword), self.context, self.text]
        ).encode()
        return hashlib.sha256(material).hexdigest()[:16]


def roles_of(kind: str, before_keyword: str) -> list[str]:
    """Who a keyword binds: the macro says so for normative blocks; in a legacy section it
    is the nearest role noun before the keyword ("transitional devices and drivers" binds
    both; no noun at all binds both)."""
    if kind in ("driver", "device"):
        return [kind]
    nouns = list(_ROLE_NOUN.finditer(before_keyword))
    if not nouns or nouns[-1].group("both"):
        return ["device", "driver"]
    return ["driver"] if nouns[-1].group("driver") else ["device"]


def extract_block(block: Block, area: Area) -> list[Extracted]:
    """Every clause of one normative block, in document order."""
    found: list[Extracted] = []
    block_conditions: dict[str, list[str]] = {}
    for unit in units(block.body):
        pre = preamble(unit.text)
        if pre is not None and not unit.keywords():
            block_conditions = pre
            continue
        found.extend(_clauses_of_unit(block, area, unit, block_conditions))
    return found


def _clauses_of_unit(
    block: Block, area: Area, unit: Unit, block_conditions: dict[str, list[str]]
) -> list[Extracted]:
    matches = list(KEYWORD.finditer(unit.own))
    result: list[Extracted] = []
    # Text between two keywords is the earlier keyword's predicate, not a condition of the
    # later one: conditions come from the sentence's lead before its first keyword, plus a
    # trailing "if (it is) offered" after the keyword.
    lead = unit.own[: matches[0].start()] if matches else ""
    for ordinal, match in enumerate(matches, start=1):
        before = unit.own[: match.start()]
        tail = unit.own[match.end() : matches[ordinal].start() if ordinal < len(matches) else None]
        level = re.sub(r"\s+", " ", match.group(1))
        for role in roles_of(block.kind, before):
            result.append(
                Extracted(
                    anchor=block.anchor,
                    prefix=area.prefix,
                    area=area.area,
                    role=role,
                    level=level,
                    text=unit.text,
                    context=unit.context,
                    keyword=ordinal if len(matches) > 1 else 0,
                    position=f"p{unit.paragraph}.u{unit.position}",
                    conditions=derive(
                        lead,
                        tail,
                        unit.context,
                        block_conditions,
                        block.kind == "legacy",
                        area.transport,
                    ),
                    legacy=block.kind == "legacy",
                    scope=area.scope,
                    source=block.path,
                )
            )
    return result


def extract_sources(sources: Sources) -> list[Extracted]:
    """Read every source file and return all clauses in document order."""
    result: list[Extracted] = []
    for rel in sources.files:
        path = sources.root / rel
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot read spec source {path}: {exc.strerror}; "
                "pass --spec-root or set BALLAST_SPEC_ROOT to the spec directory"
            ) from exc
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"spec source {path} is not UTF-8 text (byte {exc.start}); "
                "restore it from the spec release"
            ) from exc
        try:
            parsed = blocks(text, rel)
        except LatexError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        for block in parsed:
            if block.kind == "descriptive":
                continue
            area = sources.area_for(block.anchor)
            if area is None:
                raise UsageError(
                    f"{rel}:{block.line}: normative block '{block.anchor}' has no entry in "
                    "spec_refs/sources.yaml areas; add one (prefix, area, scope)"
                )
            result.extend(extract_block(block, area))
    return result


def keywords_outside_blocks(sources: Sources) -> list[tuple[str, int, str]]:
    """Upper-case keywords in descriptive text: not clauses (the spec's convention puts
    normative text in normative blocks), but worth a look when the spec changes."""
    strays: list[tuple[str, int, str]] = []
    for rel in sources.files:
        for block in blocks((sources.root / rel).read_text(encoding="utf-8"), rel):
            if block.kind != "descriptive":
                continue
            strays.extend(
                (rel, block.line, unit.text) for unit in units(block.body) if unit.keywords()
            )
    return strays


# --- ID assignment --------------------------------------------------------------------------


def assign_ids(new: list[Extracted], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every extracted clause an ID, keeping old IDs wherever a clause is recognised."""
    unclaimed = [c for c in old if c.get("status", "active") == "active"]
    ids: list[str | None] = [None] * len(new)
    changed_from: list[str | None] = [None] * len(new)

    def claim(i: int, candidate: dict[str, Any], edited: bool = False) -> None:
        ids[i] = candidate["id"]
        # sticky until the overlay marks the new text reviewed
        changed_from[i] = candidate.get("changed_from") or (
            candidate["fingerprint"] if edited else None
        )
        unclaimed.remove(candidate)

    for i, clause in enumerate(new):
        same = [
            c
            for c in unclaimed
            if c["fingerprint"] == clause.fingerprint and c["anchor"] == clause.anchor
        ]
        if same:
            claim(i, same[0])
    for i, clause in enumerate(new):
        moved = [c for c in unclaimed if c["fingerprint"] == clause.fingerprint]
        if ids[i] is None and moved:
            claim(i, moved[0])
    # Edited sentences: the closest pairs (same level first, then most similar text) claim
    # their IDs first, so a new sentence that happens to come earlier in the block cannot
    # take the ID of an edited one it merely resembles.
    pairs = [
        (c["level"] == clause.level, ratio, -i, i, c)
        for i, clause in enumerate(new)
        if ids[i] is None
        for c in unclaimed
        if c["anchor"] == clause.anchor
        and c["role"] == clause.role
        and (ratio := _similarity(c, clause)) >= NEAREST_TEXT_MIN_RATIO
    ]
    pairs.sort(key=lambda pair: pair[:3], reverse=True)  # ties: the earlier sentence first
    for *_, i, candidate in pairs:
        if ids[i] is None and any(candidate is c for c in unclaimed):
            claim(i, candidate, edited=True)

    next_number: dict[str, int] = {}
    for clause in old:
        stem, number = clause["id"].rsplit(".", 1)
        next_number[stem] = max(next_number.get(stem, 0), int(number))
    records: list[dict[str, Any]] = []
    for i, clause in enumerate(new):
        clause_id = ids[i]
        if clause_id is None:
            stem = f"{clause.prefix}.{clause.role}.{clause.area}"
            next_number[stem] = next_number.get(stem, 0) + 1
            clause_id = f"{stem}.{next_number[stem]:02d}"
        records.append(_record(clause_id, clause, changed_from[i]))
    retired = [dict(c, status="retired") for c in unclaimed]
    retired += [c for c in old if c.get("status") == "retired"]
    return records + sorted(retired, key=lambda c: c["id"])


def _similarity(old: dict[str, Any], new: Extracted) -> float:
    return difflib.SequenceMatcher(None, old["text"], new.text).ratio()


def _record(clause_id: str, clause: Extracted, changed_from: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": clause_id,
        "anchor": clause.anchor,
        "role": clause.role,
        "level": clause.level,
        "text": clause.text,
    }
    if clause.context:
        record["context"] = clause.context
    if clause.keyword:
        record["keyword"] = clause.keyword
    record["conditions"] = clause.conditions
    record["legacy"] = clause.legacy
    record["scope"] = clause.scope
    record["source"] = f"{clause.source} {clause.position}"
    record["fingerprint"] = clause.fingerprint
    if changed_from and changed_from != clause.fingerprint:
        record["changed_from"] = changed_from
    record["status"] = "active"
    return record


def prefix_of(record: dict[str, Any]) -> str:
    return str(record["id"]).split(".", 1)[0]


def catalogue_files(records: list[dict[str, Any]], directory: Path) -> dict[Path, Any]:
    """Group records into one file per ID prefix, in a stable order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(prefix_of(record), []).append(record)
    return {directory / f"{prefix}.yaml": items for prefix, items in sorted(grouped.items())}
