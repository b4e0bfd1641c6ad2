"""`ballast spec check` notices changed sources, and clause IDs survive re-extraction."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.cli import main
from ballast.spec.build import render, write
from ballast.spec.catalogue import load_catalogue_uncached
from ballast.spec.check import check

from .spec_helpers import BALLOON, copy_world, edit

AT_MOST_ONE = "The driver MUST make at most one buffer available to the device\nin the statsq"
SUBSET = (
    "Driver MAY supply a subset of all statistics in the output buffer\n"
    "submitted to the statsq.\n\n"
)


@pytest.fixture
def world(tmp_path: Path):
    return copy_world(tmp_path)


def _ids(refs: Path) -> dict[str, str]:
    return {c.id: c.text for c in load_catalogue_uncached(refs)}


def test_check_reports_an_edited_sentence(world) -> None:
    sources, refs = world
    edit(sources, BALLOON, AT_MOST_ONE, AT_MOST_ONE.replace("one buffer", "two buffers"))
    problems = check(sources, refs)
    assert problems == [
        "drift: balloon.driver.stats.01 text changed in the sources; run `ballast spec extract`"
    ]


def test_check_reports_an_added_sentence(world) -> None:
    sources, refs = world
    edit(sources, BALLOON, SUBSET, SUBSET + "The driver MUST NOT juggle statistics.\n\n")
    problems = check(sources, refs)
    assert problems[0].startswith(
        "drift: new sentence in the sources, would become balloon.driver.stats.09"
    )
    # the sentences after it moved: their positions changed, their text did not
    assert all("source changed" in p for p in problems[1:])


def test_check_reports_a_removed_sentence(world) -> None:
    sources, refs = world
    edit(sources, BALLOON, SUBSET, "")
    assert check(sources, refs) == [
        "drift: balloon.driver.stats.08 source changed in the sources; run `ballast spec extract`",
        "drift: balloon.driver.stats.07 is no longer in the sources (would be retired); "
        "run `ballast spec extract`",
    ]


def test_ids_stable_when_unrelated_text_changes(world) -> None:
    sources, refs = world
    before = _ids(refs)
    edit(sources, BALLOON, "This is the traditional balloon device.", "This is the old balloon.")
    edit(
        sources,
        "core/content.tex",
        "\\chapter{Basic Facilities",
        "% a comment\n\\chapter{Basic Facilities",
    )
    assert write(render(sources, refs)) == []
    assert _ids(refs) == before


def test_ids_stable_when_a_sentence_is_inserted_into_the_same_block(world) -> None:
    sources, refs = world
    before = _ids(refs)
    lead = (
        "Normative statements in this section apply if and only if the\n"
        "VIRTIO_BALLOON_F_STATS_VQ feature has been negotiated.\n\n"
    )
    edit(sources, BALLOON, lead, lead + "The driver MUST NOT juggle statistics.\n\n")
    write(render(sources, refs))
    after = _ids(refs)
    assert {k: after[k] for k in before} == before
    assert after["balloon.driver.stats.09"] == "The driver MUST NOT juggle statistics."


def test_edited_sentence_keeps_its_id_and_is_suspect_until_reviewed(world) -> None:
    sources, refs = world
    edit(sources, BALLOON, AT_MOST_ONE, AT_MOST_ONE.replace("one buffer", "two buffers"))
    write(render(sources, refs))
    clause = load_catalogue_uncached(refs).get("balloon.driver.stats.01")
    assert "two buffers" in clause.text and clause.suspect
    assert any(
        "balloon.driver.stats.01: text changed since review" in p for p in check(sources, refs)
    )
    overlay = refs / "overlay" / "balloon.yaml"
    overlay.write_text(
        overlay.read_text().replace(
            "clauses:\n",
            f"clauses:\n  balloon.driver.stats.01:\n    reviewed: {clause.fingerprint}\n",
        )
    )
    assert not load_catalogue_uncached(refs).get("balloon.driver.stats.01").suspect
    # a second extraction keeps the mark: the change history is sticky, not lost
    write(render(sources, refs))
    assert load_catalogue_uncached(refs).get("balloon.driver.stats.01").changed_from


def test_vanished_sentence_is_retired_and_its_number_never_reused(world) -> None:
    sources, refs = world
    edit(sources, BALLOON, SUBSET, "")
    write(render(sources, refs))
    retired = load_catalogue_uncached(refs).get("balloon.driver.stats.07")
    assert retired.status == "retired"
    edit(
        sources,
        BALLOON,
        "Driver MUST supply the same subset",
        "The driver MUST NOT juggle.\n\nDriver MUST supply the same subset",
    )
    write(render(sources, refs))
    cat = load_catalogue_uncached(refs)
    assert cat.get("balloon.driver.stats.09").text == "The driver MUST NOT juggle."
    assert cat.get("balloon.driver.stats.07").status == "retired"
    assert check(sources, refs) == []


def test_cli_bad_input_is_one_line_and_exit_2(world, capsys) -> None:
    _sources, refs = world
    assert main(["spec", "--spec-refs", str(refs), "show", "balloon.driver.nope.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown clause ID" in err
    (refs / "overlay" / "balloon.yaml").write_text("areas: [\n")
    assert main(["spec", "--spec-refs", str(refs), "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "malformed YAML" in err
    assert (
        main(["spec", "--spec-refs", str(refs), "--spec-root", str(refs / "missing"), "check"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot read spec source" in err


def test_cli_check_exits_nonzero_on_tampered_sources(world, capsys) -> None:
    sources, refs = world
    args = ["spec", "--spec-refs", str(refs), "--spec-root", str(sources.root), "check"]
    assert main(args) == 0
    edit(sources, BALLOON, AT_MOST_ONE, AT_MOST_ONE.replace("one buffer", "two buffers"))
    assert main(args) == 1
    assert "balloon.driver.stats.01 text changed" in capsys.readouterr().out


def test_an_edit_beside_an_insertion_keeps_the_edited_sentence_its_id(world) -> None:
    # the new sentence sits nearer in the document but its text is further from the old one
    sources, refs = world
    twin = "Driver MUST NOT supply a subset of all statistics in the statsq twice."
    edited = SUBSET.replace("a subset of all statistics", "a subset of the statistics")
    edit(sources, BALLOON, SUBSET, twin + "\n\n" + edited)
    write(render(sources, refs))
    cat = load_catalogue_uncached(refs)
    assert "a subset of the statistics" in cat.get("balloon.driver.stats.07").text
    assert cat.get("balloon.driver.stats.09").text == twin


@pytest.mark.parametrize(
    ("args", "tamper", "says"),
    [
        (["list", "--level", "SHALL"], None, "unknown level 'SHALL'"),
        (["list", "--testability", "maybe"], None, "unknown testability 'maybe'"),
        (["list", "--area", "nowhere"], None, "unknown area 'nowhere'"),
        (["list", "--feature", "X"], ("features.yaml", "features: 5\n"), "must be a list"),
        (["show", "core.device.reset.01"], ("profiles.yaml", "profiles: [1]\n"), "mapping"),
    ],
)
def test_cli_bad_filters_and_misshapen_files_are_one_line_and_exit_2(
    world, capsys, args, tamper, says
) -> None:
    _sources, refs = world
    if tamper:
        (refs / tamper[0]).write_text(tamper[1])
    assert main(["spec", "--spec-refs", str(refs), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and says in err


def test_cli_source_that_is_not_utf8_is_one_line_and_exit_2(world, capsys) -> None:
    sources, refs = world
    (sources.root / BALLOON).write_bytes(b"\\section{Balloon \xff}\n")
    assert main(["spec", "--spec-refs", str(refs), "--spec-root", str(sources.root), "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not UTF-8" in err
