"""The device path (--backend cupy): every engine on arrays that live elsewhere.

Without a GPU, the engines run on a stand-in array module whose arrays refuse, as
CuPy's do, to turn into NumPy arrays implicitly or to mix with them (see
standin_device.py): any NumPy call left in the device path fails here. Where CuPy
finds a GPU, the same comparisons run on it (tests at the end).
"""

import json

import numpy as np
import pytest

import dcalc
from dcalc.backend import result_to_host, to_device
from dcalc.engines import ENGINE_NAMES, run_engine
from standin_device import standin

CASES = [
    ("ln(x1)+x1*x2-sin(x2)", {"x1": 2.0, "x2": 5.0}),
    ("e = y - tanh(A @ x + b); L = 0.5*sum(e^2)", {"A": np.arange(12.0).reshape(3, 4) / 10, "x": np.linspace(-1, 1, 4), "b": np.ones(3), "y": np.zeros(3)}),
    ("softmax(x) * c + logsumexp(x)", {"x": np.linspace(0, 1, 4), "c": 2.0}),
    ("sum(prod(A, 0) * x) + max(x) + x[1:3] @ x[0:2]", {"A": np.arange(12.0).reshape(3, 4) / 7, "x": np.linspace(-1, 1, 4)}),
    ("Y = W @ V + B; L = sum(Y * Y) + norm(outer(V[0], V[1]))", {"W": np.ones((3, 2)) / 2, "V": np.arange(8.0).reshape(2, 4) / 8, "B": np.ones((3, 1))}),
    ("f = [x, x*y, sqrt(y)]; return f", {"x": 0.5, "y": 0.0}),  # an infinite slope: the guarded rerun
]


def device_and_host(engine, text, values, xp):
    """Pairs (key, partial computed on xp's arrays, brought back; the same on NumPy)."""
    problem = dcalc.load(text, values)
    on_device = result_to_host(run_engine(engine, problem.graph, to_device(problem.values, xp), xp=xp))
    on_host = run_engine(engine, problem.graph, problem.values)
    return [(key, on_device.jacobian[key], block) for key, block in on_host.jacobian.items()]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("text, values", CASES, ids=[case[0] for case in CASES])
def test_every_engine_runs_on_device_arrays(engine, text, values):
    for key, got, block in device_and_host(engine, text, values, standin):
        assert isinstance(got, np.ndarray)
        if engine == "numeric":
            np.testing.assert_allclose(got, block, rtol=0, atol=0, equal_nan=True)  # the same steps, the same arithmetic
        else:
            np.testing.assert_allclose(got, block, rtol=1e-14, atol=1e-15, equal_nan=True)


def test_projections_batches_and_hessians_on_device_arrays():
    from dcalc.engines.numeric import exact_directions
    from dcalc.engines.second import hessian, hessian_vector

    text, values = CASES[1]
    problem = dcalc.load(text, values)
    device = to_device(problem.values, standin)
    directions = exact_directions(problem.graph, device, ["A", "x"], count=3)
    for engine in ("forward", "numeric"):
        along = result_to_host(run_engine(engine, problem.graph, device, wrt=["A", "x"], directions=directions, xp=standin))
        host = run_engine(engine, problem.graph, problem.values, wrt=["A", "x"], directions=directions)
        np.testing.assert_allclose(along.projections["L"], host.projections["L"], rtol=1e-14)
    for engine in ("forward", "symbolic", "numeric"):
        np.testing.assert_allclose(hessian(problem.graph, device, ["x", "b"], engine, xp=standin).matrix(), hessian(problem.graph, problem.values, ["x", "b"], engine).matrix(), rtol=1e-13, atol=1e-15)
    vector = {"x": np.ones(4)}
    np.testing.assert_allclose(hessian_vector(problem.graph, device, vector, ["x"], xp=standin)["x"], hessian_vector(problem.graph, problem.values, vector, ["x"])["x"], rtol=1e-14)


def test_many_points_on_device_arrays(tmp_path):
    from dcalc.points import read_points, run_batch

    rng = np.random.default_rng(1)
    path = tmp_path / "p.csv"
    np.savetxt(path, rng.uniform(0.5, 2, size=(500, 2)), delimiter=",", header="x1,x2", comments="")
    graph = dcalc.parse_program(CASES[0][0])
    host = run_batch(graph, read_points(str(path)), {}, ENGINE_NAMES)
    device = run_batch(graph, read_points(str(path)), {}, ENGINE_NAMES, xp=standin)
    assert device.workers == 1 and device.agrees
    for first, second in zip(host.quantities, device.quantities):
        assert (first.minimum, first.maximum, first.mean) == pytest.approx((second.minimum, second.maximum, second.mean), rel=1e-14)


def test_the_cli_runs_on_the_device(cli, monkeypatch):
    import dcalc.backend

    monkeypatch.setattr(dcalc.backend, "array_module", lambda name: standin if name == "cupy" else np)
    for command in (["grad"], ["jacobian"], ["hessian"], ["eval"]):
        host = cli(*command, "e = y - tanh(A @ x); L = sum(e^2)", "--at", "A=randn(3, 2), x=[1, 2], y=[0, 1, 0]", "--json")
        device = cli(*command, "e = y - tanh(A @ x); L = sum(e^2)", "--at", "A=randn(3, 2), x=[1, 2], y=[0, 1, 0]", "--json", "--backend", "cupy")
        assert device.exit_code == 0, device.output
        first, second = json.loads(host.stdout), json.loads(device.stdout)
        for engine in first.get("engines", {}):
            first["engines"][engine].pop("seconds"), second["engines"][engine].pop("seconds")
        assert first == second


def test_missing_cupy_is_a_clear_error(cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    result = cli("grad", "x^2", "--at", "x=3", "--backend", "cupy")
    assert result.exit_code == 2 and "--backend cupy needs CuPy, which is not installed" in result.stderr
    assert "pip install 'dcalc[gpu]'" in result.stderr and "Traceback" not in result.output


def _gpu() -> bool:
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:
        return False


on_gpu = pytest.mark.skipif(not _gpu(), reason="CuPy with a usable GPU is needed (pip install 'dcalc[gpu]' on a machine with one)")


@on_gpu
@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("text, values", CASES, ids=[case[0] for case in CASES])
def test_every_engine_on_the_gpu(engine, text, values):
    import cupy

    for key, got, block in device_and_host(engine, text, values, cupy):
        # CUDA's transcendental functions may round differently from the CPU's.
        tolerance = {"numeric": 1e-9}.get(engine, 1e-13)
        np.testing.assert_allclose(got, block, rtol=tolerance, atol=tolerance * 1e-2, equal_nan=True)


@on_gpu
def test_many_points_on_the_gpu(tmp_path):
    import cupy

    from dcalc.points import read_points, run_batch

    rng = np.random.default_rng(2)
    path = tmp_path / "p.npy"
    np.save(path, rng.uniform(0.5, 2, size=(100_000, 2)))
    graph = dcalc.parse_program(CASES[0][0])
    report = run_batch(graph, read_points(str(path), ["x1", "x2"]), {}, ENGINE_NAMES, xp=cupy)
    assert report.agrees and report.nonfinite == 0
