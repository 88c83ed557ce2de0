"""The computational graph: a Wengert list of nodes, built by one hash-consing builder.

A :class:`Graph` holds its nodes in the order they were made, which is a
topological order: every node's inputs come before it. Each node is
``(primitive, inputs, params)`` with an inferred shape and the source span it
came from. :meth:`Graph.apply` is the only way to make a node, and it returns the
existing node when the same ``(primitive, inputs, params)`` was made before, so
shared subexpressions exist once.

Nodes overload the arithmetic operators, and a :class:`Primitive` called on
nodes builds nodes while called on arrays it computes. That is what lets one
derivative rule serve the numeric engines (arrays in, arrays out) and the
symbolic engine (nodes in, nodes out).
"""

from __future__ import annotations

import functools
import gc
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import DcalcError, ShapeError, Span

Shape = tuple


@contextmanager
def gc_paused():
    """Pause Python's cycle collector. Parsing, building and compiling make millions of
    small objects and no garbage cycles, so its passes over the growing heap find
    nothing to free: on a 10^5-line program they took half of the parse time, and
    four fifths of compiling its gradient."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_starting = False


def pause_start_up() -> None:
    """Pause the cycle collector while a command starts. Importing NumPy, dcalc and
    the parser makes about 10^5 objects that live until exit, and each of the
    collector's passes walked them all again: 10 ms of a one-shot `dcalc grad`.
    The first parse ends the pause (end_start_up)."""
    global _starting
    _starting = True
    gc.disable()


def end_start_up() -> None:
    """Freeze what start-up made, so later passes skip it, and resume the collector."""
    global _starting
    if _starting:
        _starting = False
        gc.freeze()
        gc.enable()

# Printing precedences, loosest first; the grammar has the same order.
PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, PREC_ATOM = 1, 2, 3, 4, 5


def broadcast_shapes(shapes: Sequence[Shape], params: dict) -> Shape:
    """NumPy's broadcasting, as the shape rule of elementwise primitives."""
    first = shapes[0]
    if all(shape == first for shape in shapes):
        return first
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(shape) for shape in shapes)
        raise ShapeError(f"shapes {listed} do not broadcast together") from None


