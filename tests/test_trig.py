"""sin and cos of large arrays through tan (dcalc.trig): within a few units in the last
place of the C library's everywhere, and NumPy's own where the formulas would not pay.

The formulas are tested directly (sin_by_tan, cos_by_tan), so they are checked on
every machine, SIMD tan or not."""

import warnings

import numpy as np
import pytest

from dcalc import primitives, trig

# The primitive table's impls: through tan where trig.worth_it says so, else NumPy's.
SIN, COS = primitives.sin.impl, primitives.cos.impl

# Ours are within 3.9 ulp of the true value (module docstring), the C library's within 0.51.
ULPS = 4.5


def ulps_apart(ours, reference):
    """|ours - reference| in units of the reference's last place."""
    return np.abs(ours - reference) / np.spacing(np.abs(reference))


def arguments():
    rng = np.random.default_rng(11)
    k = np.arange(-2000, 2001, dtype=float)
    multiples = np.concatenate([k * (np.pi / 4), k * (np.pi / 2), k * np.pi])
    tiny = 10.0 ** rng.uniform(-307, -5, 2000) * rng.choice([-1.0, 1.0], 2000)
    return np.concatenate(
        [
            rng.uniform(-10, 10, 100_000),
            multiples,
            np.nextafter(multiples, np.inf),
            np.nextafter(multiples, -np.inf),
            tiny,
            10.0 ** rng.uniform(5, 300, 2000) * rng.choice([-1.0, 1.0], 2000),  # tan reduces these exactly
            [0.0, -0.0, 5e-324, -5e-324, 1.5e-323, 2.2250738585072014e-308, 1e-8, np.pi, -np.pi / 2],
        ]
    )


@pytest.mark.parametrize("ours, theirs", [(trig.sin_by_tan, np.sin), (trig.cos_by_tan, np.cos)])
def test_within_a_few_units_in_the_last_place_everywhere(ours, theirs):
    x = arguments()
    got, expected = ours(x), theirs(x)
    apart = ulps_apart(got, expected)
    worst = int(np.argmax(apart))
    assert apart[worst] <= ULPS, f"{ours.__name__}({x[worst]!r}) = {got[worst]!r}, the C library's {expected[worst]!r}"
    assert np.median(apart) < 0.5  # most are the C library's own


def test_beside_the_zeros_the_digits_are_kept():
    """Where sin or cos passes through 0, the value is as small as it should be, to
    every digit: cos(pi/2) is 6.1e-17, not a rounding of 1 - t^2."""
    k = np.arange(1, 1001, dtype=float)
    for ours, theirs, x in ((trig.cos_by_tan, np.cos, (k - 0.5) * np.pi), (trig.sin_by_tan, np.sin, k * np.pi)):
        got, expected = ours(x), theirs(x)
        assert np.all(np.abs(expected) < 1e-12)
        assert np.max(ulps_apart(got, expected)) <= ULPS


