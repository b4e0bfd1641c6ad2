"""Just enough LaTeX for the virtio spec sources: find the normative blocks and turn their
paragraphs into plain text.

The virtio spec marks normative text two ways: the ``\\drivernormative`` and
``\\devicenormative`` macros (which expand to ``\\label{drivernormative:LABEL}``), and
sections whose title starts "Legacy Interface" (their MUST/SHOULD sentences are normative
too).  Everything else is descriptive.  We do not need a full TeX parser: the sources use a
small, regular subset, and anything this module does not understand is left in the text, so
that a later spec revision with new markup shows up as drift rather than as silently lost text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTIONING = ("chapter", "section", "subsection", "subsubsection", "paragraph", "subparagraph")
_COMMAND = re.compile(
    r"\\(chapter|section|subsection|subsubsection|paragraph|subparagraph|"
    r"drivernormative|devicenormative|conformance)\*?(?=[{\s])"
)
_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_WS = re.compile(r"\s+")


class LatexError(ValueError):
    """The source does not have the shape this parser relies on."""


@dataclass(frozen=True)
class Block:
    """A run of source text governed by one heading or normative macro."""

    kind: str  # "driver" | "device" (normative macros), "legacy", "descriptive"
    anchor: str  # the spec's own label, e.g. "drivernormative:Device Types / ..."
    title: str
    path: str  # source file, relative to the spec root
    line: int  # 1-based line of the heading
    body: str  # raw LaTeX of the block, comments removed
    section: str = ""  # the enclosing "sec:" label, for legacy and descriptive blocks


def strip_comments(source: str) -> str:
    return _COMMENT.sub("", source)


def braced(source: str, start: int) -> tuple[str, int]:
    """Content of the brace group opening at or after ``start``, and the index after it."""
    open_at = source.index("{", start)
    if source[start:open_at].strip():
        raise LatexError(f"expected '{{' at offset {start}")
    depth = 0
    for i in range(open_at, len(source)):
        char = source[i]
        if char == "\\":
            continue
        if char == "{" and source[i - 1] != "\\":
            depth += 1
        elif char == "}" and source[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return source[open_at + 1 : i], i + 1
    raise LatexError(f"unbalanced braces from offset {open_at}")


def normalise_label(label: str) -> str:
    return _WS.sub(" ", label).strip()


def blocks(source: str, path: str) -> list[Block]:
    """Split a .tex file into blocks at every heading and normative macro."""
    text = strip_comments(source)
    heads: list[tuple[int, int, str, str, str, str]] = []  # start, body, kind, anchor, title, sec
    section = ""
    for match in _COMMAND.finditer(text):
        name = match.group(1)
        pos = match.end()
        if name in ("drivernormative", "devicenormative"):
            _level, pos = braced(text, pos)
            title, pos = braced(text, pos)
            label, pos = braced(text, pos)
            anchor = f"{name}:{normalise_label(label)}"
            kind = name.removesuffix("normative")
        else:
            title, pos = braced(text, pos)
            labels = []
            while label_match := re.match(r"\s*\\label\{", text[pos:]):
                label, pos = braced(text, pos + label_match.end() - 1)
                labels.append(normalise_label(label))
            normative = _raw_normative(normalise_label(title), labels)
            if normative:
                kind, anchor = normative
            else:
                anchor = labels[0] if labels else ""
                section = anchor
                legacy = normalise_label(title).lower().startswith("legacy interface")
                kind = "legacy" if legacy and name != "conformance" else "descriptive"
        heads.append((match.start(), pos, kind, anchor, normalise_label(title), section))
    result: list[Block] = []
    for i, (start, body_start, kind, anchor, title, sec) in enumerate(heads):
        end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        line = text.count("\n", 0, start) + 1
        result.append(Block(kind, anchor, title, path, line, text[body_start:end], sec))
    return result


def _raw_normative(title: str, labels: list[str]) -> tuple[str, str] | None:
    """A heading that carries ``\\label{devicenormative:...}`` itself instead of using the
    macro (the spec does this once, in the PCI chapter): (kind, anchor), the role the
    title names ("Device Requirements: ...") deciding when both labels are present."""
    normative = [lb for lb in labels if lb.startswith(("drivernormative:", "devicenormative:"))]
    if not normative:
        return None
    named = [lb for lb in normative if title.lower().startswith(lb.split("normative:")[0])]
    anchor = (named or normative)[0]
    return anchor.split("normative:")[0], anchor


# --- from LaTeX to plain text -------------------------------------------------------------

_LIST_ENVS = ("itemize", "enumerate", "description")
_DROP_ENVS = ("note",)
_ENV = re.compile(r"\\(begin|end)\{(\w+)\}")


@dataclass
class ListNode:
    """A list environment; each item is itself a sequence of text and nested lists."""

    items: list[list[str | ListNode]]


Node = str | ListNode


def parse_nodes(tex: str) -> list[Node]:
    """Parse a paragraph into text runs and (nested) lists; drop notes, render tables and
    listings inline."""
    nodes: list[Node] = []
    pos = 0
    while True:
        match = _ENV.search(tex, pos)
        if match is None:
            nodes.append(tex[pos:])
            return nodes
        if match.group(1) == "end":
            raise LatexError(f"unexpected \\end{{{match.group(2)}}}")
        nodes.append(tex[pos : match.start()])
        env = match.group(2)
        inner_start = match.end()
        inner_end, after = _matching_end(tex, inner_start, env)
        inner = tex[inner_start:inner_end]
        if env in _LIST_ENVS:
            items = [re.sub(r"^\s*\[([^\]]*)\]", r"\1:", item) for item in _split_items(inner)]
            nodes.append(ListNode([parse_nodes(item) for item in items]))
        elif env.startswith("tab") or env == "longtable":
            nodes.append(" " + _render_table(inner) + " ")
        elif env == "lstlisting":
            nodes.append(" `" + _WS.sub(" ", inner).strip() + "` ")
        elif env not in _DROP_ENVS:
            nodes.extend(parse_nodes(inner))
        pos = after


def _matching_end(tex: str, start: int, env: str) -> tuple[int, int]:
    depth = 1
    for match in _ENV.finditer(tex, start):
        if match.group(2) != env:
            continue
        depth += 1 if match.group(1) == "begin" else -1
        if depth == 0:
            return match.start(), match.end()
    raise LatexError(f"\\begin{{{env}}} without \\end")


def _split_items(inner: str) -> list[str]:
    """Split a list body at its own top-level \\item commands (not those of nested lists)."""
    items: list[str] = []
    depth = 0
    current_start: int | None = None
    for match in re.finditer(r"\\item\b|\\(begin|end)\{(\w+)\}", inner):
        if match.group(0).startswith("\\item"):
            if depth == 0:
                if current_start is not None:
                    items.append(inner[current_start : match.start()])
                current_start = match.end()
        elif match.group(2) in _LIST_ENVS:
            depth += 1 if match.group(1) == "begin" else -1
    if current_start is not None:
        items.append(inner[current_start:])
    return items


def _render_table(inner: str) -> str:
    inner = re.sub(r"^\s*\{[^}]*\}", "", inner)  # column spec
    inner = re.sub(r"\\(hline|cline\{[^}]*\}|endhead|endfirsthead|endfoot|endlastfoot)", "", inner)
    inner = re.sub(r"\\caption\s*\{[^}]*\}|\\label\{[^}]*\}", "", inner)
    rows = [r for r in (row.strip() for row in inner.split("\\\\")) if r]
    cells = [" | ".join(inline(c) for c in row.split("&")) for row in rows]
    return "[table: " + "; ".join(c for c in cells if c.strip(" |")) + "]"


_INLINE_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\\label\{[^}]*\}"), ""),
    (re.compile(r"\\ref\{([^}]*)\}\s*~?\s*\\nameref\{[^}]*\}"), r"<<\1>>"),
    (re.compile(r"\\(?:ref|nameref)\{([^}]*)\}"), r"<<\1>>"),
    (re.compile(r"\\hyperref\[[^\]]*\]\{([^}]*)\}"), r"\1"),
    (re.compile(r"\\(?:field|emph|textbf|textit|texttt|url|mbox)\{([^}]*)\}"), r"\1"),
    (re.compile(r"\\footnote\{([^}]*)\}"), r" (\1)"),
    (re.compile(r"\{\\(?:em|bf|it)\b\s*([^{}]*)\}"), r"\1"),  # {\em large enough}
    (re.compile(r"\\(?:em|bf|it|newline|noindent)\b\s*"), ""),
    (re.compile(r"\\ldots\b"), "..."),
    (re.compile(r"\\([_&%#$])"), r"\1"),
    (re.compile(r"``|''"), '"'),
    (re.compile(r"\$([^$]*)\$"), r"\1"),
    (re.compile(r"\^\{([^}]*)\}"), r"^\1"),
    (re.compile(r"~"), " "),
]


def inline(tex: str) -> str:
    """Render inline markup as plain text, whitespace-normalised."""
    for pattern, replacement in _INLINE_SUBS:
        tex = pattern.sub(replacement, tex)
    tex = re.sub(r"<<(?:sec|itm|tab|devicenormative|drivernormative):([^>]*)>>", _ref_title, tex)
    return _WS.sub(" ", tex).strip()


def _ref_title(match: re.Match[str]) -> str:
    return '"' + normalise_label(match.group(1)).split(" / ")[-1] + '"'


def paragraphs(body: str) -> list[str]:
    """Split a block body at blank lines that are not inside an environment."""
    result: list[str] = []
    depth = 0
    current: list[str] = []
    for line in body.split("\n"):
        if not line.strip() and depth == 0:
            if "".join(current).strip():
                result.append("\n".join(current))
            current = []
            continue
        depth += len(re.findall(r"\\begin\{", line)) - len(re.findall(r"\\end\{", line))
        current.append(line)
    if "".join(current).strip():
        result.append("\n".join(current))
    return _attach_leading_lists(result)


def _attach_leading_lists(paras: list[str]) -> list[str]:
    """A list set off by a blank line still belongs to the sentence that introduces it."""
    merged: list[str] = []
    for para in paras:
        if merged and re.match(r"\s*\\begin\{(itemize|enumerate|description)\}", para):
            merged[-1] = f"{merged[-1]}\n{para}"
        else:
            merged.append(para)
    return merged
