"""How accurate the finite-difference engine is, measured against reverse mode.

Targets (Engines issue): median relative error <= 1e-13 and worst <= 1e-11 over
the suite, with at most 12 evaluations per input component. Every partial's
actual error is also checked against the engine's own error estimate.

    python bench/numeric_accuracy.py
"""

from __future__ import annotations

import statistics
import sys


import dcalc
from dcalc.engines import run_engine

ROSENBROCK = " + ".join(f"100*(x{k + 1} - x{k}^2)^2 + (1 - x{k})^2" for k in range(1, 5))
LOGSUMEXP = "ln(" + " + ".join(f"exp(x{k})" for k in range(1, 9)) + ")"
SUITE = [
    ("exp at 2.5", "exp(x)", "x=2.5"),
    ("sin at 100", "sin(x)", "x=100"),
    ("ln at 0.05", "ln(x)", "x=0.05"),
    ("x^3.7 at 7", "x^3.7", "x=7"),
    ("rational, 2 variables", "(x^2 + 3*x*y - 1) / (1 + y^2 + x^4)", "x=0.7,y=-1.3"),
    ("Domke's f", "exp(exp(x) + exp(x)^2) + sin(exp(x) + exp(x)^2)", "x=0.5"),
    ("lecture f", "ln(x1)+x1*x2-sin(x2)", "x1=2,x2=5"),
    ("Rosenbrock, 5-D", ROSENBROCK, "x1=-1.2,x2=1,x3=0.5,x4=-0.3,x5=2"),
    ("logsumexp, 8-D", LOGSUMEXP, ",".join(f"x{k}={v}" for k, v in enumerate([0.1, -2, 3, 0.5, -0.7, 1.1, 2.2, -1], 1))),
    ("Gaussian x cosine, 3-D", "exp(-(x^2 + 2*y^2 + z^2/2)) * cos(x + 2*y - z)", "x=0.3,y=-0.4,z=0.8"),
]


def measure(method: str = "richardson"):
    rows = []
    for label, text, at in SUITE:
        problem = dcalc.load(text, at)
        exact = run_engine("reverse", problem.graph, problem.values)
        numeric = run_engine("numeric", problem.graph, problem.values, method=method)
        errors, inside = [], True
        for key, value in exact.jacobian.items():
            truth = float(value)
            got = float(numeric.jacobian[key])
            errors.append(abs(got - truth) / max(abs(truth), 1e-300))
            inside &= abs(got - truth) <= float(numeric.error[key])
        rows.append((label, max(errors), numeric.details["evaluations_per_component"], inside, numeric.seconds))
    return rows


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main() -> int:
    rows = measure()
    print(f"{'function':26} {'worst rel err':>14} {'evals/input':>11} {'within estimate':>15} {'time':>9}")
    for label, error, evaluations, inside, seconds in rows:
        print(f"{label:26} {error:14.2e} {evaluations:11d} {'yes' if inside else 'NO':>15} {seconds * 1e3:7.2f} ms")
    errors = [row[1] for row in rows]
    median, worst = statistics.median(errors), max(errors)
    evaluations = max(row[2] for row in rows)
    print(f"\nmedian relative error {median:.2e} (target <= 1e-13), worst {worst:.2e} (target <= 1e-11), "
          f"evaluations per input {evaluations} (target <= 12)")
    ok = median <= 1e-13 and worst <= 1e-11 and evaluations <= 12 and all(row[3] for row in rows)
    print("targets met" if ok else "TARGETS MISSED")
    SUMMARY.append(("finite differences: median / worst relative error", f"{median:.1e} / {worst:.1e}", "<= 1e-13 / 1e-11", median <= 1e-13 and worst <= 1e-11))
    SUMMARY.append(("finite differences: evaluations per input, within estimate", f"{evaluations}, {'all' if all(row[3] for row in rows) else 'NOT all'}", "<= 12, all", evaluations <= 12 and all(row[3] for row in rows)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
