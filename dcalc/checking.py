"""Gradient checking: sample files (.dcalc), their checks, and updating goldens.

A sample file names a function, check points, optional goldens (expected value
and partials) and claims (hand-derived derivatives). Each point gives checks:

- engines: the exact engines (forward, reverse, symbolic) agree to rounding,
  with a limit scaled by the program's length; the numeric engine agrees within
  its own error estimate. No tolerance is guessed.
- goldens: ``value = ...`` and ``d/dx = ...`` within the file's tolerance
  (default relative 1e-9).
- claims: each ``claim d/dx = formula`` at the point, against reverse mode.
Claims are also checked at ``random`` seeded points near the listed ones.

A point where an op sits at its kink (abs at 0, max at a tie) is reported as
"not differentiable here" with both one-sided derivatives; a point where a value
or derivative is not finite as "not finite" with the node where it arose.
Neither is a pass or a FAIL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DcalcError, InputError, Span, UnknownNameError, ZeroTimesInfinityError, counted, suggest
from .parser import LEAVES

if TYPE_CHECKING:
    from lark import Tree

PASS, FAIL, KINK, NONFINITE, ERROR = "pass", "FAIL", "not differentiable here", "not finite", "error"
EXACT_ENGINES = ("forward", "reverse", "symbolic")
DEFAULT_ENGINES = ("reverse", "forward", "symbolic", "numeric")
DEFAULT_RELATIVE = 1e-9
EPS = float(np.finfo(float).eps)
# Exact engines differ by rounding: a few ulps per operation along the path.
ULPS_PER_OPERATION = 16
EXCLUDED_FOLDER = "failing"  # folders found by recursion with this name are not checked


# ---- the sample file ---------------------------------------------------------------------


@dataclass
class Expectation:
    kind: str  # "value" or "partial"
    wrt: str | None  # the input, for a partial
    output: str | None  # which output, when there are several
    value: Any
    span: Span  # of the expected value's text, for --update
    line: int


@dataclass
class Point:
    name: str
    line: int
    values: dict[str, np.ndarray]
    expectations: list[Expectation] = field(default_factory=list)
    tolerance: dict[str, float] = field(default_factory=dict)
    span: Span | None = None


@dataclass
class Claim:
    wrt: str
    output: str | None
    tree: Any
    text: str
    line: int
    span: Span


@dataclass
class Sample:
    path: str
    text: str
    program: Tree | None = None
    function_line: int = 1
    tolerance: dict[str, float] = field(default_factory=lambda: {"rel": DEFAULT_RELATIVE, "abs": 0.0})
    engines: tuple[str, ...] = DEFAULT_ENGINES
    claims: list[Claim] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)


def _span(text: str, origin: str, item) -> Span:
    if isinstance(item, str):  # a token
        return Span(text, item.start_pos, item.end_pos, item.line, item.column, origin)
    meta = item.meta
    return Span(text, meta.start_pos, meta.end_pos, meta.line, meta.column, origin)


def read_sample(path: str | Path, allow_outside: bool = False) -> Sample:
    """Parse a .dcalc file into a Sample (syntax and meaning errors carry path and line)."""
    path = Path(path)
    origin = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {origin}: {error.strerror}") from None
    from .files import note_read

    note_read(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{origin} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from None
    return parse_sample(text, origin, path.resolve().parent, allow_outside)


def parse_sample(text: str, origin: str, base: Path, allow_outside: bool = False) -> Sample:
    """A Sample from the text of a .dcalc file; data files are read relative to ``base``."""
    from .parser import parse, runtime

    tree = parse(text, origin, start="sample")
    sample = Sample(origin, text)
    current: Point | None = None
    for directive in tree.children:
        if isinstance(directive, LEAVES):
            continue
        kind = directive.data
        where = _span(text, origin, directive)
        if kind in ("function_block", "function_line"):
            if sample.program is not None:
                raise DcalcError("a sample file has one function; this is a second", where)
            body = directive.children[1]
            if kind == "function_block":
                sample.program = body
            else:  # a one-line function: made into the tree of a one-line program
                tree_class = runtime("sample").module.Tree
                meta = None if isinstance(body, str) else body.meta  # a lone name or number is a token
                sample.program = tree_class("program", [tree_class("expr_stmt", [body], meta)], meta)
            sample.function_line = where.line
        elif kind == "tolerance":
            settings = _tolerance(directive, text, origin)
            (current.tolerance if current is not None else sample.tolerance).update(settings)
        elif kind == "engines":
            names = tuple(str(token) for token in directive.children[1:])
            for name in names:
                if name not in DEFAULT_ENGINES:
                    raise UnknownNameError(f"unknown engine {name!r}", where, hint=suggest(name, DEFAULT_ENGINES))
            sample.engines = names
        elif kind == "claim":
            _, partial, formula = directive.children
            wrt = str(partial)[3:]
            sample.claims.append(Claim(wrt, None, formula, _span(text, origin, formula).snippet, where.line, where))
        elif kind == "point":
            _, name, *items = directive.children
            from .values import Constructors, values_from_items

            earlier = next((point for point in sample.points if name is not None and point.name == str(name)), None)
            if earlier is not None:  # results and --update name points: two of a name would be confused
                raise DcalcError(f"the point {str(name)!r} is named twice (first on line {earlier.line})", where, hint="give each point its own name")

            # randn(...) in a sample draws from a generator seeded per point, so files check the same way every time.
            constructors = Constructors(len(sample.points))
            values = values_from_items(items, text, origin, base_dir=base, allow_outside=allow_outside, constructors=constructors)
            current = Point(str(name) if name is not None else f"point {len(sample.points) + 1}", where.line, values, span=where)
            sample.points.append(current)
        elif kind in ("expect_value", "expect_partial"):
            if current is None:
                raise DcalcError("an expected value needs a point before it: an 'at NAME: x=...' line", where)
            head, output, value_tree = directive.children
            from .values import value_of

            value_span = _span(text, origin, value_tree)
            value = value_of(value_tree, text, origin, base_dir=base, allow_outside=allow_outside)
            wrt = None if kind == "expect_value" else str(head)[3:]
            current.expectations.append(
                Expectation("value" if wrt is None else "partial", wrt, str(output) if output else None, value, value_span, where.line)
            )
    if sample.program is None:
        raise DcalcError(f"{origin} has no function: add a line 'function: <expression>' or a 'function {{ ... }}' block")
    if not sample.points:
        raise DcalcError(f"{origin} has no check point: add a line such as 'at start: x=1'")
    return sample


def _tolerance(directive, text, origin) -> dict[str, float]:
    from .values import value_of

    settings = {}
    for setting in directive.children[1:]:
        name, value_tree = setting.children
        if str(name) not in ("rel", "abs"):
            raise UnknownNameError(f"unknown tolerance {str(name)!r}: use rel= and abs=", _span(text, origin, name))
        value = float(value_of(value_tree, text, origin))
        if not value >= 0:
            raise InputError(f"a tolerance must be a number >= 0, not {value}", _span(text, origin, value_tree))
        settings[str(name)] = value
    return settings


# ---- results ------------------------------------------------------------------------------


@dataclass
class CheckResult:
    path: str
    line: int
    name: str
    status: str
    worst: float | None = None  # the largest difference found
    limit: float | None = None  # what it was judged against
    message: str = ""
    seconds: float = 0.0

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class FileReport:
    path: str
    results: list[CheckResult] = field(default_factory=list)
    error: DcalcError | None = None
    changes: list[str] = field(default_factory=list)  # --update: what was rewritten


# ---- running the checks ---------------------------------------------------------------------


def check_file(
    path: str | Path, random_points: int = 0, seed: int = 0, update: bool = False, allow_outside: bool = False, strict: bool = False
) -> FileReport:
    """Every check of one sample file; a malformed file is reported, not raised. With
    ``strict``, a point where a value or derivative is not finite fails."""
    report = FileReport(str(path))
    try:
        sample = read_sample(path, allow_outside)
        replacements = []
        for point in sample.points:
            report.results.extend(_check_point(sample, point, replacements if update else None, strict))
        for claim in sample.claims:
            if random_points > 0:
                report.results.append(_check_claim_randomly(sample, claim, random_points, seed))
        if update:
            report.changes = _rewrite(sample, replacements)
            if report.changes:  # judge the file as it now stands
                report.results = check_file(path, random_points, seed, False, allow_outside, strict).results
    except DcalcError as error:
        report.error = error
    return report


def function_graph(sample: Sample, values: dict):
    """The graph of the sample's function, built with the names and shapes of ``values``."""
    from .program import build

    return build(sample.program, sample.text, sample.path, given=values.keys(), shapes={name: np.shape(value) for name, value in values.items()})


