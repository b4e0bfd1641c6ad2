"""The `ballast` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ballast import __version__
from ballast.errors import USAGE_EXIT, UsageError
from ballast.report import cli as report_cli
from ballast.spec import cli as spec_cli


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (what is wrong, where to look) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_EXIT, f"ballast: error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="ballast",
        description="Conformance suite for virtio memory balloon devices and drivers.",
    )
    top.add_argument("--version", action="version", version=f"ballast {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="the main job: run the conformance suites, write a report")
    run.add_argument("--device", default="reference", help="device under test (TARGET[:VARIANT])")
    run.add_argument("--driver", default="reference", help="driver under test (TARGET[:VARIANT])")
    run.add_argument(
        "--report-dir", type=Path, help="where to write the report (default: reports/<timestamp>)"
    )
    run.add_argument(
        "-n", dest="workers", default="2", help="pytest-xdist workers (0: run serially; default 2)"
    )
    run.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="anything after -- goes to pytest (e.g. --profile, --clause)",
    )
    run.set_defaults(func=cmd_run)

    selftest = sub.add_parser("selftest", help="prove every test can fail against seeded bugs")
    selftest.add_argument("-n", dest="workers", default="2")
    selftest.add_argument(
        "--every-test",
        action="store_true",
        help="run every variant against every test of its side, not only its clause's "
        "(finds variants that break undeclared clauses elsewhere; minutes, not seconds)",
    )
    selftest.add_argument("pytest_args", nargs=argparse.REMAINDER)
    selftest.set_defaults(func=cmd_selftest)

    targets = sub.add_parser("targets", help="list targets and whether they can run here")
    targets.add_argument("--variants", action="store_true", help="also list seeded-bug variants")
    targets.set_defaults(func=cmd_targets)

    expect = sub.add_parser("expectations", help="maintain expectations files")
    expect_sub = expect.add_subparsers(dest="expect_command", required=True)
    update = expect_sub.add_parser("update", help="write the verdicts of a run as expectations")
    update.add_argument("results", type=Path, metavar="RESULTS")
    update.add_argument("out", type=Path, metavar="OUT")
    update.add_argument(
        "--subject", choices=("device", "driver"), help="only tests of this side (default: both)"
    )
    update.set_defaults(func=cmd_expectations_update)

    spec_cli.register(sub)
    report_cli.register(sub)
    return top


def _rest(args: list[str]) -> list[str]:
    return args[1:] if args[:1] == ["--"] else args


def cmd_run(args: argparse.Namespace) -> int:
    from ballast.run import run

    return run(args.device, args.driver, args.report_dir, args.workers, _rest(args.pytest_args))


def cmd_selftest(args: argparse.Namespace) -> int:
    from ballast.selftest import run

    workers = [] if args.workers == "0" else ["-n", args.workers]
    every = ["--selftest-every-test"] if args.every_test else []
    return run([*workers, *every, *_rest(args.pytest_args)])


def cmd_targets(args: argparse.Namespace) -> int:
    from ballast.targets import registry

    for name, target in sorted(registry().items()):
        missing = target.prerequisites()
        state = "ready" if missing is None else f"unavailable: {missing}"
        print(f"{name:16} {'/'.join(target.sides):14} {state}")
        if args.variants:
            for side in target.sides:
                for variant, what in sorted(target.variants(side).items()):
                    print(f"    --{side} {name}:{variant:34} {what}")
    return 0


def cmd_expectations_update(args: argparse.Namespace) -> int:
    from ballast.expectations import update

    count = update(args.results, args.out, args.subject)
    print(f"wrote {count} expectation(s) to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"ballast: error: {exc}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print("ballast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`ballast spec list | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
