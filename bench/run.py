"""Run every benchmark in bench/ and print its figures.

Each benchmark runs in a fresh process, so none inherits another's heap, threads or
warmed allocator: run after the others in one process, the network's ratio read
1.14 where it reads 1.04 alone.

    python bench/run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

BENCHMARKS = ["startup", "points", "programs", "parse_rate", "memory", "mlp", "numeric_accuracy", "swell", "limits"]

# The child: import the benchmark, run it, and leave its rows for the closing table in a file.
CHILD = (
    "import importlib, json, sys\n"
    "folder, name, rows = sys.argv[1:4]\n"
    "sys.argv = [name]  # a benchmark that reads options sees none of the runner's\n"
    "sys.path.insert(0, folder)\n"
    "module = importlib.import_module(name)\n"
    "status = module.main()\n"
    "open(rows, 'w').write(json.dumps(getattr(module, 'SUMMARY', [])))\n"
    "sys.exit(int(status or 0))\n"
)


def run_one(name: str, folder: Path) -> tuple[int, list]:
    """The benchmark's exit status and its rows (figure, measured, target, met)."""
    with tempfile.TemporaryDirectory() as scratch:
        rows_file = Path(scratch) / "rows.json"
        completed = subprocess.run([sys.executable, "-c", CHILD, str(folder), name, str(rows_file)])
        if not rows_file.exists():
            return completed.returncode or 1, [(name, f"did not finish (exit {completed.returncode})", "", False)]
        return completed.returncode, json.loads(rows_file.read_text())


def main() -> int:
    folder = Path(__file__).resolve().parent
    status = 0
    rows = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        code, found = run_one(name, folder)
        status |= int(code != 0)
        rows += found
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