def _graph_for(sample: Sample, point: Point):
    """The graph at ``point``, its bound values, and what is wrong with the point's
    names (a value for a name the function does not read)."""
    from .evaluation import check_inputs

    graph = function_graph(sample, point.values)
    values, warnings = check_inputs(graph, point.values)
    return graph, values, warnings


def _exact_limit(graph, scale_by: int | None = None) -> float:
    """Rounding allowance for exact engines: ulps per operation on the path."""
    operations = len([node for node in graph.ancestors(graph.outputs) if not (node.is_input or node.is_const)])
    return ULPS_PER_OPERATION * EPS * max(operations, 1)


def _tolerance_of(sample: Sample, point: Point) -> tuple[float, float]:
    merged = {**sample.tolerance, **point.tolerance}
    return merged.get("rel", DEFAULT_RELATIVE), merged.get("abs", 0.0)


def _check_point(sample: Sample, point: Point, replacements: list | None, strict: bool = False) -> list[CheckResult]:
    from .compare import beyond_estimate, engine_options, max_rel_diff
    from .engines import run_engine

    start = time.perf_counter()
    results: list[CheckResult] = []
    label = point.name

    def result(name, status, worst=None, limit=None, message="", line=None):
        results.append(CheckResult(sample.path, line or point.line, f"{label}: {name}", status, worst, limit, message, time.perf_counter() - start))

    try:
        graph, values, warnings = _graph_for(sample, point)
    except DcalcError as error:
        result("point", ERROR, message=error.render())
        return results
    for warning in warnings:  # a typo in a sample file is an error: the point is still checked
        result("point", ERROR, message=warning)
    engines = {}
    # The reference first: the others are compared with it, some along directions.
    first = "reverse" if "reverse" in sample.engines else sample.engines[0]
    shared: dict = {}
    for engine in sorted(sample.engines, key=lambda name: name != first):
        options = engine_options(graph, values, engine, cache=shared) if engines else {}
        try:
            engines[engine] = run_engine(engine, graph, values, **options)
        except DcalcError as error:
            result(f"{engine} engine", ERROR, message=error.message)
    if not engines:
        return results
    reference = next(iter(engines.values()))  # the first that ran: the reference, unless it failed
    special = point_status(graph, values, derivatives=reference)
    if special is not None and strict and special.status == NONFINITE:
        special = Special(FAIL, special.message + " (an error with --strict)")

    # Engines agree.
    if special is not None:
        result("engines agree", special.status, message=special.message)
    elif len(engines) > 1:
        limit = _exact_limit(graph)
        worst, problems = 0.0, []
        for name, found in engines.items():
            if found is reference:
                continue
            if name == "numeric":
                excess = beyond_estimate(reference, found)
                if excess > 0:
                    problems.append(f"numeric is off by {excess:.3g} times its own error estimate")
                continue
            difference = max_rel_diff(reference, found)
            worst = max(worst, difference)
            if difference > limit:
                problems.append(f"{name} differs from {reference.engine} by {difference:.3g} (relative; limit {limit:.3g})")
        notes = []
        along = [name for name, found in engines.items() if found.projections is not None]
        if along:  # inputs with very many components: whole Jacobians would cost too much
            count = engines[along[0]].direction_count
            notes.append(f"{' and '.join(along)} checked along {count} random directions")
        result("engines agree", FAIL if problems else PASS, worst, limit, "; ".join(problems + notes))

    # Goldens.
    rel, absolute = _tolerance_of(sample, point)
    for expectation in point.expectations:
        output = expectation.output or reference.output_names[0]
        if output not in reference.output_names:
            result(_expectation_name(expectation), ERROR, message=f"no output named {output!r}", line=expectation.line)
            continue
        if expectation.kind == "value":
            got = reference.values[reference.output_names.index(output)]
        else:
            key = (output, expectation.wrt)
            if key not in reference.jacobian:
                hint = suggest(expectation.wrt, reference.input_names)
                result(_expectation_name(expectation), ERROR, message=f"{expectation.wrt!r} is not an input" + (f"; {hint}" if hint else ""), line=expectation.line)
                continue
            got = reference.jacobian[key]
        if replacements is not None:
            replacements.append((expectation, np.asarray(got, dtype=float)))
        if expectation.kind == "partial" and special is not None and special.spoils(output, expectation.wrt):
            result(_expectation_name(expectation), special.status, message=special.message, line=expectation.line)
            continue
        status, worst, limit, message = _judge(np.asarray(got, dtype=float), np.asarray(expectation.value, dtype=float), rel, absolute)
        result(_expectation_name(expectation), status, worst, limit, message, line=expectation.line)

    # Claims at this point.
    for claim in sample.claims:
        name = f"claim d/d{claim.wrt}"
        if special is not None and special.spoils(claim.output or reference.output_names[0], claim.wrt):
            result(name, special.status, message=special.message, line=claim.line)
            continue
        try:
            status, worst, limit, message = _judge_claim(sample, claim, graph, values, reference, rel)
        except DcalcError as error:
            result(name, ERROR, message=error.render(), line=claim.line)
            continue
        result(name, status, worst, limit, message, line=claim.line)
    return results


