"""One module per scenario, each with ``add_arguments(parser)`` and ``run(bench, args) -> Result``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import import_module
from types import ModuleType

from ..report import Result, Value, ratio_row

NAMES = ("herd", "interval", "claim", "publish", "scale", "failover", "memory", "wake")
COMPARABLE = ("herd", "interval", "failover")  # accept --compare redbeat


def scenario(name: str) -> ModuleType:
    return import_module(f"{__name__}.{name}")


Measure = Callable[[str], tuple[dict[str, Value], list[float]]]


def run_systems(result: Result, args: argparse.Namespace, measure: Measure) -> dict[str, dict[str, Value]]:
    """Measure luasched, then the ``--compare`` system if any: their rows, lateness samples
    and a ``<other> / luasched`` ratio row go into ``result``; returns the rows by system."""
    rows = {}
    for name in ["luasched"] + ([args.compare] if getattr(args, "compare", None) else []):
        rows[name], result.samples[name] = measure(name)
        result.rows.append(rows[name])
    if len(rows) > 1:
        result.rows.append(ratio_row(f"{args.compare} / luasched", rows[args.compare],
                                     rows["luasched"]))
    return rows
