"""The committed catalogue is exactly what the extractor produces from the sources, and it
contains every normative sentence of the balloon chapter."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ballast.paths import spec_refs_dir
from ballast.spec.build import render
from ballast.spec.catalogue import REQUIRED_FIELDS, TESTABILITY, load_catalogue
from ballast.spec.check import check
from ballast.spec.sources import load_sources
from ballast.spec.yamlio import load

from .spec_helpers import BALLOON

UPPER_KEYWORD = re.compile(r"\b(MUST|SHOULD|MAY|RECOMMENDED|OPTIONAL|REQUIRED|SHALL)\b")


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_extractor_reproduces_committed_files_byte_for_byte() -> None:
    sources = load_sources()
    for path, content in render(sources, spec_refs_dir()).items():
        assert path.read_text(encoding="utf-8") == content, f"{path} drifted"


def test_check_passes_on_the_committed_catalogue() -> None:
    assert check(load_sources(), spec_refs_dir()) == []


def test_every_clause_has_every_required_field() -> None:
    revision = load_sources().revision
    for path in (spec_refs_dir() / revision).glob("*.yaml"):
        for record in load(path, "catalogue"):
            missing = [f for f in REQUIRED_FIELDS if f not in record]
            assert not missing, f"{record.get('id')} lacks {missing}"


def test_every_active_clause_has_a_testability(catalogue) -> None:
    for clause in catalogue:
        if clause.active:
            assert clause.testability in TESTABILITY, clause.id
            assert clause.testability == "automatic" or clause.rationale, clause.id


def _balloon_paragraphs() -> list[tuple[str, str]]:
    """(kind, paragraph) for each keyword-bearing paragraph of the balloon chapter, found by a
    deliberately different method than the extractor: line scanning of the raw source."""
    text = (load_sources().root / BALLOON).read_text(encoding="utf-8")
    text = re.sub(r"\\begin\{note\}.*?\\end\{note\}", "\n\n", text, flags=re.S)
    text = re.sub(
        r"(\\(?:sub)*(?:section|paragraph)\{|\\d(?:river|evice)normative)", r"\n\n\1", text
    )
    found: list[tuple[str, str]] = []
    kind = None
    for chunk in re.split(r"\n\s*\n", text):
        head = re.search(
            r"\\(drivernormative|devicenormative)|"
            r"\\(sub)*(section|paragraph)\{Legacy Interface",
            chunk,
        )
        if head:
            kind = {"drivernormative": "driver", "devicenormative": "device"}.get(
                head.group(1), "legacy"
            )
        elif re.search(r"\\(sub)*(section|paragraph)\{", chunk):
            kind = None
        body = re.sub(r"\\(sub)*(section|paragraph)\{[^}]*\}(\\label\{[^}]*\})?", "", chunk)
        if kind and UPPER_KEYWORD.search(body):
            found.append((kind, body))
    return found


def test_independent_count_of_balloon_normative_paragraphs() -> None:
    kinds = Counter(kind for kind, _ in _balloon_paragraphs())
    assert kinds == {"driver": 42, "device": 14, "legacy": 8}


def test_catalogue_has_one_clause_per_balloon_keyword(catalogue) -> None:
    expected = Counter()
    for kind, paragraph in _balloon_paragraphs():
        keywords = len(UPPER_KEYWORD.findall(paragraph))
        if kind == "legacy":
            both = re.search(r"devices and drivers", paragraph)
            expected["legacy"] += keywords * (2 if both else 1)
        else:
            expected[kind] += keywords
    balloon = [c for c in catalogue if c.prefix == "balloon"]
    got = Counter("legacy" if c.legacy else c.role for c in balloon)
    assert got == expected
    assert got == {"driver": 42, "device": 14, "legacy": 12}


def test_legacy_paragraphs_split_by_role(catalogue) -> None:
    legacy = Counter(c.role for c in catalogue if c.prefix == "balloon" and c.legacy)
    # 3 device-only, 2 driver-only, 3 binding both (x2), one device paragraph has 2 keywords
    assert legacy == {"device": 7, "driver": 5}


def test_preambles_become_conditions_not_clauses(catalogue) -> None:
    assert not [c for c in catalogue if c.text.startswith("Normative statements")]
    stats = [c for c in catalogue if c.area_key == "balloon.stats"]
    assert stats and all(
        "VIRTIO_BALLOON_F_STATS_VQ" in c.conditions.get("negotiated", []) for c in stats
    )


def test_profiles_follow_the_conformance_chapter(catalogue) -> None:
    assert set(catalogue.profiles) == {
        f"balloon-{role}-{t}{suffix}"
        for role in ("device", "driver")
        for t in ("pci", "mmio")
        for suffix in ("", "-transitional")
    }
    pci = catalogue.select(profile="balloon-device-pci")
    assert {c.prefix for c in pci} == {"core", "split", "pci", "balloon"}
    assert all(c.role == "device" and not c.legacy for c in pci if c.prefix == "balloon")
    transitional = catalogue.select(profile="balloon-driver-mmio-transitional")
    assert any(c.legacy for c in transitional)
    # the legacy list names PCI legacy notes too; on MMIO their transport condition is false
    assert all(
        c.legacy and c.conditions["transport"] == "pci" for c in transitional if c.prefix == "pci"
    )
    out = catalogue.profiles["balloon-device-pci"]["out_of_scope"]
    assert all(entry["reason"] for entry in out)


def test_condition_features_are_in_the_closed_vocabulary(catalogue) -> None:
    names = {f["name"] for f in catalogue.features}
    for clause in catalogue:
        assert set(clause.features) <= names, clause.id


def test_features_yaml_matches_code_constants(catalogue) -> None:
    from ballast.virtio import features

    for entry in catalogue.features:
        assert features.bit(entry["name"]) == entry["bit"], entry["name"]


def test_show_lists_the_tests_that_name_the_clause(capsys) -> None:
    from ballast.cli import main

    assert main(["spec", "show", "balloon.driver.stats.05"]) == 0
    out = capsys.readouterr().out
    assert "suites/driver/test_stats.py::test_stats_buffers_are_whole_entries" in out


def test_a_heading_labelled_normative_by_hand_is_a_normative_block(catalogue) -> None:
    # transport-pci.tex writes \label{devicenormative:...} under a heading, not the macro
    clause = catalogue.get("pci.device.legacy.09")
    assert clause.anchor.endswith("Non-transitional Device With Legacy Driver")
    assert (clause.role, clause.level) == ("device", "SHOULD")


def test_every_mandatory_clause_the_reference_pair_cannot_show_has_a_reason() -> None:
    catalogue = load_catalogue()
    for level, count in (("MUST", 36), ("MUST NOT", 13)):
        chosen = catalogue.select(level=level, testability="not-automatic")
        assert len(chosen) == count, [c.id for c in chosen]  # docs/catalogue.md gives these
        assert all(c.rationale and c.testability != "automatic" for c in chosen)
