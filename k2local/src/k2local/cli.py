"""`k2-local` command line (also `python -m k2local`).

Commands that only manage processes stay stdlib-only so they answer in a
fraction of a second; table commands import pyiceberg when they run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from k2local import __version__
from k2local.drills import MODES
from k2local.home import Home, resolve_home
from k2local.stack import StackError


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        help="K2 home folder (default: $K2_HOME, else ./.k2); holds catalog, data, logs, pids",
    )
    p = argparse.ArgumentParser(
        prog="k2-local", description="Docker-free miniature of the K2 market-data platform."
    )
    # Also accepted before the command. A separate dest is needed because a
    # subparser's default (None) would otherwise overwrite this value.
    p.add_argument("--home", dest="home_top", help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"k2-local {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "start", parents=[common], help="start API, feed and kernel in the background"
    )
    s.add_argument("--port", type=int, help="API port on 127.0.0.1 (default 8000)")
    s.add_argument("--feed-interval", type=float, help="seconds between feed batches (default 1.0)")
    s.add_argument(
        "--kernel-interval", type=float, help="seconds between kernel runs (default 3.0)"
    )
    s.add_argument("--seed", type=int, help="feed random-walk seed (default 42)")

    s = sub.add_parser("stop", parents=[common], help="stop every k2-local process of this home")
    s.add_argument("--grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL")

    sub.add_parser("status", parents=[common], help="JSON status; exit 0 only if all processes run")
    sub.add_parser(
        "reset",
        parents=[common],
        help="DESTRUCTIVE: drop k2.trades (rows and history) and recreate it empty",
    )

    s = sub.add_parser(
        "load", parents=[common], help="append known-good demo rows over the last hour"
    )
    s.add_argument("--rows", type=int, default=5000)
    s.add_argument("--seed", type=int, default=42)

    s = sub.add_parser(
        "validate", parents=[common], help="data readiness checks; exit 0 if all pass"
    )
    s.add_argument("--min-rows", type=int, default=1000)

    s = sub.add_parser(
        "materials", parents=[common], help="capture backup materials from the running API"
    )
    s.add_argument("--out", required=True, help="folder for screenshots, notebook and recording")

    s = sub.add_parser("break", parents=[common], help="inject a failure mode for a drill")
    s.add_argument("mode", choices=MODES)
    s = sub.add_parser("heal", parents=[common], help="undo a failure mode")
    s.add_argument("mode", choices=MODES)
    return p


def run(args: argparse.Namespace) -> int:
    home = Home(resolve_home(args.home or args.home_top))
    cmd = args.command
    if cmd == "start":
        from k2local import stack

        for line in stack.start(
            home, args.port, args.feed_interval, args.kernel_interval, args.seed
        ):
            print(line)
        return 0
    if cmd == "stop":
        from k2local import stack

        for line in stack.stop(home, grace=args.grace):
            print(line)
        return 0
    if cmd == "status":
        from k2local import stack

        report, ok = stack.status(home)
        _print_json(report)
        return 0 if ok else 1
    if cmd == "materials":
        from pathlib import Path

        from k2local import materials

        _print_json(materials.capture(home, Path(args.out)))
        return 0
    if cmd in ("break", "heal"):
        from k2local import drills

        fn = drills.break_mode if cmd == "break" else drills.heal_mode
        print(fn(home, args.mode))
        return 0
    # The remaining commands read or write the table: pay the pyiceberg import.
    from k2local import data

    if cmd == "reset":
        _print_json(data.reset(home))
        return 0
    if cmd == "load":
        if args.rows < 1:
            raise StackError("--rows must be at least 1", code=2)
        _print_json(data.load(home, args.rows, args.seed))
        return 0
    if cmd == "validate":
        result = data.validate(home, args.min_rows)
        _print_json(result)
        return 0 if result["ok"] else 1
    raise AssertionError(cmd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except StackError as exc:
        print(f"k2-local: {exc}", file=sys.stderr)
        return exc.code