def _expectation_name(expectation: Expectation) -> str:
    base = "value" if expectation.kind == "value" else f"d/d{expectation.wrt}"
    return f"{base}[{expectation.output}]" if expectation.output else base


def _judge(got: np.ndarray, expected: np.ndarray, rel: float, absolute: float):
    """A golden: |got - expected| <= rel |expected| + abs, elementwise."""
    from .engines import same_values

    if got.shape != expected.shape and expected.size != 1:
        return FAIL, None, None, f"expected shape {expected.shape}, got {got.shape}"
    expected = np.broadcast_to(expected, got.shape)
    with np.errstate(invalid="ignore"):
        # The same number, or the same kind of not-a-number (nan for nan, inf for inf), is no difference.
        same = same_values(got, expected)
        difference = np.where(same, 0.0, np.abs(got - expected))
        limit = rel * np.abs(expected) + absolute
        # Relative where the expected value is not 0; absolute where it is.
        relative = np.where(same, 0.0, np.where(expected != 0, difference / np.where(expected != 0, np.abs(expected), 1.0), difference))
    worst = float(np.max(relative)) if relative.size else 0.0
    if np.all(same | (difference <= limit)):
        return PASS, worst, rel, ""
    index, where = _farthest(difference, limit)
    measure = "relative error" if expected[index] != 0 else "absolute difference"
    return FAIL, worst, rel, (
        f"expected {_number(expected[index])}, got {_number(got[index])}{where} "
        f"({measure} {float(relative[index]):.3g}, tolerance rel {rel:g}" + (f", abs {absolute:g})" if absolute else ")")
    )


