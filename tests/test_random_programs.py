"""Engines agree on random programs (Issue 8): seeded straight-line programs drawn from
the primitive table, scalar and array, each operation inside its domain.

Properties: forward = reverse = symbolic to 1e-10 relative; finite differences
within their own error estimate; Hessians symmetric and equal by two engines;
the symbolic derivative's printed text parses back to the same numbers.

A longer run: DCALC_RANDOM_PROGRAMS=500 pytest tests/test_random_programs.py
"""

import os

import numpy as np
import pytest

import dcalc
from dcalc.compare import beyond_estimate, max_rel_diff
from dcalc.engines import run_engine
from random_programs import random_program

COUNT = int(os.environ.get("DCALC_RANDOM_PROGRAMS", "40"))
SEEDS = [(seed, seed % 3 == 2) for seed in range(COUNT)]  # every third one with arrays
SCALAR_SEEDS = [(seed, arrays) for seed, arrays in SEEDS if not arrays]


def seed_ids(seeds) -> list[str]:
    return [f"{'array' if arrays else 'scalar'}-{seed}" for seed, arrays in seeds]


def load(seed, arrays):
    text, values = random_program(seed, arrays, length=12 if not arrays else 8)
    return text, dcalc.load(text, values)


@pytest.mark.parametrize("seed, arrays", SEEDS, ids=seed_ids(SEEDS))
def test_engines_agree_on_random_programs(seed, arrays):
    text, problem = load(seed, arrays)
    reverse = run_engine("reverse", problem.graph, problem.values)
    assert all(np.all(np.isfinite(block)) for block in reverse.jacobian.values()), text
    for engine in ("forward", "symbolic"):
        found = run_engine(engine, problem.graph, problem.values)
        assert max_rel_diff(reverse, found) <= 1e-10, (engine, text)
    numeric = run_engine("numeric", problem.graph, problem.values)
    assert beyond_estimate(reverse, numeric) == 0, text


@pytest.mark.parametrize("seed, arrays", SEEDS[: max(COUNT // 2, 1)], ids=seed_ids(SEEDS[: max(COUNT // 2, 1)]))
def test_hessians_of_random_programs_are_symmetric(seed, arrays):
    from dcalc.engines.second import hessian

    text, problem = load(seed, arrays)
    by_forward = hessian(problem.graph, problem.values, engine="forward")
    assert by_forward.asymmetry() <= 1e-10, text
    by_symbolic = hessian(problem.graph, problem.values, engine="symbolic")
    matrix, other = by_forward.matrix(), by_symbolic.matrix()
    scale = max(float(np.max(np.abs(matrix))), 1e-300)
    assert float(np.max(np.abs(matrix - other))) <= 1e-10 * scale, text


@pytest.mark.parametrize("seed, arrays", SEEDS, ids=seed_ids(SEEDS))
def test_printed_derivatives_of_random_programs_round_trip(seed, arrays):
    from dcalc.engines.symbolic import derivative
    from dcalc.evaluation import evaluate
    from dcalc.printer import with_lets

    text, problem = load(seed, arrays)
    shapes = {name: value.shape for name, value in problem.values.items()}
    for name in problem.graph.input_names:
        node = derivative(problem.graph, name)
        (expected,) = evaluate(node.graph, problem.values, outputs=[node])
        lets, expression = with_lets(node)
        printed = "\n".join([f"{let} = {value}" for let, value in lets] + [expression])
        again = dcalc.parse_program(printed, shapes=shapes)
        (value,) = evaluate(again, {input_name: problem.values[input_name] for input_name in again.input_names})
        np.testing.assert_allclose(value, np.broadcast_to(expected, np.shape(value)), rtol=1e-12, atol=1e-14, err_msg=printed)


def test_the_generator_draws_from_the_whole_table():
    """Across the seeds, most of the table's elementwise ops and every reduction occur."""
    from random_programs import ELEMENTWISE, REDUCTIONS

    used = set()
    for seed, arrays in SEEDS:
        _, problem = load(seed, arrays)
        used |= {node.op for node in problem.graph.nodes}
    elementwise = {prim.name for prim in ELEMENTWISE}
    assert len(used & elementwise) >= 0.8 * len(elementwise), sorted(elementwise - used)
    assert {"sum", "matmul"} <= used and len(used & set(REDUCTIONS) | used & {"amax", "amin"}) >= 3


@pytest.mark.parametrize("seed, arrays", SEEDS, ids=seed_ids(SEEDS))
def test_reverse_mode_sharing_its_arrays_between_runs_changes_nothing(seed, arrays):
    """Over points, reverse mode's second run writes its temporaries into the arrays its
    first run set aside, one array serving several temporaries whose lives do not
    overlap (views included): the gradient is the one forward mode finds."""
    from dcalc.evaluation import release_buffers

    text, problem = load(seed, arrays)
    points = {name: np.asarray(value)[..., None] * np.linspace(1.0, 1.0 + 1e-9, 5) for name, value in problem.values.items()}
    release_buffers()
    run_engine("reverse", problem.graph, points, batch_ndim=1)  # plans the sharing
    again = run_engine("reverse", problem.graph, points, batch_ndim=1)
    forward = run_engine("forward", problem.graph, points, batch_ndim=1)
    assert max_rel_diff(again, forward) <= 1e-10, text


@pytest.mark.parametrize("seed, arrays", SCALAR_SEEDS, ids=seed_ids(SCALAR_SEEDS))
def test_folding_nodes_read_once_keeps_the_gradient_of_the_plain_sweep(seed, arrays):
    """Scalar programs: reverse mode's sweep without the nodes it folds into their one
    reader gives the gradient the sweep over every node does, to rounding."""
    from dcalc.engines.scalar import _folded_weights, _weights, compile_tape, reverse_sweep
    from dcalc.evaluation import run_scalar

    text, problem = load(seed, arrays)
    tape = compile_tape(problem.graph, problem.graph.outputs, problem.graph.inputs, "reverse")
    slots = run_scalar(tape.schedule, problem.values)
    weights = _weights(tape, slots)
    folded_weights = _folded_weights(tape, weights)  # None: nothing folded, or weights too large or small to fold
    assert folded_weights is not None and len(tape.folded) < len(tape.backward), text
    (seed_slot,) = tape.schedule.output_slots
    plain = reverse_sweep(tape.backward, weights.tolist(), seed_slot, len(slots))
    folded = reverse_sweep(tape.folded, folded_weights, seed_slot, len(slots))
    for slot in tape.wrt_slots:
        assert folded[slot] == pytest.approx(plain[slot], rel=1e-12, abs=1e-300), text