@dataclass(eq=False)
class Primitive:
    """One entry of the primitive table: everything dcalc knows about an op.

    ``impl(xp, *arrays, **params)`` evaluates it on arrays of the namespace
    ``xp`` (numpy or cupy). Arrays may carry trailing batch axes beyond the
    node's shape; impls address node axes from the front so those ride along.
    """

    name: str
    impl: Callable[..., Any] | None
    arity: int
    shape_rule: Callable[[Sequence[Shape], dict], Shape] = broadcast_shapes
    elementwise: bool = True
    commutative: bool = False
    # Whether the result is always a new array, never an operand or a view of one
    # (primitives.define sets it for ufuncs; for any other op, False is the safe guess).
    fresh: bool = False
    # Whether the impl takes ``out=`` (ufuncs, and fused impls of a few ufunc calls), and
    # whether the result may be written into an operand's array (one elementwise ufunc
    # call): primitives.define sets both from the impl.
    writes_into: bool = False
    in_place: bool = False
    # Arrays of its operand's size the impl makes besides its result (sin and cos
    # through tan: dcalc.trig), which the memory budget counts.
    scratch: int = 0
    # Derivative rules, one per argument. Elementwise ops give ``partials``:
    # ``partial(*args, out) -> d out / d arg`` (a number for a constant one: 0
    # means the derivative is zero, so tangents are skipped, not multiplied).
    # Other ops give ``jvp``: ``rule(tangent, *args, out=, node=)`` and ``vjp``:
    # ``rule(cotangent, *args, out=, node=)``. None: no rule for that argument.
    partials: tuple | None = None
    jvp: tuple | None = None
    vjp: tuple | None = None
    # Static parameters derived from the operands' shapes (e.g. their ranks), added
    # to the params when a node is built: ``prepare(shapes, params) -> params``.
    prepare: Callable[[Sequence[Shape], dict], dict] | None = None
    # The language: the name a program writes where it is not ``name`` (amax is max),
    # other names for it, and parameters given as trailing call arguments.
    called: str | None = None
    aliases: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    # Printing: an infix symbol, or a function name; LaTeX.
    infix: str | None = None
    precedence: int = PREC_ATOM
    # LaTeX: a function name (\sin, written \sin\left(x\right)), or a form with
    # {0}, {1} for the operands (\frac{{{0}}}{{{1}}}); operands of infix forms are
    # parenthesised as in plain text except at ``latex_bare`` positions, which the
    # form itself delimits. ``latex_precedence`` is the form's own binding.
    latex: str | None = None
    latex_form: str | Callable[[dict], str] | None = None  # a callable makes the form from the params
    latex_bare: tuple[int, ...] = ()
    latex_precedence: int | None = None
    # How the op's parameters are written as trailing call arguments, so printed
    # text parses back: ``written(params) -> ["(0,)"]``; None writes name=value.
    written: Callable[[dict], list[str]] | None = None
    # A text form other than a call, from the params: indexing is written x[0, :]
    # (``text_form(params) -> "{0}[0, :]"``; operands that are not atoms get parentheses).
    text_form: Callable[[dict], str] | None = None
    # Matrix notation, for derivatives of array programs (A x, ⊙, Aᵀ, f², Σ₁):
    # ``matrix_form(node, notation) -> printer.Form``, or None to write the node as
    # the language does. ``notation`` is a printer.MatrixNotation (Unicode or LaTeX).
    matrix_form: Callable[[Any, Any], Any] | None = None
    # Numerics and tests: where arguments may be sampled, a NumPy reference, and
    # whether it is complex-analytic (so the complex-step method may go through it).
    domain: tuple = ()
    reference: Callable | None = None
    complex_analytic: bool = True
    # A sum of terms (sum, mean, sum_to, matmul, logsumexp): it rounds like its terms,
    # which may be far larger than it is; the op on its operands' absolute values bounds them.
    sums: bool = False
    # An op that only reshapes, spreads or sums to a shape (reshape, broadcast_to,
    # sum_to): to the shape its operand already has, it is that operand.
    shape_only: bool = False
    # How to evaluate it on Python floats (math.sin, operator.mul), for the fast path
    # of scalar programs at one point; it may raise where IEEE arithmetic gives
    # inf or NaN (math.log(0)), and NumPy's impl then answers instead.
    scalar: Callable[..., float] | None = None
    # A cheaper impl where a schedule also computes another op of the same operands
    # (cos x from sin x): ``(that op, impl(xp, *args, its value, out=None))``; the
    # schedule computes that op first and hands its value on.
    given: tuple[Primitive, Callable[..., Any]] | None = None
    # Where the op is not differentiable: ``kink(*args, **params) -> bool array`` (abs
    # at 0, max at a tie), so checks can report such points instead of judging them.
    kink: Callable | None = None

    @property
    def written_name(self) -> str:
        """The op as a program names it (max for amax), for messages."""
        return self.called or self.name

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def __call__(self, *args, **params):
        """Apply to nodes (builds a node) or to arrays (computes)."""
        for arg in args:
            kind = type(arg)
            if kind is np.ndarray or kind is float or kind is np.float64:
                continue  # NumPy's, the common case: no more to look at for this one
            node = next((other for other in args if isinstance(other, Node)), None)
            if node is not None:
                return node.graph.apply(self, args, params)
            return self.impl(array_namespace(args), *args, **params)
        return self.impl(np, *args, **params)