def _farthest(difference, limit) -> tuple[tuple, str]:
    """The index where ``difference`` is farthest beyond ``limit`` (NaN and infinity the
    farthest), and " at index [i, j]" naming it ("" for a number)."""
    if not np.ndim(difference):
        return (), ""
    with np.errstate(invalid="ignore"):
        excess = np.where(np.isfinite(difference), difference - limit, np.inf)
    index = np.unravel_index(int(np.argmax(excess)), np.shape(difference))
    return index, f" at index {[int(k) for k in index]}"


def _number(value) -> str:
    from .printer import format_number

    return format_number(value)


def _claim_node(sample: Sample, claim: Claim, graph):
    """The claimed formula built over the function's inputs."""
    from .program import _ProgramBuilder

    if claim.wrt not in graph.input_names:
        raise UnknownNameError(
            f"the claim is about {claim.wrt!r}, which is not an input (inputs: {', '.join(graph.input_names)})",
            claim.span,
            hint=suggest(claim.wrt, graph.input_names),
        )
    builder = _ProgramBuilder(sample.text, sample.path, given=graph.input_names, shapes={node.params["name"]: node.shape for node in graph.inputs})
    builder.allow_new_inputs = True
    node = builder.expression.build(claim.tree)
    unknown = [name for name in builder.graph.input_names if name not in graph.input_names]
    if unknown:
        raise UnknownNameError(f"the claim uses {unknown[0]!r}, which is not an input of the function", claim.span, hint=suggest(unknown[0], graph.input_names))
    return builder.graph, node


