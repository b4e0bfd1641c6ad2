"""From a normative block's paragraphs to keyword-bearing sentences ("units").

A unit is the smallest piece of spec text that carries one or more RFC 2119 keywords: a
sentence of running text, or a list item.  List items inherit the sentence that introduces
their list as *context*, because that lead-in often carries the condition ("If the
VIRTIO_F_EVENT_IDX feature bit is not negotiated: ...").  A lead-in sentence that carries a
keyword itself keeps its list in its text, so the clause stays verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ballast.spec.latex import ListNode, Node, inline, paragraphs, parse_nodes

KEYWORD = re.compile(
    r"\b(MUST\s+NOT|MUST|SHOULD\s+NOT|SHOULD|NOT\s+RECOMMENDED|RECOMMENDED|MAY|"
    r"SHALL\s+NOT|SHALL|REQUIRED|OPTIONAL)\b"
)
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z(\"`])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")


@dataclass(frozen=True)
class Unit:
    """A sentence or list item of a block, with where it sits."""

    text: str
    own: str  # the part whose keywords belong to this unit (a lead-in without its list items)
    context: str  # lead-in sentences of enclosing lists, outermost first ("" if none)
    paragraph: int  # 1-based paragraph index within the block
    position: int  # 1-based index of the unit within its paragraph

    def keywords(self) -> list[str]:
        return [re.sub(r"\s+", " ", m.group(1)) for m in KEYWORD.finditer(self.own)]


def split_sentences(text: str) -> list[str]:
    parts: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if parts and parts[-1].endswith(_ABBREVIATIONS):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]


def render(nodes: list[Node]) -> str:
    """Plain text of a node sequence, lists rendered inline as "- item" runs."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, ListNode):
            out.extend(f" - {render(item)}" for item in node.items)
        else:
            out.append(inline(node))
    return re.sub(r"\s+", " ", " ".join(out)).strip()


def units(body: str) -> list[Unit]:
    """Every unit of a block body, in document order (keyword-free ones included)."""
    result: list[Unit] = []
    for p_index, paragraph in enumerate(paragraphs(body), start=1):
        collected: list[tuple[str, str, str]] = []
        _walk(parse_nodes(paragraph), "", collected)
        result.extend(
            Unit(text, own, context, p_index, position)
            for position, (text, own, context) in enumerate(collected, start=1)
        )
    return result


def _walk(nodes: list[Node], context: str, out: list[tuple[str, str, str]]) -> None:
    """Append (text, own text, context) for every sentence of ``nodes``; recurse into lists
    whose items carry keywords of their own."""
    pending: list[str] = []  # sentences of the current text run, the last one may lead a list
    for node in nodes:
        if isinstance(node, ListNode):
            lead = pending.pop() if pending else ""
            out.extend((s, s, context) for s in pending)
            pending = []
            items_normative = any(KEYWORD.search(render(item)) for item in node.items)
            rendered = f"{lead} " + " ".join(f"- {render(item)}" for item in node.items)
            if not items_normative or KEYWORD.search(lead):
                out.append(
                    (rendered.strip(), lead if items_normative else rendered.strip(), context)
                )
            if items_normative:
                inner = f"{context} {lead}".strip()
                for item in node.items:
                    _walk(item, inner, out)
        else:
            text = inline(node)
            if text:
                pending.extend(split_sentences(text))
    out.extend((s, s, context) for s in pending)