def array_namespace(values: Iterable) -> Any:
    """numpy, or the array module of the first value that lives elsewhere (a cupy
    array, or anything that names its module by ``__array_namespace__``)."""
    for value in values:
        kind = type(value)
        if kind is np.ndarray or kind is float or kind is np.float64:
            continue
        if kind.__module__.startswith("cupy"):
            import cupy

            return cupy
        namespace = getattr(value, "__array_namespace__", None)
        if namespace is not None and not isinstance(value, (np.ndarray, np.generic)):
            return namespace()
    return np


@contextmanager
def located(span: Span | None):
    """A DcalcError raised inside without a position of its own gets ``span``."""
    try:
        yield
    except DcalcError as error:
        if error.span is None:
            error.span = span
        raise


def _input_shape(shapes, params):
    return params["shape"]


def _const_shape(shapes, params):
    return np.shape(params["value"])


# Leaves of every graph. They have no impl: the evaluator reads them from the
# given values and from the params.
INPUT = Primitive("input", None, 0, shape_rule=_input_shape, elementwise=False)
CONST = Primitive("const", None, 0, shape_rule=_const_shape, elementwise=False)
# Every primitive by name: primitives.py fills it (as primitives.TABLE).
TABLE: dict[str, Primitive] = {"input": INPUT, "const": CONST}


def depends_on(nodes, inputs) -> set[int]:
    """Indices of the nodes (in topological order) that depend on any of ``inputs``
    (those included): only they need a cotangent, and no other holds a point's value."""
    reached = {node.index for node in inputs}
    for node in nodes:
        if any(operand.index in reached for operand in node.inputs):
            reached.add(node.index)
    return reached


# One thread compiles or builds derivative nodes at a time (Graph.cached, the symbolic
# engine's shared derivative graphs): what it made is then every thread's.
COMPILING = threading.RLock()
_MISSING = object()


@functools.cache
def _primitives() -> dict:
    """primitives.py's table, filled (that module imports this one)."""
    from . import primitives

    return primitives.TABLE


@functools.cache
def _simplifier() -> Callable:
    """simplify.simplify, imported once (that module imports this one)."""
    from .simplify import simplify

    return simplify