def _judge_claim(sample: Sample, claim: Claim, graph, values, reference, rel: float):
    from .evaluation import evaluate

    claim_graph, node = _claim_node(sample, claim, graph)
    (claimed,) = evaluate(claim_graph, {name: values[name] for name in claim_graph.input_names}, outputs=[node])
    output = claim.output or reference.output_names[0]
    truth = np.asarray(reference.jacobian[(output, claim.wrt)], dtype=float)
    claimed = np.asarray(claimed, dtype=float)
    if claimed.ndim and claimed.shape != truth.shape:
        truth = _claimed_block(claim, truth, claimed.shape, np.shape(reference.values[reference.output_names.index(output)]), np.shape(values[claim.wrt]))
        if isinstance(truth, str):
            return FAIL, None, rel, truth
    claimed = np.broadcast_to(claimed, truth.shape)
    scale = max((float(np.max(np.abs(block), initial=0.0)) for block in reference.gradient(output).values()), default=0.0)
    difference = np.abs(claimed - truth)
    # Relative to the partial itself, with a floor of rounding in the gradient's own scale.
    limit = rel * np.maximum(np.abs(truth), np.abs(claimed)) + 1e3 * EPS * scale
    relative = difference / np.maximum(np.abs(truth), 1e-300)
    worst = float(np.max(relative)) if relative.size else 0.0
    if np.all(difference <= limit) and np.all(np.isfinite(claimed)):
        return PASS, worst, rel, ""
    index, where = _farthest(difference, limit)
    point = ", ".join(f"{name}={_number(value) if np.ndim(value) == 0 else _short_array(value)}" for name, value in values.items())
    return FAIL, worst, rel, (
        f"claimed d/d{claim.wrt} = {claim.text} gives {_number(claimed[index])}{where} at {point}, "
        f"but the derivative is {_number(truth[index])} (relative error {float(relative[index]):.3g})"
    )


def _short_array(value) -> str:
    from .render import format_value

    return format_value(value, limit=6, one_line=True)


def _claimed_block(claim: Claim, truth: np.ndarray, shape: tuple, output_shape: tuple, input_shape: tuple):
    """What a claim of ``shape`` is compared with, where that is not the whole block
    (output shape + input shape): for an elementwise function (output and input of
    the claim's shape), the diagonal, d f_i/d x_i, once every other entry is 0; or a
    message saying why the claim cannot be compared."""
    if shape == output_shape == input_shape:
        size = int(np.prod(shape))
        square = truth.reshape(size, size)
        diagonal = np.diagonal(square).copy()
        off = square - np.diag(diagonal)
        if np.all(off == 0):
            return diagonal.reshape(shape)
        i, j = np.unravel_index(int(np.argmax(np.abs(off))), off.shape)
        return (
            f"claimed d/d{claim.wrt} = {claim.text} has the shape of {claim.wrt}, read as the diagonal d f[i]/d {claim.wrt}[i], "
            f"but f is not elementwise in {claim.wrt}: d f[{i}]/d {claim.wrt}[{j}] is {_number(off[i, j])}; claim the whole "
            f"Jacobian, shape {tuple(truth.shape)}"
        )
    return f"claimed d/d{claim.wrt} = {claim.text} has shape {shape}, but the derivative has shape {tuple(truth.shape)} (output {output_shape} by {claim.wrt} {input_shape})"


@dataclass(frozen=True)
class Special:
    """A point where some partials cannot be judged: at a kink, or where a value or
    derivative is not finite."""

    status: str  # KINK or NONFINITE
    message: str
    partials: set | None = None  # the (output, input) partials it spoils; None: all of them

    def spoils(self, output: str, wrt: str) -> bool:
        return self.partials is None or (output, wrt) in self.partials


def point_status(graph, values, derivatives=None) -> Special | None:
    """What spoils this point, if anything: a kink (with the partials whose one-sided
    derivatives differ, or that ``derivatives`` do not match), or a value (or, unless
    the ``derivatives`` an engine found are all finite, a derivative) that is not finite."""
    from .diagnose import kinked_partials, point_problem
    from .evaluation import evaluate_all

    trace = evaluate_all(graph, values)  # for both checks
    kink = kinked_partials(graph, values, trace, derivatives)
    if kink is not None:
        return Special(KINK, *kink)
    problem = point_problem(graph, values, derivatives=derivatives, trace=trace)
    if problem is not None:
        where = f" ({problem.span.snippet}, line {problem.span.line})" if problem.span is not None else ""
        # 0·∞ taken as 0: the chain rule cannot say whether the derivative is there
        if isinstance(problem, ZeroTimesInfinityError):
            from .diagnose import steep_partials

            touched = derivatives.zero_times_infinity_partials
            return Special(KINK, problem.message + where, steep_partials(graph, values, touched if touched is not None else derivatives.jacobian, trace))
        return Special(NONFINITE, problem.message + where)
    return None


# ---- claims at random points ------------------------------------------------------------------


