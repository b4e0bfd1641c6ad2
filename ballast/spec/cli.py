"""`ballast spec ...`: read and maintain the clause catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ballast.paths import spec_refs_dir
from ballast.spec.build import render, write
from ballast.spec.catalogue import Clause
from ballast.spec.catalogue import load_catalogue_uncached as load_catalogue
from ballast.spec.check import check
from ballast.spec.coverage import suites_dir, tests_naming
from ballast.spec.extract import keywords_outside_blocks
from ballast.spec.sources import load_sources


def register(sub: argparse._SubParsersAction) -> None:
    spec = sub.add_parser("spec", help="read and maintain the clause catalogue")
    spec.add_argument("--spec-refs", type=Path, help="catalogue directory (default: spec_refs/)")
    spec.add_argument("--spec-root", type=Path, help="spec sources (default: from sources.yaml)")
    commands = spec.add_subparsers(dest="spec_command", required=True)

    extract = commands.add_parser("extract", help="(re)generate the extracted layer from sources")
    extract.set_defaults(func=cmd_extract)

    listing = commands.add_parser("list", help="list clauses, filtered")
    listing.add_argument("--role", choices=("device", "driver"))
    listing.add_argument("--level", help="MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, ...")
    listing.add_argument("--area", help="prefix (balloon), area (stats) or prefix.area")
    listing.add_argument("--feature", help="a feature name from spec_refs/features.yaml")
    listing.add_argument("--profile", help="a profile from spec_refs/profiles.yaml")
    listing.add_argument(
        "--testability",
        help="automatic, observable-on-some-targets or untestable; 'not-automatic' for both "
        "of the last (with their rationale)",
    )
    listing.add_argument("--all", action="store_true", help="include retired and out-of-scope")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", help="one clause in full")
    show.add_argument("id")
    show.set_defaults(func=cmd_show)

    stats = commands.add_parser("stats", help="counts by role x level x area")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_stats)

    chk = commands.add_parser("check", help="drift, duplicates, unknown features, missing fields")
    chk.add_argument(
        "--strays",
        action="store_true",
        help="also list upper-case keywords outside normative blocks",
    )
    chk.set_defaults(func=cmd_check)


def _refs(args: argparse.Namespace) -> Path:
    return (args.spec_refs or spec_refs_dir()).resolve()


def cmd_extract(args: argparse.Namespace) -> int:
    refs = _refs(args)
    changed = write(render(load_sources(args.spec_root, refs), refs))
    for path in changed:
        print(f"wrote {path}")
    print(f"catalogue up to date ({len(changed)} file(s) changed)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(_refs(args))
    chosen = catalogue.select(
        role=args.role,
        level=args.level,
        area=args.area,
        feature=args.feature,
        profile=args.profile,
        testability=args.testability,
        include_inactive=args.all,
    )
    if args.json:
        print(json.dumps([_as_dict(c) for c in chosen], indent=2))
        return 0
    for c in chosen:
        flags = "" if c.active else f" [{c.status if c.status != 'active' else 'out of scope'}]"
        print(f"{c.id:34} {c.level:11} {c.text}{flags}")
        if args.testability and c.rationale:
            print(f"{'':34} {'':11} why {c.testability}: {c.rationale}")
    print(f"{len(chosen)} clause(s)", file=sys.stderr)
    return 0


def _as_dict(c: Clause) -> dict[str, object]:
    return {
        "id": c.id,
        "anchor": c.anchor,
        "role": c.role,
        "level": c.level,
        "text": c.text,
        "context": c.context,
        "conditions": c.conditions,
        "legacy": c.legacy,
        "scope": c.scope,
        "status": c.status,
        "testability": c.testability,
        "rationale": c.rationale,
        "interpretation": c.interpretation,
        "profiles": list(c.profiles),
        "fingerprint": c.fingerprint,
        "source": c.source,
        "suspect": c.suspect,
    }


def cmd_show(args: argparse.Namespace) -> int:
    c = load_catalogue(_refs(args)).get(args.id)
    print(f"{c.id}  ({c.level}, {c.role}{', legacy' if c.legacy else ''})")
    print(f"  anchor:      {c.anchor}")
    print(f"  source:      {c.source}")
    if c.context:
        print(f"  context:     {c.context}")
    print(f"  text:        {c.text}")
    print(f"  conditions:  {json.dumps(c.conditions) if c.conditions else 'none'}")
    print(f"  status:      {c.status}{'' if c.scope == 'in' else ' (out of scope)'}")
    print(f"  testability: {c.testability}" + (f" - {c.rationale}" if c.rationale else ""))
    if c.interpretation:
        print(f"  interpretation: {json.dumps(c.interpretation)}")
    print(f"  profiles:    {', '.join(c.profiles) or 'none'}")
    suspect = "  (SUSPECT: text changed since review)" if c.suspect else ""
    print(f"  fingerprint: {c.fingerprint}{suspect}")
    tests = tests_naming(c.id) if suites_dir().is_dir() else []
    print(f"  tests:       {len(tests) or 'none'}")
    for test in tests:
        print(f"    {test}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(_refs(args))
    active = [c for c in catalogue if c.active]
    table = Counter((c.area_key, c.role, c.level) for c in active)
    if args.json:
        print(
            json.dumps(
                {
                    "total": len(catalogue),
                    "active": len(active),
                    "out_of_scope": sum(1 for c in catalogue if c.scope == "out"),
                    "retired": sum(1 for c in catalogue if c.status == "retired"),
                    "by_role_level_area": [
                        {"area": a, "role": r, "level": lv, "count": n}
                        for (a, r, lv), n in sorted(table.items())
                    ],
                },
                indent=2,
            )
        )
        return 0
    levels = [
        lv
        for lv in ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY", "RECOMMENDED", "OPTIONAL")
        if any(k[2] == lv for k in table)
    ]
    print(f"{'area':24} {'role':7} " + " ".join(f"{lv:>10}" for lv in levels) + f" {'total':>6}")
    for area, role in sorted({(a, r) for a, r, _ in table}):
        counts = [table.get((area, role, lv), 0) for lv in levels]
        print(f"{area:24} {role:7} " + " ".join(f"{n:>10}" for n in counts) + f" {sum(counts):>6}")
    totals = [sum(n for (_, _, lv), n in table.items() if lv == level) for level in levels]
    print(f"{'total':32} " + " ".join(f"{n:>10}" for n in totals) + f" {sum(totals):>6}")
    print(
        f"{len(active)} active clauses; {sum(1 for c in catalogue if c.scope == 'out')} "
        f"out of scope; {sum(1 for c in catalogue if c.status == 'retired')} retired"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    refs = _refs(args)
    sources = load_sources(args.spec_root, refs)
    problems = check(sources, refs)
    for problem in problems:
        print(problem)
    if args.strays:
        for path, line, text in keywords_outside_blocks(sources):
            print(f"note: keyword outside normative blocks, {path}:{line}: {text[:100]}")
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"catalogue OK: {len(load_catalogue(refs))} clauses match {sources.root}")
    return 0
