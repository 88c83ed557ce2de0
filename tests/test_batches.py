"""Many points at once: each engine gives, for a batch of points, what it gives at
each point alone; and large inputs are handled in chunks and along directions."""

import math

import numpy as np
import pytest

import dcalc
from dcalc.engines import ENGINE_NAMES, ITEM_BYTES, run_engine

POINTS = 5

# (program, input shapes, inputs shared by every point rather than given per point)
CASES = [
    ("ln(x1)+x1*x2-sin(x2)", {"x1": (), "x2": ()}, ()),
    ("e = y - tanh(A @ x + b); L = 0.5*sum(e^2)", {"A": (3, 4), "x": (4,), "b": (3,), "y": (3,)}, ("A",)),
    ("softmax(x) * c", {"x": (4,), "c": ()}, ()),
    ("a = x*y + 2; b = sin(x)/y; return a, b", {"x": (), "y": ()}, ()),
    ("Y = W @ V + B; L = sum(Y * Y)", {"W": (3, 2), "V": (2, 4), "B": (3, 1)}, ("W",)),
    # Reverse mode's sweep spreads 1 + 2, made of numbers alone, over X's shape.
    ("y = sum(exp(X)) + 2*sum(exp(X)) + sum(X)", {"X": (2, 3)}, ()),
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


def test_tensor_samples_are_checked_by_every_engine(sample_path):
    from dcalc.checking import read_sample

    for name in ("tanh_layer", "mlp_multiclass", "logistic_regression", "batched_affine", "quadratic_form"):
        sample = read_sample(sample_path(f"{name}.dcalc"))
        assert set(sample.engines) == set(ENGINE_NAMES), name


def assert_chunks_give_the_whole(engine, graph, values, value_rtol=0.0, rtol=0.0, atol=0.0):
    """at_points in chunks of a few hundred points on two threads gives what one engine
    call over all the points gives: values to ``value_rtol``, partials to ``rtol`` and
    ``atol`` (exactly by default)."""
    from dcalc.points import at_points

    whole = run_engine(engine, graph, values, batch_ndim=1)
    chunked = at_points(engine, graph, values, memory=2**20, workers=2)
    count = max(np.shape(value)[-1] for value in values.values())
    for got, expected in zip(chunked.values, whole.values):
        np.testing.assert_allclose(got, expected, rtol=value_rtol, atol=0.0)
    for key, block in whole.jacobian.items():
        assert chunked.jacobian[key].shape == block.shape[:-1] + (count,)
        np.testing.assert_allclose(chunked.jacobian[key], np.broadcast_to(block, block.shape[:-1] + (count,)), rtol=rtol, atol=atol)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_many_points_in_memory_go_in_chunks_on_threads(engine):
    """at_points splits the points into chunks run on a pool of threads; the results are
    those of one engine call over all the points."""
    rng = np.random.default_rng(11)
    count = 600 if engine == "numeric" else 3000  # the numeric engine's chunks hold a few dozen points
    values = {"x": rng.uniform(0.5, 2.0, size=(3, count)), "A": rng.normal(size=(2, 3, 1))}
    graph = dcalc.parse_program("f = A @ x; return sum(tanh(f)), prod(x)", shapes={"x": (3,), "A": (2, 3)})
    assert_chunks_give_the_whole(engine, graph, values, value_rtol=1e-15, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("text", ["exp(x)", "x", "2*x", "x + 0*y", "exp(x)*y"])
def test_a_value_that_is_also_a_partial_lands_in_both_arrays(text):
    """exp(x) is its own derivative: in reverse mode's staged sweep the value and the
    partial are one node, written into each result array over many points."""
    graph = dcalc.parse_program(text)
    rng = np.random.default_rng(5)
    assert_chunks_give_the_whole("reverse", graph, {name: rng.uniform(0.5, 2.0, 50_000) for name in graph.input_names})


def test_threads_only_for_chunks_long_enough_to_share(monkeypatch):
    """Threads take turns for the interpreter's lock at every NumPy call: a thread gets
    chunks of THREADED_CHUNK points or none, and a budget or a batch too small for
    that runs fewer threads; threads asked for are given."""
    from dcalc.points import MAX_CHUNK, THREADED_CHUNK, bytes_per_point, chunking

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    small = dcalc.parse_program("ln(x1)+x1*x2-sin(x2)")
    large = dcalc.parse_program("\n".join(["t0 = sin(x)"] + [f"t{k} = sin(t{k - 1}) * x" for k in range(1, 500)]))

    def plan(graph, count, memory=None, workers=None):
        return chunking(graph, ("reverse",), list(graph.inputs), graph.outputs, memory, workers, np, count)

    size, workers, _ = plan(small, 10**7)
    assert workers == 4 and THREADED_CHUNK <= size <= MAX_CHUNK
    assert plan(small, 3 * THREADED_CHUNK)[:2] == (THREADED_CHUNK, 3)  # a chunk for each thread
    size, workers, _ = plan(small, 10**5)
    assert workers == 4 and math.ceil(10**5 / size) == 4  # a batch under MAX_CHUNK is shared out too
    assert plan(small, THREADED_CHUNK - 1)[:2] == (THREADED_CHUNK - 1, 1)
    per_point = bytes_per_point(large, ("reverse",), list(large.inputs), large.outputs)
    memory = 2 * THREADED_CHUNK * per_point  # room for two threads' chunks, not four
    size, workers, _ = plan(large, 10**6, memory)
    assert workers == 2 and size * per_point * workers <= memory and size >= THREADED_CHUNK * 0.9
    size, workers, _ = plan(large, 10**6, THREADED_CHUNK * per_point // 2)
    assert workers == 1 and size * per_point <= THREADED_CHUNK * per_point // 2
    assert plan(small, 1000, 2**20, workers=3)[1] == 3


@pytest.mark.parametrize("size, count, workers", [(60_494, 10**6, 2), (4096, 4097, 2), (1000, 999, 4), (512, 10_000, 3), (65_536, 65_536, 1)])
def test_chunks_are_of_equal_size_and_as_many_for_each_thread(size, count, workers):
    from dcalc.points import balanced

    chunk = balanced(size, count, workers)
    chunks = math.ceil(count / chunk)
    assert chunk <= size and chunk * chunks >= count
    assert chunks % workers == 0  # no thread idles through a last round
    assert count - chunk * (chunks - 1) >= chunk - chunks  # the last chunk is (nearly) as full as the others


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


# Programs whose derivatives are views of arrays inside the sweep (transpose, reshape,
# indexing, a sum_to with nothing to sum) or are the inputs themselves.
ALIASING = [
    ("f = sum(transpose(X) * Y)", {"X": (2, 3), "Y": (3, 2)}),
    ("f = sum(sin(transpose(X)))", {"X": (2, 3)}),
    ("f = sum(exp(reshape(x, (2, 2))))", {"x": (4,)}),
    ("f = sum(exp(x)[1:3])", {"x": (4,)}),
    ("f = sum(X[0] * v)", {"X": (2, 3), "v": (3,)}),
    ("f = sum(tanh(A @ x))", {"A": (3, 4), "x": (4,)}),
    ("f = sin(x)[0] * y", {"x": (3,), "y": ()}),
    ("f = x*y + sqrt(z)", {"x": (), "y": (), "z": ()}),  # sqrt'(0) is infinite: the guarded sweep
    ("f = sum(exp(c))", {"c": (3,)}),  # the value's array is also the derivative's
    ("f = reshape(x, (3, 1))", {"x": (3,)}),  # the value is the input, reshaped
]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("batch", [0, 1])
@pytest.mark.parametrize("text, shapes", ALIASING, ids=[case[0] for case in ALIASING])
def test_results_are_the_callers_own(engine, batch, text, shapes):
    """A result is neither overwritten by the engine's next call (reverse mode reuses
    its arrays from one call to the next) nor shares memory with the inputs or with
    another result."""
    rng = np.random.default_rng(len(text))
    graph = dcalc.parse_program(text, shapes=shapes)

    def values():
        made = {name: np.asarray(rng.uniform(0.5, 2.0, size=shape + ((6,) if batch else ()))) for name, shape in shapes.items()}
        if "z" in made:
            made["z"][(0,) if batch else ()] = 0.0
        return made

    given = values()
    first = run_engine(engine, graph, given, batch_ndim=batch)
    kept = {key: np.array(block) for key, block in first.jacobian.items()}
    kept_values = [np.array(value) for value in first.values]
    run_engine(engine, graph, values(), batch_ndim=batch)
    for key, block in first.jacobian.items():
        np.testing.assert_array_equal(block, kept[key], err_msg=str(key))
        assert not any(np.shares_memory(block, array) for array in given.values()), key
    for value, kept_value in zip(first.values, kept_values):
        np.testing.assert_array_equal(value, kept_value)
        assert not any(np.shares_memory(value, array) for array in given.values())
    results = [array for array in (*first.values, *first.jacobian.values()) if isinstance(array, np.ndarray) and array.size]
    for position, array in enumerate(results):
        assert not any(np.shares_memory(array, other) for other in results[position + 1 :])


def test_saved_partials_at_many_points_are_each_points_own(cli, tmp_path):
    """Chunks run ahead on worker threads while earlier ones are written: every point's
    saved df/dA is cos... of its own x, not of a later chunk's."""
    rng = np.random.default_rng(5)
    count = 50_000
    xs = rng.uniform(-1, 1, size=(count, 4))
    A = rng.normal(size=(3, 4))
    np.savez(tmp_path / "xs.npz", x=xs)
    np.save(tmp_path / "A.npy", A)
    result = cli("grad", "f = sum(tanh(A @ x))", "--at", f"A=@{tmp_path / 'A.npy'}", "--points", str(tmp_path / "xs.npz"),
                 "--engine", "reverse", "--save", str(tmp_path / "out.npz"), "--memory", "8M")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out.npz") as saved:
        dA = saved["df/dA"]
    slope = 1 - np.tanh(xs @ A.T) ** 2  # (count, 3)
    np.testing.assert_allclose(dA, slope[:, :, None] * xs[:, None, :], rtol=1e-12, atol=1e-15)


def test_symbolic_engine_on_many_threads_builds_its_derivative_once():
    """The symbolic engine's derivative nodes live in one graph the threads share."""
    import sys

    from dcalc.points import at_points

    lines = ["a0 = x*y"] + [f"a{k} = sin(a{k - 1}) * x + cos(y * a{k - 1}) + {k}" for k in range(1, 40)]
    count = 4000
    values = {"x": np.linspace(0.1, 0.5, count), "y": np.linspace(0.2, 0.3, count)}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        for _ in range(3):
            graph = dcalc.parse_program("\n".join(lines))
            result = at_points("symbolic", graph, values, memory=2**20, workers=4)
            expected = run_engine("reverse", graph, values, batch_ndim=1)
            for key, block in expected.jacobian.items():
                np.testing.assert_allclose(result.jacobian[key], block, rtol=1e-12, atol=1e-14)
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_outputs_that_do_not_vary_over_the_points_fill_every_chunk(engine):
    """An output that does not depend on the per-point inputs (b = y^2 with y shared, a
    constant) comes back from a chunk without a point axis; every point still gets it."""
    from dcalc.points import at_points

    count = 4000 if engine == "numeric" else 20_000
    xs = np.linspace(0.0, 1.0, count)
    graph = dcalc.parse_program("a = x^2; b = y^2; c = [1, 2]; return b, a, c")
    result = at_points(engine, graph, {"x": xs, "y": np.array([3.0])}, memory=2**18 if engine == "numeric" else 2**20, workers=2)
    np.testing.assert_array_equal(result.values[0], np.full(count, 9.0))
    np.testing.assert_array_equal(result.values[1], xs**2)
    np.testing.assert_array_equal(result.values[2], np.broadcast_to([[1.0], [2.0]], (2, count)))
    np.testing.assert_allclose(result.jacobian[("a", "x")], 2 * xs, rtol=1e-9, atol=1e-9)


def test_projections_at_many_points_cover_every_chunk():
    from dcalc.points import at_points

    count = 20_000
    xs = np.random.default_rng(2).uniform(size=(3, count))
    graph = dcalc.parse_program("f = sum(x*x)", shapes={"x": (3,)})
    directions = {"x": np.eye(3)[:, :2]}
    result = at_points("forward", graph, {"x": xs}, memory=2**20, workers=2, directions=directions)
    assert result.projections["f"].shape == (2, count)
    np.testing.assert_allclose(result.projections["f"], 2 * xs[:2], rtol=1e-15)


def test_a_forward_trace_records_every_direction_whatever_the_memory_budget():
    from dcalc.engines.forward import forward

    graph = dcalc.parse_program("f = sum(x * x)", shapes={"x": (40,)})
    x = np.linspace(1.0, 2.0, 40)
    record = []
    result = forward(graph, {"x": x}, record=record, memory=4096)  # chunks of a few directions without a record
    tangents = {node.index: tangent for node, _, tangent in record}
    output = graph.outputs[0]
    np.testing.assert_allclose(np.reshape(tangents[output.index], -1), 2 * x)
    np.testing.assert_allclose(result.jacobian[("f", "x")], 2 * x)


@pytest.mark.parametrize("order", [1, -1])
def test_chunked_points_report_what_the_whole_batch_does(order):
    """The points near sqrt's edge need smaller steps (more evaluations); the report
    says so whichever chunk they fall in, and the time is the whole run's."""
    from dcalc.points import at_points

    graph = dcalc.parse_program("sqrt(x) + x^2")
    x = np.concatenate([np.full(8, 2.0), np.full(8, 1e-12)])[::order].copy()
    whole = run_engine("numeric", graph, {"x": x}, batch_ndim=1)
    chunked = at_points("numeric", graph, {"x": x}, memory=3000, workers=1)  # chunks of a few points
    assert chunked.details == whole.details and chunked.details["evaluations"] > 13
    assert at_points("reverse", graph, {"x": np.linspace(1, 2, 20_000)}, memory=2**20).seconds > 0


def test_temporaries_whose_lives_do_not_overlap_share_an_array():
    """Reverse mode over points keeps, between runs, one array for several temporaries:
    ln(x1) + x1 x2 - sin(x2) and its gradient have six temporaries, never more than
    three alive at once."""
    from dcalc.engines.staged import schedule_of, stage
    from dcalc.evaluation import kept_bytes, release_buffers

    graph = dcalc.parse_program("ln(x1)+x1*x2-sin(x2)")
    count = 10_000
    rng = np.random.default_rng(3)
    values = {"x1": rng.uniform(0.5, 2.0, count), "x2": rng.uniform(-3.0, 3.0, count)}
    outputs, wrt = graph.outputs, graph.inputs
    schedule = schedule_of(stage(graph, outputs[0], wrt), np, 1)
    release_buffers()
    first = run_engine("reverse", graph, values, batch_ndim=1)
    live = 3  # ln(x1), x1 x2 and sin(x2), before the first sum
    assert kept_bytes() == live * ITEM_BYTES * count < len(schedule.reusable) * ITEM_BYTES * count
    again = run_engine("reverse", graph, values, batch_ndim=1)
    for key, block in first.jacobian.items():
        np.testing.assert_array_equal(again.jacobian[key], block)
    release_buffers()
    assert kept_bytes() == 0
