"""``python -m luasched.bench SCENARIO [options]``; ``--help`` on a scenario lists its options."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from . import BenchError
from .context import Bench
from .report import plot, show, write_json
from .scenarios import COMPARABLE, NAMES, scenario


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m luasched.bench", description=__doc__)
    subs = top.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name in NAMES:
        module = scenario(name)
        sub = subs.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0],
                              description=module.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--redis", metavar="URL",
                         help="an existing Redis (default: an embedded server on a free port)")
        sub.add_argument("--broker", metavar="URL",
                         help="Celery broker (default: database 1 of the bench's Redis)")
        sub.add_argument("--json", metavar="FILE", help="write the result as JSON")
        sub.add_argument("--plot", metavar="FILE.png",
                         help="lateness histogram and CDF (needs luasched[plot])")
        sub.add_argument("--keep-logs", action="store_true",
                         help="keep the children's logs (printed path)")
        if name in COMPARABLE:
            sub.add_argument("--compare", choices=["redbeat"],
                             help="run the same workload through celery beat + RedBeat too")
        module.add_arguments(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=False)
    bench = Bench(console, args.redis, args.broker)
    failed = False
    try:
        result = scenario(args.scenario).run(bench, args)
    except BenchError as exc:
        failed = True
        console.print(f"[red]bench failed:[/] {exc}\nlogs kept in {bench.workdir}")
        return 1
    finally:
        bench.close(keep_logs=failed or args.keep_logs)
    show(console, result)
    if args.keep_logs:
        console.print(f"logs kept in {bench.workdir}")
    if args.json:
        write_json(args.json, result)
    if args.plot:
        plot(args.plot, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
