"""What a scenario returns, and how it is shown: a rich table, ``--json``, ``--plot``.

Units are in the column names: ``_ms`` milliseconds, ``_s`` seconds, ``per_s`` per second,
``_us`` microseconds, ``_bytes`` bytes.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

Value = float | int | str | None


@dataclass(frozen=True)
class Target:
    """A target of issue 5 checked against one measured figure."""

    text: str
    measured: float | None
    limit: float
    at_least: bool = False  # the figure must reach the limit (else: stay under it)

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit


@dataclass
class Result:
    """The outcome of one scenario run."""

    scenario: str
    params: dict[str, Any]
    rows: list[dict[str, Value]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)  # lateness ms by row label

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "params": self.params, "rows": self.rows,
            "targets": [{**asdict(t), "met": t.met} for t in self.targets],
            "notes": self.notes, "machine": machine(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def number(value: Value) -> float | None:
    """A numeric cell as a float; None for text and empty cells."""
    return float(value) if isinstance(value, (int, float)) else None


def ratio(top: Value, bottom: Value) -> float | None:
    a, b = number(top), number(bottom)
    return a / b if a is not None and b else None


def ratio_row(label: str, top: dict[str, Value], bottom: dict[str, Value]) -> dict[str, Value]:
    """``top / bottom`` for every numeric column both rows have."""
    row: dict[str, Value] = {"label": label}
    for key, value in top.items():
        if key != "label" and number(value) is not None and number(bottom.get(key)) is not None:
            row[key] = ratio(value, bottom[key])
    return row


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "platform": platform.platform(), "processor": platform.processor() or None}


def fmt(value: Value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def show(console: Console, result: Result) -> None:
    """The summary table (one column per row of the result), then targets and notes."""
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    table = Table(title=f"{result.scenario} ({params})")
    table.add_column("")
    for row in result.rows:
        table.add_column(str(row.get("label", "")), justify="right")
    metrics: list[str] = []
    for row in result.rows:
        metrics += [k for k in row if k != "label" and k not in metrics]
    for metric in metrics:
        table.add_row(metric, *(fmt(row.get(metric)) for row in result.rows))
    console.print(table)
    for target in result.targets:
        mark = {True: "[green]met[/]", False: "[red]missed[/]", None: "[yellow]n/a[/]"}[target.met]
        console.print(f"  target {target.text}: {fmt(target.measured)} -> {mark}")
    for note in result.notes:
        console.print(f"  note: {note}")


def write_json(path: str, result: Result) -> None:
    Path(path).write_text(json.dumps(result.to_json(), indent=2) + "\n")


def plot(path: str, result: Result) -> None:
    """Lateness histogram and CDF of every row with samples (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'luasched[plot]'") from None
    series = {label: sorted(v) for label, v in result.samples.items() if v}
    if not series:
        raise SystemExit(f"--plot: scenario {result.scenario!r} measures no lateness")
    low = min(v[0] for v in series.values())
    high = max(v[-1] for v in series.values())
    bins = [low + (high - low) * i / 60 for i in range(61)] if high > low else 1
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, values in series.items():
        hist.hist(values, bins=bins, histtype="step", linewidth=1.5, label=label)
        cdf.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=label)
    hist.set(title="lateness histogram", xlabel="lateness (ms)", ylabel="publications")
    cdf.set(title="lateness CDF", xlabel="lateness (ms)", ylabel="share of publications")
    for ax in (hist, cdf):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"luasched bench: {result.scenario}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
