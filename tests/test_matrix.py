"""The feature-set dimension: sets and matrices from fixtures/feature-sets.yaml, the cells a
test runs in, and one-line errors for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballast.errors import UsageError
from ballast.harness import params_for
from ballast.matrix import load_feature_sets
from ballast.reference.device import DEFAULT_FEATURES
from ballast.spec.catalogue import load_catalogue
from ballast.targets.qemu.properties import QemuProperties
from ballast.virtio.features import Feature, mask

SETS = load_feature_sets()
CATALOGUE = load_catalogue()


def ids(clause_ids: list[str], matrix: str) -> list[str]:
    clauses = [CATALOGUE.get(c) for c in clause_ids]
    return [p.id for p in params_for(clauses, SETS.matrix(matrix))]


def test_the_sets_match_what_the_implementations_offer() -> None:
    assert SETS.sets["all"].features == DEFAULT_FEATURES
    # QEMU's default properties, plus what it always offers and what the transport decides
    qemu = QemuProperties.from_features(SETS.sets["qemu-default"].features)
    assert qemu == QemuProperties()


def test_the_reference_matrix_is_one_cell_per_transport() -> None:
    assert ids(["core.device.reset.01"], "reference") == [
        "pci-modern@all",
        "pci-transitional@all",
        "mmio-v2@all",
    ]


def test_a_variation_runs_only_tests_that_depend_on_what_it_changes() -> None:
    # unconditional clause: the base cells only
    assert all(i.endswith("@qemu-default") for i in ids(["core.device.reset.01"], "qemu-ci"))
    # a clause about EVENT_IDX not negotiated: also the event-idx-off cell, on pci-modern
    assert ids(["split.device.used-suppression.03"], "qemu-ci")[-1:] == ["pci-modern@event-idx-off"]


def test_a_clause_needing_an_unoffered_feature_runs_only_where_it_is_offered() -> None:
    assert ids(["balloon.device.hinting.01"], "qemu-ci") == [
        "pci-modern@free-page-hint",
        "pci-modern@hint-and-reporting",
    ]


def test_a_test_needing_an_offer_runs_only_where_it_is_offered() -> None:
    clauses = [CATALOGUE.get("split.device.indirect.02")]
    reporting = mask(Feature.VIRTIO_BALLOON_F_PAGE_REPORTING)
    cells = params_for(clauses, SETS.matrix("qemu-ci"), offered=reporting)
    assert [p.id for p in cells] == [
        "pci-modern@free-page-reporting",
        "pci-modern@hint-and-reporting",
    ]


def test_a_test_no_cell_can_meet_still_runs_in_the_base_cells() -> None:
    # QEMU never offers MUST_TELL_HOST: the test reports that, rather than vanishing
    needs_tell = [
        c.id
        for c in CATALOGUE
        if "VIRTIO_BALLOON_F_MUST_TELL_HOST" in c.conditions.get("negotiated", ())
    ]
    assert needs_tell
    assert set(ids(needs_tell[:1], "qemu-ci")) <= {
        f"{t}@qemu-default"
        for t in ("pci-modern", "pci-transitional", "mmio-v2", "pci-legacy", "mmio-v1")
    }


def test_the_full_matrix_combines_every_variation_on_every_transport() -> None:
    full = SETS.matrix("qemu-full")
    assert len(full.cells) == 1 + 2**6 - 1
    both = next(c for c in full.cells if c.feature_set.id == "deflate-on-oom+event-idx-off")
    features = both.feature_set.features
    assert features & mask(Feature.VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
    assert not features & mask(Feature.VIRTIO_F_EVENT_IDX)
    assert len(ids(["core.device.reset.01"], "qemu-full")) == 3 * len(full.cells)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sets: {}\n", "exactly the keys 'sets' and 'matrices'"),
        ("sets: {a: {features: [NO_SUCH]}}\nmatrices: {}\n", "unknown feature(s) NO_SUCH"),
        ("sets: {a: {base: b}}\nmatrices: {}\n", "base 'b' must be a set defined above it"),
        ("sets: {a: {features: []}}\nmatrices: {m: {base: z}}\n", "unknown feature set 'z'"),
        (
            "sets: {a: {features: []}}\nmatrices: {m: {base: a, variation-transports: [usb]}}\n",
            "variation-transports must be 'all' or a list of",
        ),
        ("sets: [\n", "not valid YAML"),
    ],
)
def test_a_bad_feature_sets_file_is_a_one_line_usage_error(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "feature-sets.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_feature_sets(path)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unknown_matrix_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown matrix 'nope'; known: reference, qemu-ci"):
        SETS.matrix("nope")


def test_an_offer_no_cell_makes_is_not_supported_in_the_base_cells() -> None:
    tell = mask(Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST)
    clauses = [CATALOGUE.get("balloon.driver.operation.07")]
    cells = params_for(clauses, SETS.matrix("qemu-ci"), offered=tell)
    assert cells and all(p.unmet == tell and p.id.endswith("@qemu-default") for p in cells)
    assert all(p.unmet == 0 for p in params_for(clauses, SETS.matrix("reference"), offered=tell))
