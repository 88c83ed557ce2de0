"""Parse tree to graph: the meaning of the language.

A program is a list of statements. Names are looked up as the statements run:
a name the program has assigned is that node; a name read before it is
written is an input (``load('x')`` declares one explicitly); ``pi`` and ``e``
are constants unless the program assigns them or the user gives them a value.
The output is the last statement (an assignment or a bare expression) unless a
``return a, b`` names several.

The tree is walked without recursion, so deep nesting and long programs build
without RecursionError.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from . import primitives
from .errors import ArityError, DcalcSyntaxError, ShapeError, Span, UnknownNameError, counted, suggest
from .graph import Graph, Node, gc_paused, located
from .parser import LEAVES, parse

if TYPE_CHECKING:
    from lark import Token, Tree

NUMBER_LITERAL = re.compile(r"-\s*[0-9.][0-9_.eE+-]*")
# NumPy broadcasts at most 32 axes. The engines add trailing axes and a Jacobian
# block joins an output's axes to an input's, so the user's arrays get half.
MAX_AXES = 16
# Functions of the language that are not one primitive each.
SPECIAL_FUNCTIONS = {"log", "load"}


def known_functions() -> set[str]:
    return set(primitives.FUNCTIONS) | set(primitives.COMPOSITES) | SPECIAL_FUNCTIONS


@dataclass
class Keyword:
    name: str
    value: object
    span: Span | None


@dataclass
class Text:
    value: str
    span: Span | None


class _Builder:
    """Builds graph nodes for one expression; the program walker feeds it statements.

    Each rule of the grammar (its alias) has a method taking the tree's ``meta``
    (its position) and the values of its children. The tree is walked bottom-up,
    left to right (so inputs are numbered in the order they are first read), with
    a stack, not recursion, so deep nesting builds. (Lark's
    Transformer_NonRecursive does the same, but its ``v_args(meta=True)`` makes a
    wrapper object at every call: a third of the time to build a long program.)
    Names and numbers are bare tokens in the tree; the walk turns those that are
    operands into nodes (:meth:`operand`) and leaves the function's name in a
    call, the attribute's and the keyword's as they are.
    """

    RULES = (
        "string", "keyword", "paren", "add", "sub", "mul", "div", "matmul", "pow",
        "neg", "pos", "call", "array", "tuple", "index", "slice", "attribute",
    )  # fmt: skip
    NAME_CHILD = {"call": 0, "attribute": 1, "keyword": 0}  # where a rule has a name that is no operand

    def __init__(self, program: "_ProgramBuilder"):
        self.program = program
        self.graph = program.graph
        self.methods = {rule: getattr(self, rule) for rule in self.RULES}

    def build(self, tree: Tree | Token):
        """The value of an expression: a tree, or a lone name or number."""
        walk = []  # every subtree and token, each before its children
        names = set()  # the ids of the tokens that are names, not operands
        pending = [tree]
        while pending:
            item = pending.pop()
            walk.append(item)
            if not isinstance(item, LEAVES):
                pending.extend(item.children)
                position = self.NAME_CHILD.get(item.data)
                if position is not None:
                    names.add(id(item.children[position]))
        methods = self.methods
        values = []  # of the children seen and not yet used by their parent
        for item in reversed(walk):
            if not isinstance(item, LEAVES):
                count = len(item.children)
                children = values[-count:] if count else []
                if count:
                    del values[-count:]
                values.append(methods[item.data](item.meta, children))
            elif isinstance(item, str) and id(item) not in names:
                values.append(self.operand(item))
            else:
                values.append(item)
        (value,) = values
        return value

    def operand(self, item):
        """The node of a name or number token; any other value as it is."""
        if isinstance(item, str):  # a token
            if item.type == "NAME":
                name = str(item)
                node = self.program.environment.get(name)
                if node is not None:  # the common case, which needs no span
                    return node
                return self.program.lookup(name, self.program.token_span(item))
            if item.type == "NUMBER":
                return self.graph.const(float(str(item).replace("_", "")), span=self.program.token_span(item))
        return item

    def _span(self, meta) -> Span | None:
        return self.program.span(meta)

    # ---- leaves -------------------------------------------------------------

    def string(self, meta, children):
        (token,) = children
        return Text(str(token)[1:-1], self._span(meta))

    def keyword(self, meta, children):
        name, value = children
        return Keyword(str(name), value, self._span(meta))

    def paren(self, meta, children):
        # A tree of its own (not inlined) so that its span, brackets included,
        # is there for the span of whatever it is the first or last operand of.
        (inner,) = children
        return inner

    # ---- operators ----------------------------------------------------------

    def _binary(self, name, meta, left, right):
        return self.program.apply(primitives.TABLE[name], (left, right), {}, self._span(meta))

    def add(self, meta, children):
        return self._binary("add", meta, *children)

    def sub(self, meta, children):
        return self._binary("sub", meta, *children)

    def mul(self, meta, children):
        return self._binary("mul", meta, *children)

    def div(self, meta, children):
        return self._binary("div", meta, *children)

    def matmul(self, meta, children):
        return self._binary("matmul", meta, *children)

    def pow(self, meta, children):
        base, _, exponent = children
        return self._binary("pow", meta, base, exponent)

    def neg(self, meta, children):
        (operand,) = children
        span = self._span(meta)
        # A minus sign in front of a number literal is part of the number.
        if isinstance(operand, Node) and operand.is_const and span is not None and NUMBER_LITERAL.fullmatch(span.snippet):
            return self.graph.const(-operand.value, span=span)
        return self.program.apply(primitives.TABLE["neg"], (operand,), {}, span)

    def pos(self, meta, children):
        (operand,) = children
        if not isinstance(operand, Node):
            raise DcalcSyntaxError(f"+ needs a value here, not {_describe(operand)}", self._span(meta))
        return operand

    # ---- calls --------------------------------------------------------------

    def call(self, meta, children):
        name_token, *arguments = children
        arguments = [argument for argument in arguments if argument is not None]
        return self.program.call(name_token, arguments, self._span(meta))

    # ---- arrays and indexing --------------------------------------------------

    def array(self, meta, children):
        elements = [element for element in children if element is not None]
        return self.program.array_literal(elements, self._span(meta))

    def tuple(self, meta, children):
        return tuple(element for element in children if element is not None)

    def index(self, meta, children):
        operand, *subscripts = children
        span = self._span(meta)
        key = tuple(_subscript(item, span) for item in subscripts)
        return self.program.apply(primitives.TABLE["index"], (operand,), {"key": key}, span)

    def slice(self, meta, children):
        return ("slice", *children)

    def attribute(self, meta, children):
        operand, name = children
        if str(name) != "T":
            raise UnknownNameError(f"unknown attribute .{name}: the only one is .T (the transpose)", self.program.token_span(name))
        return self.program.apply(primitives.TABLE["transpose"], (operand,), {}, self._span(meta))


class _ProgramBuilder:
    """Runs the statements of a program in order, keeping the name environment."""

    def __init__(
        self,
        text: str,
        origin: str,
        given: Iterable[str],
        shapes: Mapping[str, tuple],
        constants: Mapping[str, float] | None = None,
        inputs_allowed: bool = True,
    ):
        self.text = text
        self.constants = {**primitives.CONSTANTS, **(constants or {})}
        self.inputs_allowed = inputs_allowed
        self.origin = origin
        self.given = set(given)
        self.shapes = dict(shapes)
        self.graph = Graph()
        self.environment: dict[str, Node] = {}
        self.assigned_anywhere: set[str] = set()
        self.allow_new_inputs = True
        # In values (--at), randn(3, 4) and friends make constants (values.Constructors).
        self.constructors = None
        self.function_names = known_functions()
        self.expression = _Builder(self)

    # ---- positions ------------------------------------------------------------

    def span(self, meta) -> Span | None:
        if meta is None or getattr(meta, "empty", True):
            return None
        return Span(self.text, meta.start_pos, meta.end_pos, meta.line, meta.column, self.origin)

    def token_span(self, token: Token) -> Span:
        return Span(self.text, token.start_pos, token.end_pos, token.line, token.column, self.origin)

    # ---- names ----------------------------------------------------------------

    def lookup(self, name: str, span: Span | None) -> Node:
        node = self.environment.get(name)
        if node is not None:
            return node
        if name not in self.given and name not in self.assigned_anywhere:
            if name in self.constants:
                return self.graph.const(self.constants[name], span=span)
            if name in self.function_names:
                raise UnknownNameError(f"{name!r} is a function: call it, as in {name}(x)", span)
        if not self.inputs_allowed:
            raise UnknownNameError(
                f"unknown name {name!r} in a value: a value is a number, a list, a constant expression or @file",
                span,
                hint=suggest(name, self.constants),
            )
        if not self.allow_new_inputs and name not in self.given:
            defined = [*self.environment, *self.graph.input_names]
            raise UnknownNameError(f"{name!r} is returned but the program never defines it", span, hint=suggest(name, defined))
        node = self.within_axes(self.graph.input(name, self.shapes.get(name, ()), span=span), span)
        self.environment[name] = node
        return node

    def declare_input(self, name: str, span: Span | None) -> Node:
        node = self.within_axes(self.graph.input(name, self.shapes.get(name, ()), span=span), span)
        self.environment.setdefault(name, node)
        return node

    def within_axes(self, node: Node, span: Span | None) -> Node:
        if len(node.shape) > MAX_AXES:
            raise ShapeError(f"this value has {len(node.shape)} axes; dcalc's arrays have at most {MAX_AXES}", span)
        return node

    # ---- building ---------------------------------------------------------------

    def apply(self, prim, operands, params, span) -> Node:
        for operand in operands:
            if not isinstance(operand, Node):
                raise DcalcSyntaxError(f"{prim.name} needs values here, not {_describe(operand)}", span)
        return self.within_axes(self.graph.apply(prim, operands, params, span=span), span)

    def call(self, name_token: Token, arguments: list, span: Span | None) -> Node:
        name = str(name_token)
        if name == "load":
            return self._load(arguments, span)
        if name == "log":
            return self._log(arguments, span)
        if self.constructors is not None and name in self.constructors.names:
            with located(span):
                value = self.constructors.make(name, [_literal(argument) for argument in arguments])
            return self.within_axes(self.graph.const(value, span=span), span)
        if name in primitives.COMPOSITES:
            build, arity = primitives.COMPOSITES[name]
            if len(arguments) != arity or not all(isinstance(argument, Node) for argument in arguments):
                raise ArityError(f"{name} takes {counted(arity, 'argument')}, but got {len(arguments)}", span)
            return self.within_axes(build(*arguments), span)
        plain = [argument for argument in arguments if not isinstance(argument, Keyword)]
        if name in primitives.REDUCING_FORMS and len(plain) == 1:
            # max(A) and max(A, axis=0) reduce; max(a, b) is elementwise.
            prim = primitives.REDUCING_FORMS[name]
            params = {}
            for keyword in (argument for argument in arguments if isinstance(argument, Keyword)):
                if keyword.name != "axis":
                    raise ArityError(f"{name} has no parameter {keyword.name!r} (parameters: axis)", keyword.span)
                params["axis"] = _static_value(keyword.value, name, "axis", keyword.span)
            return self.apply(prim, plain, params, span)
        prim = primitives.FUNCTIONS.get(name)
        if prim is None:
            hint = suggest(name, self.function_names)
            if name in ("randn", "rand", "zeros", "ones", "eye", "full"):
                hint = f"{name}(...) makes a value for --at (or an 'at' line of a sample file), not an op of the function"
            raise UnknownNameError(f"unknown function {name!r}", self.token_span(name_token), hint=hint)
        operands = [argument for argument in arguments if not isinstance(argument, Keyword)]
        keywords = {argument.name: argument for argument in arguments if isinstance(argument, Keyword)}
        arity = len(operands) if prim.arity < 0 else prim.arity  # variadic: every positional argument
        static_values = operands[arity:]
        operands = operands[:arity]
        if prim.arity < 0 and not operands:
            raise ArityError(f"{name} takes one or more arguments", span)
        if len(operands) < arity or len(static_values) > len(prim.static):
            raise ArityError(
                f"{name} takes {counted(prim.arity, 'argument')}"
                + (f" (and optionally {', '.join(prim.static)})" if prim.static else "")
                + f", but got {len(arguments)}",
                span,
            )
        params = {}
        for param_name, value in zip(prim.static, static_values):
            params[param_name] = _static_value(value, name, param_name, span)
        for keyword in keywords.values():
            if keyword.name not in prim.static:
                known = ", ".join(prim.static) or "none"
                raise ArityError(f"{name} has no parameter {keyword.name!r} (parameters: {known})", keyword.span)
            params[keyword.name] = _static_value(keyword.value, name, keyword.name, keyword.span)
        return self.apply(prim, operands, params, span)

    def _load(self, arguments, span) -> Node:
        if not self.inputs_allowed:
            raise UnknownNameError("load declares an input; a value cannot have inputs", span)
        if len(arguments) != 1 or not isinstance(arguments[0], Text):
            raise ArityError("load takes one quoted input name, as in load('x')", span)
        name = arguments[0].value
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise DcalcSyntaxError(f"{name!r} is not a valid input name", arguments[0].span)
        return self.declare_input(name, span)

    def _log(self, arguments, span) -> Node:
        """log(x) is the natural logarithm; log(x, b) the logarithm to base b."""
        if len(arguments) not in (1, 2) or any(isinstance(argument, (Keyword, Text)) for argument in arguments):
            raise ArityError(f"log takes 1 or 2 arguments (log(x) or log(x, base)), but got {len(arguments)}", span)
        if len(arguments) == 1:
            return self.apply(primitives.TABLE["ln"], arguments, {}, span)
        value, base = arguments
        if isinstance(base, Node) and base.is_const and np.ndim(base.value) == 0:
            special = {2.0: "log2", 10.0: "log10", math.e: "ln"}.get(base.value)
            if special:
                return self.apply(primitives.TABLE[special], (value,), {}, span)
        ln = primitives.TABLE["ln"]
        return self.apply(
            primitives.TABLE["div"],
            (self.apply(ln, (value,), {}, span), self.apply(ln, (base,), {}, span)),
            {},
            span,
        )

    def array_literal(self, elements, span) -> Node:
        if not all(isinstance(element, Node) for element in elements):
            raise DcalcSyntaxError("a list holds values, not text or slices", span)
        if not all(element.is_const for element in elements):
            # [x, y, 2]: the values stacked along a new first axis.
            return self.apply(primitives.TABLE["stack"], elements, {}, span)
        values = [element.value for element in elements]
        shapes = list(dict.fromkeys(np.shape(value) for value in values))  # in the order written
        if len(shapes) > 1:
            raise ShapeError(f"ragged list: its elements have the shapes {', '.join(map(str, shapes))}", span)
        if shapes and len(shapes[0]) >= MAX_AXES:
            raise ShapeError(f"this list is nested {len(shapes[0]) + 1} deep; dcalc's arrays have at most {MAX_AXES} axes", span)
        return self.graph.const(np.array(values, dtype=float), span=span)

    # ---- statements -------------------------------------------------------------

    def run(self, tree: Tree) -> Graph:
        statements = [child for child in tree.children if not isinstance(child, LEAVES)]
        if not statements:
            raise DcalcSyntaxError(
                "the input has no expression" + (" (only comments)" if self.text.strip() else " (it is empty)"),
                Span.at_offset(self.text, len(self.text.rstrip()), origin=self.origin),
                hint='give an expression such as "x^2 + 1", or a program with one assignment per line',
            )
        # Rule names are Lark Tokens, whose == is slow: compare them as strings.
        kinds = [str(statement.data) for statement in statements]
        for kind, statement in zip(kinds, statements):
            if kind == "assign":
                self.assigned_anywhere.add(str(statement.children[0]))
        outputs: list[Node] = []
        names: list[str] = []
        statement_of: list[int] = []  # by node index: the statement that made the node
        for position, (kind, statement) in enumerate(zip(kinds, statements)):
            statement_of.extend([position - 1] * (len(self.graph.nodes) - len(statement_of)))
            if kind == "assign":
                target, expression = statement.children
                name = str(target)
                if name in self.function_names:
                    raise DcalcSyntaxError(f"cannot assign to {name!r}: it names a function", self.token_span(target))
                node = self._expression(expression)
                self.environment[name] = node
                self.graph.names.setdefault(node.index, name)
                outputs, names = [node], [name]
            elif kind == "expr_stmt":
                (expression,) = statement.children
                if position != len(statements) - 1:
                    raise DcalcSyntaxError(
                        "only the last line may be a bare expression; assign this one to a name",
                        self.span(statement.meta),
                    )
                node = self._expression(expression)
                outputs = [node]
                names = [self._output_name(expression, node)]
            elif kind == "return_stmt":
                if position != len(statements) - 1:
                    raise DcalcSyntaxError("nothing may follow 'return'", self.span(statements[position + 1].meta))
                self.allow_new_inputs = False
                expressions = statement.children[1:]
                outputs = [self._expression(expression) for expression in expressions]
                names = [self._output_name(expression, node, index) for index, (expression, node) in enumerate(zip(expressions, outputs))]
        statement_of.extend([len(statements) - 1] * (len(self.graph.nodes) - len(statement_of)))
        if len(set(names)) < len(names):
            names = [f"{name}_{index}" for index, name in enumerate(names)]
        self._lecture_order(statement_of)
        self.graph.set_outputs(outputs, names)
        self.graph.source = Span(self.text, 0, len(self.text), 1, 1, self.origin)
        return self.graph

    def _lecture_order(self, statement_of: list[int]) -> None:
        """Order the nodes as AD lectures number them: inputs first, then statement by
        statement, and within a statement by level (1 + the highest level of the
        operands), so ln(x1)+x1*x2-sin(x2) gives v1 = ln v-1, v2 = v-1*v0, v3 = sin v0."""
        level = [0] * len(self.graph.nodes)
        for node in self.graph.nodes:
            if node.inputs:
                level[node.index] = 1 + max(level[operand.index] for operand in node.inputs)

        def key(node: Node):
            if node.is_input:
                return (-1, 0, node.index)
            return (statement_of[node.index], level[node.index], node.index)

        self.graph.reorder(sorted(self.graph.nodes, key=key))

    def _expression(self, expression) -> Node:
        value = self.expression.build(expression)
        if not isinstance(value, Node):
            raise DcalcSyntaxError(f"{_describe(value)} is not a value", self.span(_unbracketed(expression).meta))
        return value

    def _output_name(self, expression, node: Node, index: int = 0) -> str:
        # A returned variable keeps its name; a bare input or constant does not (the
        # output of "y" is not called y when y is an input).
        expression = _unbracketed(expression)
        if isinstance(expression, str) and expression.type == "NAME" and not (node.is_input or node.is_const):
            return str(expression)
        taken = set(self.graph.input_names)
        for candidate in ("y", "f", "out"):
            if candidate not in taken:
                return candidate if index == 0 else f"{candidate}{index + 1}"
        return f"out{index + 1}"


def _unbracketed(expression):
    """What a parenthesised expression holds (and any other as it is)."""
    while not isinstance(expression, LEAVES) and expression.data == "paren":
        (expression,) = expression.children
    return expression


def _describe(value) -> str:
    if isinstance(value, Text):
        return f"the text {value.value!r}"
    if isinstance(value, Keyword):
        return f"the keyword argument {value.name}="
    if isinstance(value, tuple):
        return "a tuple"
    if isinstance(value, slice):
        return "a slice"
    return type(value).__name__


def _subscript(item, span):
    """An index (a whole number, negative from the end) or a slice start:stop:step,
    all written as literals, as the hashable key the index primitive keeps."""

    def whole(value):
        if value is None:
            return None
        if isinstance(value, Node) and value.is_const and np.ndim(value.value) == 0 and float(value.value).is_integer():
            return int(value.value)
        raise DcalcSyntaxError("indices are whole numbers written in the program, as in x[0] or A[1:3, -1]", span)

    if isinstance(item, tuple) and item and item[0] == "slice":
        return ("slice", *(whole(part) for part in item[1:]))
    return whole(item)


def _literal(value):
    """A constant node's number (an int when whole), or a tuple of them, for value constructors."""
    if isinstance(value, tuple):
        return tuple(_literal(item) for item in value)
    if isinstance(value, Node) and value.is_const and np.ndim(value.value) == 0:
        number = float(value.value)
        return int(number) if number.is_integer() else number
    raise DcalcSyntaxError("value constructors take numbers and shapes, as in randn(3, 4) or full((2, 3), 1.5)")


def _static_value(value, function: str, param: str, span):
    """Parameters such as an axis must be written as literal integers (or tuples of them)."""
    if isinstance(value, Node) and value.is_const and np.ndim(value.value) == 0 and float(value.value).is_integer():
        return int(value.value)
    if isinstance(value, tuple):
        return tuple(_static_value(item, function, param, span) for item in value)
    raise ArityError(f"the {param} of {function} must be an integer written in the program", span)


def build(tree: Tree, text: str, origin: str = "<input>", given: Iterable[str] = (), shapes: Mapping[str, tuple] | None = None) -> Graph:
    """The graph of a parsed program; ``given`` are names the user gives values to."""
    with gc_paused():
        return _ProgramBuilder(text, origin, given, shapes or {}).run(tree)


def parse_program(text: str, origin: str = "<input>", given: Iterable[str] = (), shapes: Mapping[str, tuple] | None = None) -> Graph:
    """Text to graph in one step."""
    return build(parse(text, origin), text, origin, given, shapes)
