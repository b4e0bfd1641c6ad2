"""The `ballast` command."""

from __future__ import annotations

import argparse
import sys

from ballast import __version__
from ballast.errors import USAGE_EXIT, UsageError
from ballast.spec import cli as spec_cli


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ballast",
        description="Conformance suite for virtio memory balloon devices and drivers.",
    )
    top.add_argument("--version", action="version", version=f"ballast {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    spec_cli.register(sub)
    return top


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


if __name__ == "__main__":
    sys.exit(main())
