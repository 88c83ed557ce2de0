"""Seeded random straight-line programs drawn from the primitive table.

Each program is text in the language (one assignment per line) and a point, built
one operation at a time: an operation is kept only when its operands lie inside the
domain its table entry declares, it stays clear of kinks (ties of max and min), and
its value is finite and moderate at the point, so every engine has a derivative to
find and the finite differences have room for their steps.
"""

from __future__ import annotations

import re

import numpy as np

from dcalc import parse_program, primitives
from dcalc.evaluation import evaluate

# Every elementwise primitive a program can name (functions and infix arithmetic).
ELEMENTWISE = sorted(
    {prim for prim in primitives.FUNCTIONS.values() if prim.elementwise and prim.domain}
    | {primitives.TABLE[name] for name in ("add", "sub", "mul", "div", "pow", "neg")},
    key=lambda prim: prim.name,
)
REDUCTIONS = ("sum", "mean", "logsumexp", "prod", "max", "min")
KINKED = {"min", "max"}  # elementwise ops whose arguments must not (nearly) tie
LARGEST = 20.0  # values beyond this make later operations overflow or leave their domains
CLEAR = 0.2  # how far from a tie (max, min) or a kink a value must be


def _inside(value, intervals) -> bool:
    value = np.asarray(value)
    inside = np.zeros(value.shape, dtype=bool)
    for low, high in intervals:
        inside |= (value >= low) & (value <= high)
    return bool(np.all(inside))


class Builder:
    def __init__(self, seed: int, arrays: bool):
        self.rng = np.random.default_rng(seed)
        self.arrays = arrays
        self.lines: list[str] = []
        self.values: dict[str, np.ndarray] = {}
        self.pool: list[tuple[str, np.ndarray]] = []  # (name, value) of everything defined so far
        shapes = [(), (3,), (2, 3)] if arrays else [()]
        for k in range(int(self.rng.integers(2, 5))):
            name = f"x{k}"
            shape = shapes[int(self.rng.integers(len(shapes)))] if k else ()
            value = self.rng.uniform(0.3, 1.8, size=shape) * self.rng.choice([-1.0, 1.0], size=shape)
            self.values[name] = np.asarray(value, dtype=float)
            self.pool.append((name, self.values[name]))

    def operand(self):
        """A value defined earlier, the recent ones more often (so programs grow deep)."""
        count = len(self.pool)
        index = count - 1 - min(int(self.rng.geometric(0.35)) - 1, count - 1)
        return self.pool[index]

    def candidate(self):
        """(text, operand values, check) for one random operation, or None."""
        if self.arrays and self.rng.random() < 0.4:
            return self._tensor_op()
        prim = ELEMENTWISE[int(self.rng.integers(len(ELEMENTWISE)))]
        operands = [self.operand() for _ in range(prim.arity)]
        for (_, value), intervals in zip(operands, prim.domain):
            if not _inside(value, intervals):
                return None
        shapes = [np.shape(value) for _, value in operands]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            return None
        if prim.name in KINKED and np.any(np.abs(operands[0][1] - operands[1][1]) < CLEAR):
            return None
        return primitives.call_text(prim, [name for name, _ in operands]), operands

    def _tensor_op(self):
        name, value = self.operand()
        shape = np.shape(value)
        choice = self.rng.integers(4)
        if choice == 0 and shape:
            reduction = REDUCTIONS[int(self.rng.integers(len(REDUCTIONS)))]
            if reduction in ("max", "min"):
                ordered = np.sort(np.ravel(value))  # the extreme must stand clear of the runner-up
                if len(ordered) > 1 and (ordered[-1] - ordered[-2] < CLEAR if reduction == "max" else ordered[1] - ordered[0] < CLEAR):
                    return None
                return f"{reduction}({name})", [(name, value)]
            if len(shape) > 1 and self.rng.random() < 0.5:
                return f"{reduction}({name}, {int(self.rng.integers(len(shape)))})", [(name, value)]
            return f"{reduction}({name})", [(name, value)]
        if choice == 1:
            other, other_value = self.operand()
            other_shape = np.shape(other_value)
            if shape and other_shape and shape[-1] == (other_shape[0] if len(other_shape) == 1 else other_shape[-2]):
                return f"{name} @ {other}", [(name, value), (other, other_value)]
            return None
        if choice == 2 and len(shape) == 2:
            return f"{name}.T", [(name, value)]
        if choice == 3 and shape:
            return f"{name}[{int(self.rng.integers(shape[0]))}]" if self.rng.random() < 0.5 else f"softmax({name})", [(name, value)]
        return None

    def grow(self, length: int) -> None:
        for attempt in range(60 * length):
            if len(self.lines) >= length:
                return
            found = self.candidate()
            if found is None:
                continue
            text, operands = found
            value = self._value(text, operands)
            if value is None or not np.all(np.isfinite(value)) or np.max(np.abs(value), initial=0.0) > LARGEST:
                continue
            name = f"t{len(self.lines)}"
            self.lines.append(f"{name} = {text}")
            self.pool.append((name, value))

    def _value(self, text: str, operands):
        graph = parse_program(text, shapes={name: np.shape(value) for name, value in operands})
        with np.errstate(all="ignore"):
            (value,) = evaluate(graph, {name: value for name, value in operands})
        return np.asarray(value, dtype=float)

    def program(self) -> str:
        """The lines, and an output that adds up every value nothing else used (so no
        operation is dead code) and a little of every input (so no gradient is zero by
        construction)."""
        used = {word for line in self.lines for word in re.findall(r"[A-Za-z_]\w*", line.split(" = ", 1)[1])}
        unused = [(name, value) for name, value in self.pool[len(self.values) :] if name not in used]
        terms = [f"sum({name})" if np.shape(value) else name for name, value in unused]
        terms += [f"0.1*sum(sin({name}))" if np.shape(value) else f"0.1*sin({name})" for name, value in self.values.items()]
        return "\n".join(self.lines + ["y = " + " + ".join(terms)])


def random_program(seed: int, arrays: bool = False, length: int = 10) -> tuple[str, dict[str, np.ndarray]]:
    """A program of about ``length`` operations with a scalar output, and a point."""
    builder = Builder(seed, arrays)
    builder.grow(length)
    return builder.program(), builder.values
