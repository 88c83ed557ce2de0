"""Run every benchmark in bench/ and print its figures.

    python bench/run.py
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCHMARKS = ["startup", "points", "programs", "parse_rate", "memory", "mlp", "numeric_accuracy", "swell", "limits"]


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    status = 0
    rows = []
    for name in BENCHMARKS:
        print(f"== {name}")
        module = importlib.import_module(name)
        result = module.main()
        status |= int(result or 0)
        rows += getattr(module, "SUMMARY", [])
        print()
    print_table(rows)
    return status


def print_table(rows) -> None:
    """Every figure against its target, as measured above."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Every figure against its target (ratios measured in the same run)", title_justify="left")
    for header in ("figure", "measured", "target", "met"):
        table.add_column(header)
    for figure, measured, target, met in rows:
        table.add_row(figure, measured, target, "yes" if met else "NO")
    Console(width=140).print(table)


if __name__ == "__main__":
    sys.exit(main())
