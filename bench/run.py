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
    for name in BENCHMARKS:
        print(f"== {name}")
        module = importlib.import_module(name)
        result = module.main()
        status |= int(result or 0)
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
