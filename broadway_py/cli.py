"""The ``broadway-py`` command. Parses arguments and calls the library; no logic."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import broadway_py


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadway-py", description="Run and inspect broadway_py pipelines."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the version", description="Print the version.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "version":
        print(f"broadway-py {broadway_py.__version__}")
        return 0
    parser.print_help(sys.stderr)
    return 2
