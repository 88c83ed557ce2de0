"""Many points at once: each engine gives, for a batch of points, what it gives at
each point alone; and large inputs are handled in chunks and along directions."""

from pathlib import Path

import numpy as np
import pytest

import dcalc
from dcalc.engines import ENGINE_NAMES, run_engine

POINTS = 5

# (program, input shapes, inputs shared by every point rather than given per point)
CASES = [
    ("ln(x1)+x1*x2-sin(x2)", {"x1": (), "x2": ()}, ()),
    ("e = y - tanh(A @ x + b); L = 0.5*sum(e^2)", {"A": (3, 4), "x": (4,), "b": (3,), "y": (3,)}, ("A",)),
    ("softmax(x) * c", {"x": (4,), "c": ()}, ()),
    ("a = x*y + 2; b = sin(x)/y; return a, b", {"x": (), "y": ()}, ()),
    ("Y = W @ V + B; L = sum(Y * Y)", {"W": (3, 2), "V": (2, 4), "B": (3, 1)}, ("W",)),
]


def batch_values(shapes, shared, seed):
    """Per-point inputs carry a trailing axis of POINTS; shared ones an axis of length 1."""
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0.5, 2.0, size=shape + ((1,) if name in shared else (POINTS,))) for name, shape in shapes.items()}


def at_point(values, k):
    return {name: value[..., 0 if value.shape[-1] == 1 else k] for name, value in values.items()}


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("text, shapes, shared", CASES, ids=[case[0] for case in CASES])
def test_a_batch_of_points_gives_what_each_point_gives(engine, text, shapes, shared):
    values = batch_values(shapes, shared, seed=len(text))
    graph = dcalc.parse_program(text, shapes=shapes)
    batch = run_engine(engine, graph, values, batch_ndim=1)
    assert batch.batch_ndim == 1
    for k in range(POINTS):
        alone = run_engine(engine, graph, at_point(values, k))
        for name, value in zip(alone.output_names, alone.values):
            position = batch.output_names.index(name)
            np.testing.assert_allclose(batch.values[position][..., k], value, rtol=1e-14, atol=0)
        for key, block in alone.jacobian.items():
            got = batch.jacobian[key][..., k]
            assert got.shape == np.shape(block)
            if engine == "numeric":
                # Each point gets its own steps and error estimate; both runs are within theirs.
                truth = run_engine("reverse", graph, at_point(values, k)).jacobian[key]
                assert np.all(np.abs(got - truth) <= batch.error[key][..., k]), key
            else:
                np.testing.assert_allclose(got, block, rtol=1e-13, atol=1e-15)


def test_forward_mode_splits_directions_to_fit_the_memory_budget():
    values = {"A": np.random.default_rng(1).normal(size=(6, 5)), "x": np.linspace(-1, 1, 5)}
    problem = dcalc.load("sum(tanh(A @ x) * (A @ x))", values)
    whole = run_engine("forward", problem.graph, problem.values)
    # 35 directions; a budget for about four of them at a time
    chunked = run_engine("forward", problem.graph, problem.values, memory=4 * 8 * 80)
    reverse = run_engine("reverse", problem.graph, problem.values)
    for key, block in reverse.jacobian.items():
        np.testing.assert_allclose(whole.jacobian[key], block, rtol=1e-13)
        np.testing.assert_array_equal(chunked.jacobian[key], whole.jacobian[key])


def test_reverse_mode_splits_cotangents_to_fit_the_memory_budget():
    values = {"A": np.random.default_rng(2).normal(size=(6, 5)), "x": np.linspace(-1, 1, 5)}
    problem = dcalc.load("tanh(A @ x) * 2", values)
    whole = run_engine("reverse", problem.graph, problem.values)
    chunked = run_engine("reverse", problem.graph, problem.values, memory=2 * 8 * 30)
    for key, block in whole.jacobian.items():
        np.testing.assert_array_equal(chunked.jacobian[key], block)


@pytest.mark.parametrize("method", ["richardson", "central", "complex"])
def test_numeric_projections_agree_with_the_exact_gradient(method):
    from dcalc.engines.numeric import exact_directions

    rng = np.random.default_rng(3)
    values = {"W": rng.normal(size=(4, 30)) / 5, "x": rng.uniform(-1, 1, size=30)}
    problem = dcalc.load("f = W @ x; L = logsumexp(tanh(f)) - f[1]", values)
    directions = exact_directions(problem.graph, problem.values, ["W", "x"], count=6, seed=0)
    assert directions["W"].shape == (4, 30, 6)
    numeric = run_engine("numeric", problem.graph, problem.values, directions=directions, method=method)
    exact = run_engine("reverse", problem.graph, problem.values).project(directions)["L"]
    along = run_engine("forward", problem.graph, problem.values, directions=directions)
    assert numeric.projections["L"].shape == (6,)
    assert np.all(np.abs(numeric.projections["L"] - exact) <= numeric.error["L"])
    np.testing.assert_allclose(along.projections["L"], exact, rtol=1e-12)
    # 12 evaluations per direction with Richardson extrapolation (not per component: 150 of them)
    assert numeric.details["evaluations"] <= 6 * 12 * (1 + 3) + 1


