"""`ballast report ...`: re-render, compare and merge results files offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ballast.paths import spec_refs_dir
from ballast.report.diff import diff, format_text
from ballast.report.merge import merge
from ballast.report.render import render, write
from ballast.report.schema import load_results, read_json
from ballast.spec.catalogue import Catalogue, load_catalogue


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="render, compare and merge results.json files")
    report.add_argument("--spec-refs", type=Path, help="catalogue directory (default: spec_refs/)")
    commands = report.add_subparsers(dest="report_command", required=True)

    rend = commands.add_parser(
        "render",
        help="write index.html, summary.md, junit.xml, traceability.csv from a results file",
    )
    rend.add_argument("results", type=Path, metavar="RESULTS")
    rend.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory (default: the results file's directory)",
    )
    rend.set_defaults(func=cmd_render)

    dif = commands.add_parser("diff", help="per-test and per-clause changes from run A to B")
    dif.add_argument("before", type=Path, metavar="A")
    dif.add_argument("after", type=Path, metavar="B")
    dif.add_argument("--json", action="store_true", help="machine-readable output")
    dif.set_defaults(func=cmd_diff)

    mrg = commands.add_parser("merge", help="merge the shards of one run into one results file")
    mrg.add_argument("out", type=Path, metavar="OUT")
    mrg.add_argument("shards", type=Path, nargs="+", metavar="SHARD")
    mrg.set_defaults(func=cmd_merge)


def _catalogue(args: argparse.Namespace) -> Catalogue:
    return load_catalogue((args.spec_refs or spec_refs_dir()).resolve())


def cmd_render(args: argparse.Namespace) -> int:
    results = read_json(args.results)
    out = args.out or args.results.parent
    written = render(results, out, _catalogue(args), source=str(args.results))
    for path in written.values():
        print(f"wrote {path}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    changes = diff(load_results(args.before), load_results(args.after))
    print(json.dumps(changes, indent=2) if args.json else format_text(changes))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    shards = [(str(path), read_json(path)) for path in args.shards]
    merged = merge(shards, _catalogue(args))
    write(args.out, (json.dumps(merged, indent=1) + "\n").encode("utf-8"))
    print(f"merged {len(shards)} shard(s), {len(merged['tests'])} test(s) into {args.out}")
    return 0
