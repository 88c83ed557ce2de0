"""Reverse mode on the lecture notes' network against hand-written NumPy backprop.

The 784 -> 72 (tanh) -> 10 network with the multiclass logistic loss, summed over
a batch of 1,000 inputs (one column each). Both compute the loss and the gradient
with respect to both weight matrices; times are the best of several runs, in the
same process. Target (Tensors issue): dcalc <= 1.1 x the hand-written time.

    python bench/mlp.py
"""

from __future__ import annotations

import sys

import numpy as np
from timing import interleaved

import dcalc
from dcalc.engines.reverse import reverse

PROGRAM = """
H = tanh(M @ X)
F = W @ H
L = sum(logsumexp(F, 0) - sum(F * T, 0))
"""


def data(batch: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(10, size=batch)
    return {
        "M": rng.standard_normal((72, 784)) / 28,
        "W": rng.standard_normal((10, 72)) / 8,
        "X": rng.random((784, batch)),
        "T": np.eye(10)[:, labels],
    }


def by_hand(M, W, X, T):
    """Backprop written out: the loss and dL/dM, dL/dW."""
    H = np.tanh(M @ X)
    F = W @ H
    top = F.max(axis=0)
    shifted = np.exp(F - top)
    total = shifted.sum(axis=0)
    loss = float(np.sum(np.log(total) + top - (F * T).sum(axis=0)))
    dF = shifted / total - T
    dW = dF @ H.T
    dH = W.T @ dF
    dZ = dH * (1 - H * H)
    dM = dZ @ X.T
    return loss, dM, dW


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main() -> int:
    values = data()
    problem = dcalc.load(PROGRAM, values)
    graph = problem.graph
    result = reverse(graph, problem.values, wrt=["M", "W"])
    loss, dM, dW = by_hand(**values)
    agree = (
        abs(float(result.values[0]) - loss) <= 1e-12 * abs(loss)
        and np.allclose(result.jacobian[("L", "M")], dM, rtol=1e-12, atol=1e-14)
        and np.allclose(result.jacobian[("L", "W")], dW, rtol=1e-12, atol=1e-14)
    )
    theirs, ours = interleaved(lambda: by_hand(**values), lambda: reverse(graph, problem.values, wrt=["M", "W"]))
    ratio = ours / theirs
    print("784 -> 72 -> 10 tanh network, multiclass logistic loss, batch of 1000")
    print(f"hand-written NumPy backprop   {theirs * 1e3:8.2f} ms")
    print(f"dcalc reverse mode            {ours * 1e3:8.2f} ms")
    print(f"ratio dcalc / hand-written    {ratio:8.2f}   (target <= 1.1)   gradients agree: {'yes' if agree else 'NO'}")
    SUMMARY.append(("784-72-10 network, batch 1000: reverse / hand-written backprop", f"{ratio:.2f}", "<= 1.1", agree and ratio <= 1.1))
    return 0 if agree and ratio <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())