def test_exact_directions_move_every_component_by_exactly_its_step():
    from dcalc.engines.numeric import PROJECTION_STEP, exact_directions

    center = np.array([0.1, 3.0, -7.5, np.nextafter(2.0, 0.0), 1e-300, 123456.789, 0.0])
    problem = dcalc.load("sum(x * x)", {"x": center})
    directions = exact_directions(problem.graph, problem.values, ["x"], count=4, seed=1)["x"]
    assert np.all(np.isin(np.abs(directions[directions != 0]), 2.0 ** np.arange(-3, 20)))
    for step in PROJECTION_STEP / 2.0 ** np.arange(6):
        moved = center[:, None] + step * directions
        np.testing.assert_array_equal(moved - center[:, None], step * directions)
    # 2 - 2^-52 (odd last bit) plus 2^-6 * 2 crosses into the next binade, where it cannot be
    # written exactly: left out of every direction.
    assert np.all(directions[3] == 0) and np.all(directions[1] != 0)


def test_grad_checks_large_inputs_along_random_directions(cli):
    import json

    result = cli("grad", "L = logsumexp(tanh(W @ x))", "--at", "W=randn(60, 300) / 17, x=rand(300)", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert np.shape(data["gradient"]["W"]) == (60, 300)
    for engine in ("forward", "numeric"):
        entry = data["engines"][engine]
        assert entry["agrees"] is True and entry["directions"]["count"] == 8
        assert np.shape(entry["projections"]["L"]) == (8,) and "gradient" not in entry
    assert "gradient" in data["engines"]["symbolic"] and data["engines"]["symbolic"]["agrees"] is True


def test_tensor_samples_are_checked_by_every_engine():
    from dcalc.checking import read_sample
    from dcalc.engines import ENGINE_NAMES

    samples = Path(__file__).resolve().parent.parent / "samples"
    for name in ("tanh_layer", "mlp_multiclass", "logistic_regression", "batched_affine", "quadratic_form"):
        sample = read_sample(samples / f"{name}.dcalc")
        assert set(sample.engines) == set(ENGINE_NAMES), name


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_many_points_in_memory_go_in_chunks_on_threads(engine):
    """at_points splits the points into chunks run on a pool of threads; the results are
    those of one engine call over all the points."""
    from dcalc.points import at_points

    rng = np.random.default_rng(11)
    count = 3000
    values = {"x": rng.uniform(0.5, 2.0, size=(3, count)), "A": rng.normal(size=(2, 3, 1))}
    graph = dcalc.parse_program("f = A @ x; return sum(tanh(f)), prod(x)", shapes={"x": (3,), "A": (2, 3)})
    whole = run_engine(engine, graph, values, batch_ndim=1)
    chunked = at_points(engine, graph, values, memory=2**20, workers=2)  # chunks of a few hundred points
    for got, expected in zip(chunked.values, whole.values):
        np.testing.assert_allclose(got, expected, rtol=1e-15)
    for key, block in whole.jacobian.items():
        assert chunked.jacobian[key].shape == block.shape
        np.testing.assert_allclose(chunked.jacobian[key], block, rtol=1e-14, atol=1e-15)


def test_many_points_where_a_zero_meets_an_infinite_slope():
    """Over many points reverse mode runs its sweep staged as one graph of IEEE products;
    where that gives a NaN (0 * inf: z sqrt(y) at z = y = 0), the chunk is redone with
    guarded rules and every point gets what it gets alone."""
    from dcalc.points import at_points

    count = 20_000
    rng = np.random.default_rng(3)
    values = {name: rng.uniform(0.5, 2.0, count) for name in ("x", "y", "z")}
    values["y"][[5, 17_000]] = 0.0
    values["z"][[5, 17_000]] = 0.0
    graph = dcalc.parse_program("z*sqrt(y) + x")
    result = at_points("reverse", graph, values, memory=2**20)
    for k in (5, 6, 17_000):
        alone = run_engine("reverse", graph, {name: value[k] for name, value in values.items()})
        for key, block in alone.jacobian.items():
            assert result.jacobian[key][k] == block, (k, key)
    assert np.all(np.isfinite(result.jacobian[(result.output_names[0], "y")]))