def _check_claim_randomly(sample: Sample, claim: Claim, count: int, seed: int) -> CheckResult:
    """The claim at ``count`` seeded random points near the listed ones, inside the
    function's domain (points where the function or its gradient is not finite, or
    that sit at a kink, are drawn again)."""
    from .engines import all_finite
    from .engines.reverse import reverse

    start = time.perf_counter()
    name = f"claim d/d{claim.wrt} at {count} random points"
    rng = np.random.default_rng(seed)
    rel, _ = _tolerance_of(sample, sample.points[0])
    checked, attempts, worst = 0, 0, 0.0
    while checked < count and attempts < 20 * count:
        attempts += 1
        base = sample.points[attempts % len(sample.points)]
        values = {key: value + rng.uniform(-1, 1, size=value.shape) * 0.5 * np.maximum(np.abs(value), 1.0) for key, value in base.values.items()}
        try:
            graph, bound, _ = _graph_for(sample, Point(base.name, base.line, values))
            reference = reverse(graph, bound)
            if not all_finite(reference.jacobian.values()):
                continue
            if point_status(graph, bound, derivatives=reference) is not None:
                continue
            status, difference, _, message = _judge_claim(sample, claim, graph, bound, reference, rel)
        except DcalcError as error:
            return CheckResult(sample.path, claim.line, name, ERROR, message=error.render(), seconds=time.perf_counter() - start)
        worst = max(worst, difference or 0.0)
        if status == FAIL:
            return CheckResult(sample.path, claim.line, name, FAIL, difference, rel, f"at random point {checked + 1} of {count}: {message}", time.perf_counter() - start)
        checked += 1
    if checked < count:
        return CheckResult(sample.path, claim.line, name, ERROR, message=f"found only {checked} usable points in {attempts} draws", seconds=time.perf_counter() - start)
    return CheckResult(sample.path, claim.line, name, PASS, worst, rel, "", time.perf_counter() - start)


# ---- --update ------------------------------------------------------------------------------------


def format_golden(value: np.ndarray) -> str:
    """Full precision: what reads back as the same floats."""
    if value.ndim == 0:
        return _number(value)
    return "[" + ", ".join(format_golden(item) for item in value) + "]"


def _rewrite(sample: Sample, replacements: list) -> list[str]:
    """Put current values into the expected lines, leaving every other character alone."""
    text = sample.text
    changes = []
    for expectation, value in sorted(replacements, key=lambda pair: -pair[0].span.start):
        new = format_golden(value)
        old = expectation.span.snippet
        if old.startswith("@"):
            continue  # goldens kept in files are not rewritten
        try:
            same = np.array_equal(np.asarray(expectation.value, dtype=float), value)
        except ValueError:
            same = False
        if same:
            continue
        text = text[: expectation.span.start] + new + text[expectation.span.end :]
        changes.append(f"{sample.path}:{expectation.line}: {_expectation_name(expectation)} {old} -> {new}")
    if changes:
        from .files import atomic_write

        atomic_write(sample.path, text.encode("utf-8"), rewriting=True)
    return list(reversed(changes))


# ---- finding files -----------------------------------------------------------------------------------


def find_samples(paths) -> list[Path]:
    """The .dcalc files named, and those found in the folders named. Folders called
    'failing' met while recursing are skipped (name them to check them)."""
    found = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for candidate in sorted(path.rglob("*.dcalc")):
                relative = candidate.relative_to(path).parts[:-1]
                if EXCLUDED_FOLDER in relative:
                    continue
                found.append(candidate)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"no such file or folder: {given}")
    return found


def counts(results: list[CheckResult], errors: int = 0) -> dict[str, int]:
    """How many checks passed, failed, were skipped (a kink, a point not finite) or
    could not run (``errors``: files that could not be read, besides)."""
    by_status = {status: 0 for status in (PASS, FAIL, KINK, NONFINITE, ERROR)}
    for result in results:
        by_status[result.status] += 1
    return {"passed": by_status[PASS], "failed": by_status[FAIL], "skipped": by_status[KINK] + by_status[NONFINITE], "errors": by_status[ERROR] + errors}


def summary(results: list[CheckResult], errors: int = 0) -> str:
    """'3 passed, 1 failed, 2 skipped, 1 error' (the last two only where there are any)."""
    total = counts(results, errors)
    text = f"{total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        text += f", {total['skipped']} skipped"
    if total["errors"]:
        text += f", {counted(total['errors'], 'error')}"
    return text


def exit_status(reports: list[FileReport]) -> int:
    """0 all pass (kinks and non-finite points are reported, not failures), 1 a check
    failed, 2 a file or check could not be read or run."""
    results = [result for report in reports for result in report.results]
    if any(report.error is not None for report in reports) or any(result.status == ERROR for result in results):
        return 2
    if any(result.status == FAIL for result in results):
        return 1
    return 0