def test_signs_and_specials():
    x = np.array([0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 inside cos is settled, not warned about
        cos = trig.cos_by_tan(x[[0, 1, 2, 3, 6]])
        sin = trig.sin_by_tan(x[[0, 1, 2, 3, 6]])
    np.testing.assert_array_equal(cos, [1.0, 1.0, 1.0, 1.0, np.nan])
    np.testing.assert_array_equal(sin[:2], [0.0, -0.0])
    assert np.signbit(sin[1]) and not np.signbit(sin[0])
    assert np.all(np.abs(sin[2:4]) <= 5e-324) and np.isnan(sin[4])
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(trig.sin_by_tan(x[4:6]))) and np.all(np.isnan(trig.cos_by_tan(x[4:6])))


def test_written_into_the_array_given():
    x = np.random.default_rng(3).uniform(-4, 4, 5000)
    for ours, theirs in ((trig.sin_by_tan, np.sin), (trig.cos_by_tan, np.cos)):
        out = np.full(5000, 7.0)
        assert ours(x, out) is out
        assert np.max(ulps_apart(out, theirs(x))) <= ULPS
    np.testing.assert_array_equal(x, np.random.default_rng(3).uniform(-4, 4, 5000))  # the argument untouched


def test_numpy_answers_where_tan_would_not_pay(monkeypatch):
    """Small arrays, other dtypes, an array written into itself, and machines whose tan
    is no SIMD code get NumPy's own sin and cos, bit for bit."""
    monkeypatch.setattr(trig, "_simd_tan", True)  # as on a machine where tan would pay
    rng = np.random.default_rng(4)
    large = rng.uniform(-3, 3, trig.SMALLEST)
    cases = [
        rng.uniform(-3, 3, trig.SMALLEST - 1),
        large.astype(np.float32),
        large + 0.5j,
        2.0,
    ]
    for x in cases:
        np.testing.assert_array_equal(SIN(np, x), np.sin(x))
        np.testing.assert_array_equal(COS(np, x), np.cos(x))
    itself = large.copy()
    np.testing.assert_array_equal(COS(np, itself, out=itself), np.cos(large))
    monkeypatch.setattr(trig, "_simd_tan", False)
    np.testing.assert_array_equal(SIN(np, large), np.sin(large))


def test_large_arrays_go_through_tan_where_it_is_simd_code(monkeypatch):
    monkeypatch.setattr(trig, "_simd_tan", True)
    x = np.random.default_rng(5).uniform(-3, 3, trig.SMALLEST)
    np.testing.assert_array_equal(SIN(np, x), trig.sin_by_tan(x))
    np.testing.assert_array_equal(COS(np, x), trig.cos_by_tan(x))
    out = np.empty_like(x)
    assert COS(np, x, out=out) is out


def test_the_engines_over_many_points_agree_with_numpy():
    """sin and cos in a graph (and in its derivatives) over a batch of points."""
    import dcalc
    from dcalc.engines import run_engine

    x = np.random.default_rng(6).uniform(-20, 20, 10_000)
    graph = dcalc.parse_program("y = sin(x) * cos(x)")
    for engine in ("reverse", "forward", "symbolic"):
        result = run_engine(engine, graph, {"x": x}, batch_ndim=1)
        np.testing.assert_allclose(result.values[0], np.sin(x) * np.cos(x), rtol=1e-15 * 8, atol=1e-16 * 4)
        np.testing.assert_allclose(result.jacobian[("y", "x")], np.cos(x) ** 2 - np.sin(x) ** 2, rtol=0, atol=1e-15)


def test_threads_and_shapes_do_not_share_scratch():
    """Threads running at once, and shapes taking turns, get the values they would alone."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(8)
    xs = [rng.uniform(-9, 9, size) for size in (3000, 5000, (40, 100), 3000)] * 4
    expected = [(np.sin(x), np.cos(x)) for x in xs]

    def both(x):
        return trig.sin_by_tan(x), trig.cos_by_tan(x)

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(both, xs))
    for (sin, cos), (want_sin, want_cos) in zip(found, expected):
        assert np.max(ulps_apart(sin, want_sin)) <= ULPS and np.max(ulps_apart(cos, want_cos)) <= ULPS


def test_an_out_larger_than_the_argument_takes_it_broadcast():
    """As NumPy's ufuncs do: reverse mode writes a shared vector's cos into an array
    with the points' axis (y = sum(sin(x)) + t, x the same at every point)."""
    import dcalc
    from dcalc.points import at_points

    rng = np.random.default_rng(9)
    x = rng.uniform(-3, 3, (trig.SMALLEST, 1))
    out = np.empty((trig.SMALLEST, 7))
    np.testing.assert_array_equal(COS(np, x, out=out), np.cos(np.broadcast_to(x, out.shape)))
    graph = dcalc.parse_program("y = sum(sin(x)) + t", shapes={"x": (trig.SMALLEST,)})
    result = at_points("reverse", graph, {"x": x, "t": rng.uniform(0, 1, 2_000)})
    gradient = np.broadcast_to(result.jacobian[("y", "x")], (trig.SMALLEST, 2_000))
    assert np.max(ulps_apart(gradient, np.cos(x))) <= ULPS


@pytest.mark.parametrize("text", ["y = sin(x) + cos(x)", "y = cos(x) * 3 + sin(x)"])
def test_a_cos_beside_the_sin_of_the_same_argument_takes_its_sine(monkeypatch, text):
    """Where a schedule computes sin x and cos x (every gradient through sin or cos
    does), sin comes first and cos x is sin x / tan x from it: the numbers cos_by_tan
    gives, for the price of one tangent and a division. Small arrays get NumPy's."""
    import dcalc
    from dcalc.evaluation import compile_graph, run_schedule

    monkeypatch.setattr(trig, "_simd_tan", True)
    graph = dcalc.parse_program(text)
    schedule = compile_graph(graph, batch_ndim=1)
    ops = [schedule.nodes[slot].op for slot, _, _ in schedule.steps]  # in the order they run
    assert ops.index("sin") < ops.index("cos")
    # The slots keep the program's order, which traces show.
    written = [node.op for node in schedule.nodes if node.op in ("sin", "cos")]
    assert written == sorted(written, key=text.index)
    _, function, operands = schedule.steps[ops.index("cos")]
    assert [schedule.nodes[slot].op for slot in operands] == ["input", "sin"]
    rng = np.random.default_rng(10)
    for size, cos in ((trig.SMALLEST, trig.cos_by_tan), (trig.SMALLEST - 1, np.cos)):
        x = rng.uniform(-30, 30, size)
        slots = run_schedule(schedule, {"x": x})
        np.testing.assert_array_equal(slots[schedule.steps[ops.index("cos")][0]], cos(x))