def _const_key(value) -> tuple:
    """A hashable key that tells apart 0.0 and -0.0, and arrays by content."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return ("scalar", repr(value))


class Node:
    """One value in the graph: ``prim(*inputs, **params)``, of a known shape."""

    __slots__ = ("graph", "index", "prim", "inputs", "params", "shape", "span")
    # An array times a node is a node (NumPy defers to Node.__rmul__), not an array of nodes.
    __array_ufunc__ = None

    def __init__(self, graph, index, prim, inputs, params, shape, span):
        self.graph: Graph = graph
        self.index: int = index
        self.prim: Primitive = prim
        self.inputs: tuple[Node, ...] = inputs
        self.params: dict = params
        self.shape: Shape = shape
        self.span: Span | None = span

    @property
    def op(self) -> str:
        return self.prim.name

    @property
    def is_input(self) -> bool:
        return self.prim is INPUT

    @property
    def is_const(self) -> bool:
        return self.prim is CONST

    @property
    def value(self):
        """The value of a constant node."""
        return self.params["value"]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        if self.is_input:
            return f"<node {self.index}: input {self.params['name']} {self.shape}>"
        if self.is_const:
            return f"<node {self.index}: const {self.value!r}>"
        args = ", ".join(str(node.index) for node in self.inputs)
        return f"<node {self.index}: {self.op}({args}) {self.shape}>"

    # Arithmetic builds nodes, so derivative rules read like maths.
    def _apply(self, name, *args):
        return self.graph.apply(TABLE[name], args, {})

    def __add__(self, other):
        return self._apply("add", self, other)

    def __radd__(self, other):
        return self._apply("add", other, self)

    def __sub__(self, other):
        return self._apply("sub", self, other)

    def __rsub__(self, other):
        return self._apply("sub", other, self)

    def __mul__(self, other):
        return self._apply("mul", self, other)

    def __rmul__(self, other):
        return self._apply("mul", other, self)

    def __truediv__(self, other):
        return self._apply("div", self, other)

    def __rtruediv__(self, other):
        return self._apply("div", other, self)

    def __pow__(self, other):
        return self._apply("pow", self, other)

    def __rpow__(self, other):
        return self._apply("pow", other, self)

    def __matmul__(self, other):
        return self._apply("matmul", self, other)

    def __rmatmul__(self, other):
        return self._apply("matmul", other, self)

    def __neg__(self):
        return self._apply("neg", self)

    def __pos__(self):
        return self


@dataclass
class Graph:
    """A Wengert list: nodes in topological order, inputs, outputs and user names.

    ``simplify`` is off for graphs parsed from what the user wrote (so the list
    shows what they wrote) and on for derivative graphs (see dcalc/simplify.py).
    """

    simplify: bool = False
    nodes: list[Node] = field(default_factory=list)
    inputs: list[Node] = field(default_factory=list)
    outputs: list[Node] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    # The first name the user gave each node (by node index), for display.
    names: dict[int, str] = field(default_factory=dict)
    source: Span | None = None
    # The hash-consing table: (primitive, operand indices, params part) -> node, where
    # the params part is ("input", name), _const_key(value), or the sorted params.
    _table: dict = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _primitives()  # Node arithmetic (x + y) finds the primitives in TABLE

    # ---- building -----------------------------------------------------------

    def input(self, name: str, shape: Shape = (), span: Span | None = None) -> Node:
        key = (INPUT, (), ("input", name))
        node = self._table.get(key)
        if node is None:
            node = self._add(key, INPUT, (), {"name": name, "shape": tuple(shape)}, tuple(shape), span)
            self.inputs.append(node)
            self.names.setdefault(node.index, name)
        return node

    def const(self, value, span: Span | None = None) -> Node:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, (bool, int, np.integer, np.floating)):
            value = float(value)
        if isinstance(value, np.ndarray):
            value = value.astype(np.result_type(value.dtype, np.float64), copy=False)
        key = (CONST, (), _const_key(value))
        node = self._table.get(key)
        if node is None:
            node = self._add(key, CONST, (), {"value": value}, tuple(np.shape(value)), span)
        return node

    def apply(self, prim: Primitive, args: Sequence, params: dict | None = None, span: Span | None = None) -> Node:
        """The node ``prim(*args, **params)``: an existing one if it was made before."""
        params = params or {}
        inputs = tuple([arg if isinstance(arg, Node) else self.const(arg) for arg in args])
        for node in inputs:
            if node.graph is not self:
                raise ValueError("cannot combine nodes of two different graphs")
        if prim.prepare is not None:
            with located(span):  # an axis out of range
                params = prim.prepare([node.shape for node in inputs], params)
        if self.simplify:
            simpler = _simplifier()(self, prim, inputs, params)
            if simpler is not None:
                return simpler
        key = self._key(prim, inputs, params)
        node = self._table.get(key)
        if node is not None:
            return node
        with located(span):
            shape = tuple(prim.shape_rule([node.shape for node in inputs], params))
        return self._add(key, prim, inputs, params, shape, span)

    def _key(self, prim: Primitive, inputs: Sequence[Node], params: dict) -> tuple:
        operands = tuple([node.index for node in inputs])
        if prim.commutative and self.simplify:
            operands = tuple(sorted(operands))  # x*y and y*x are one node in derivative graphs
        return (prim, operands, tuple(sorted(params.items())) if params else ())

    def existing(self, prim: Primitive, inputs: Sequence[Node], params: dict | None = None) -> Node | None:
        """The node ``prim(*inputs)`` if the graph has it already (nothing is built)."""
        return self._table.get(self._key(prim, inputs, params or {}))

    def _add(self, key, prim, inputs, params, shape, span) -> Node:
        node = Node(self, len(self.nodes), prim, inputs, params, shape, span)
        self.nodes.append(node)
        self._table[key] = node
        return node

    def reorder(self, order: Sequence[Node]) -> None:
        """Put the nodes in another topological order and renumber them."""
        if sorted(node.index for node in order) != list(range(len(self.nodes))):
            raise ValueError("reorder needs every node exactly once")
        names = {self.nodes[index]: name for index, name in self.names.items()}
        for index, node in enumerate(order):
            node.index = index
        if any(operand.index >= node.index for node in order for operand in node.inputs):
            raise ValueError("reorder must keep operands before their users")
        self.nodes = list(order)
        self.inputs.sort(key=lambda node: node.index)
        self.names = {node.index: name for node, name in names.items()}
        # The keys name operands by index: renumber them, keeping their params part.
        self._table = {(prim, self._operands_key(node), params): node for (prim, _, params), node in self._table.items()}
        self._cache.clear()

    def cached(self, key, make: Callable[[], Any]):
        """``make()``, made once per key and kept: the graph's compiled forms (schedules,
        plans, tapes, staged sweeps). A key names the node count, so nodes added later
        make another. One thread compiles at a time (COMPILING), with the cycle
        collector paused (gc_paused)."""
        made = self._cache.get(key, _MISSING)
        if made is _MISSING:
            with COMPILING:
                made = self._cache.get(key, _MISSING)
                if made is _MISSING:  # not made by another thread meanwhile
                    with gc_paused():
                        made = self._cache[key] = make()
        return made

    def _operands_key(self, node: Node) -> tuple:
        operands = tuple([operand.index for operand in node.inputs])
        if node.prim.commutative and self.simplify:
            operands = tuple(sorted(operands))
        return operands

    def set_outputs(self, nodes: Sequence[Node], names: Sequence[str]) -> None:
        self.outputs = list(nodes)
        self.output_names = list(names)

    # ---- reading ------------------------------------------------------------

    @property
    def input_names(self) -> list[str]:
        return [node.params["name"] for node in self.inputs]

    def input_named(self, name: str) -> Node:
        for node in self.inputs:
            if node.params["name"] == name:
                return node
        from .errors import UnknownNameError, suggest

        names = self.input_names
        raise UnknownNameError(f"{name!r} is not an input of this function (inputs: {', '.join(names) or 'none'})", hint=suggest(name, names))

    def copy_nodes(self, nodes: Iterable[Node], into: Graph, rewrite: Callable | None = None) -> dict[int, Node]:
        """Build ``nodes`` (in topological order) again in the graph ``into``; returns the
        map from their indices to the copies. ``rewrite(node, operands)`` may give a node
        to use instead of an operation's copy (None: copy it as it is)."""
        mapping: dict[int, Node] = {}
        for node in nodes:
            if node.is_input:
                made = into.input(node.params["name"], node.shape, node.span)
            elif node.is_const:
                made = into.const(node.value, node.span)
            else:
                operands = [mapping[operand.index] for operand in node.inputs]
                made = rewrite(node, operands) if rewrite is not None else None
                if made is None:
                    made = into.apply(node.prim, operands, dict(node.params), node.span)
            mapping[node.index] = made
        return mapping

    def ancestors(self, roots: Iterable[Node]) -> list[Node]:
        """The nodes the roots depend on (roots included), in topological order."""
        nodes = self.nodes[:]  # as they are now: another thread may be adding some
        needed = bytearray(len(nodes))
        for root in roots:
            needed[root.index] = 1
        # Walking backwards over a topological order visits users before operands.
        for node in reversed(nodes):
            if needed[node.index]:
                for operand in node.inputs:
                    needed[operand.index] = 1
        return [node for node in nodes if needed[node.index]]

    def operations(self) -> list[Node]:
        """The nodes that are neither inputs nor constants."""
        return [node for node in self.nodes if not (node.is_input or node.is_const)]

    def name_of(self, node: Node) -> str | None:
        return self.names.get(node.index)
