"""Print the benchmark table from a pytest-benchmark JSON file (or from in-session records).

    python -m benchmarks.report .benchmarks/latest.json            # text table
    python -m benchmarks.report .benchmarks/latest.json --markdown # for benchmarks/README.md

Per workload and configuration: the median over the interleaved rounds, the spread (IQR and
min-max), and the comparison with the baseline measured in the same run: the ratio of medians
to the stdlib (pool workloads), the added time per task (hook micro-benchmark), or the speedup
over the serial run (SQLite).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]

__all__ = ["format_records", "load_records", "main"]


def load_records(path: Path) -> tuple[list[Record], dict[str, Any]]:
    """The workload records and the machine info saved by ``--benchmark-json``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    records = [
        bench["extra_info"]["tpe"]
        for bench in data.get("benchmarks", [])
        if "tpe" in bench.get("extra_info", {})
    ]
    return records, data.get("machine_info", {})


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rows(rec: Record) -> tuple[list[str], list[list[str]]]:
    summary: dict[str, Record] = rec["summary"]
    compare = rec.get("compare", "ratio")
    baseline = rec.get("baseline")
    base = summary.get(baseline) if baseline else None
    single = _rounds(rec) == 1  # a one-shot record (memory): no spread to show
    header = ["config", rec["unit"] if single else f"median {rec['unit']}"]
    if not single:
        header += ["IQR", "min-max"]
    if compare == "ratio" and base:
        header += ["ratio", "paired ratio"]
    elif compare == "delta" and base:
        header += [f"+{rec['unit']} vs {baseline}"]
    elif compare == "speedup" and base:
        header += [f"speedup vs {baseline}", "vs stdlib, same workers"]
    rows = []
    for name, s in summary.items():
        row = [name, _fmt(s["median"])]
        if not single:
            row += [f"{_fmt(s['q1'])}-{_fmt(s['q3'])}", f"{_fmt(s['min'])}-{_fmt(s['max'])}"]
        if compare == "ratio" and base:
            row += [f"{s['ratio']:.3f}", f"{s['paired_ratio']:.3f}"]
        elif compare == "delta" and base:
            row += ["-" if name == baseline else f"{s['median'] - base['median']:+.0f}"]
        elif compare == "speedup" and base:
            row += [f"x{base['median'] / s['median']:.2f}"]
            peer = summary.get("stdlib " + name.split(" ", 1)[1]) if " " in name else None
            row += [f"{s['median'] / peer['median']:.3f}" if peer else "-"]
        rows.append(row)
    return header, rows


def _extra_lines(rec: Record) -> list[str]:
    extra: dict[str, Any] = rec.get("extra") or {}
    lines = []
    for key, value in extra.items():
        if isinstance(value, dict):
            parts = ", ".join(
                f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in value.items()
            )
            lines.append(f"{key}: {parts}")
        else:
            lines.append(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
    return lines


def _rounds(rec: Record) -> int:
    return max((s["rounds"] for s in rec["summary"].values()), default=0)


def format_records(records: Iterable[Record], *, markdown: bool = False) -> list[str]:
    """The table, one block per workload."""
    lines: list[str] = []
    records = list(records)
    if records:
        first = records[0]
        lines.append(
            f"tpe_insight benchmarks: {first.get('implementation', 'CPython')}"
            f" {first.get('python', '?')}, gc {'on' if first.get('gc_enabled') else 'OFF'},"
            " medians of interleaved rounds"
        )
        lines.append("")
    for rec in records:
        header, rows = _rows(rec)
        title = f"{rec['title']} ({_rounds(rec)} rounds)"
        if markdown:
            lines.append(f"**{title}**")
            lines.append("")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines.extend("| " + " | ".join(row) + " |" for row in rows)
            extra = _extra_lines(rec)
            if extra:
                lines.append("")
                lines.extend(f"- {line}" for line in extra)
        else:
            lines.append(title)
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            for row in [header, *rows]:
                cells = [row[0].ljust(widths[0])]
                cells += [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
                lines.append("  " + "  ".join(cells))
            lines.extend(f"  {line}" for line in _extra_lines(rec))
        lines.append("")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("json", type=Path, help="file written by pytest --benchmark-json")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    args = parser.parse_args(argv)
    records, machine = load_records(args.json)
    if not records:
        print(f"{args.json}: no tpe_insight records", file=sys.stderr)
        return 1
    if machine:
        cpu = machine.get("cpu", {})
        print(
            f"machine: {cpu.get('brand_raw', machine.get('processor', '?'))},"
            f" {cpu.get('count', '?')} CPUs, {machine.get('system', '?')}"
            f" {machine.get('release', '')}; {machine.get('python_implementation', '')}"
            f" {machine.get('python_version', '')}"
        )
    for line in format_records(records, markdown=args.markdown):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
