"""`ballast report render | diff | merge`: output, exit codes, and one-line errors (exit 2)
for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ballast.cli import main

DATA = Path(__file__).parent / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_render_writes_next_to_the_results_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = tmp_path / "results.json"
    shutil.copy(DATA / "results_a.json", results)
    code, out, err = run(capsys, "report", "render", str(results))
    assert (code, err) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "index.html",
        "junit.xml",
        "results.json",
        "summary.md",
        "traceability.csv",
    ]
    assert out.splitlines()[0] == f"wrote {tmp_path / 'index.html'}"


def test_render_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = run(
        capsys, "report", "render", str(DATA / "results_a.json"), "--out", str(tmp_path / "r")
    )
    assert code == 0
    assert (tmp_path / "r" / "summary.md").exists()


def test_diff_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    a, b = str(DATA / "results_a.json"), str(DATA / "results_b.json")
    code, out, _ = run(capsys, "report", "diff", a, b)
    assert code == 0
    assert out.startswith("ballast report diff: run sample-a -> run sample-b\n")
    code, out, _ = run(capsys, "report", "diff", a, b, "--json")
    assert code == 0
    changes = json.loads(out)
    assert (changes["before"], changes["after"]) == ("sample-a", "sample-b")
    assert len(changes["tests"]["newly_failing"]) == 1


def test_merge(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_path = tmp_path / "merged" / "results.json"
    code, out, err = run(
        capsys,
        "report",
        "merge",
        str(out_path),
        str(DATA / "shard_1.json"),
        str(DATA / "shard_2.json"),
    )
    assert (code, err) == (0, "")
    assert out == f"merged 2 shard(s), 14 test(s) into {out_path}\n"
    merged = json.loads(out_path.read_text())
    assert len(merged["tests"]) == 14
    code, _, _ = run(capsys, "report", "render", str(out_path))
    assert code == 0


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    (tmp_path / "broken.json").write_text('{"schema_version": "1.0",')
    (tmp_path / "invalid.json").write_text('{"schema_version": "2.0"}')
    return {
        "missing": (
            tmp_path / "absent.json",
            f"results file {tmp_path / 'absent.json'} does not exist",
        ),
        "malformed": (
            tmp_path / "broken.json",
            f"{tmp_path / 'broken.json'} is not valid "
            "JSON: Expecting property name enclosed in double quotes (line 1",
        ),
        "invalid": (
            tmp_path / "invalid.json",
            f"{tmp_path / 'invalid.json'} does not match "
            "results.schema.json at top level: 'run' is a required property",
        ),
    }


@pytest.mark.parametrize("kind", ["missing", "malformed", "invalid"])
@pytest.mark.parametrize("command", ["render", "diff", "merge"])
def test_bad_results_files_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, command: str
) -> None:
    path, message = bad_files(tmp_path)[kind]
    argv = {
        "render": ["render", str(path)],
        "diff": ["diff", str(DATA / "results_a.json"), str(path)],
        "merge": ["merge", str(tmp_path / "out.json"), str(DATA / "shard_1.json"), str(path)],
    }[command]
    code, out, err = run(capsys, "report", *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("ballast: error: ") and message in err, err
    assert not (tmp_path / "out.json").exists()


def test_unknown_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "render", "x.json", "--bogus")
    assert code == 2
    assert "unrecognized arguments: --bogus" in err
