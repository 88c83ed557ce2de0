"""The graph: hash-consing, lecture order, source positions, and no recursion limits."""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dcalc
from dcalc import parse_program
from dcalc.evaluation import evaluate
from dcalc.render import lecture_numbers


def ops(graph, name):
    return [node for node in graph.nodes if node.op == name]


def test_shared_subexpressions_exist_once(program_text):
    graph = parse_program(program_text("domke_closed_form.wl"))
    assert len(ops(graph, "exp")) == 2  # exp(x) and exp(exp(x) + exp(x)^2)
    exp_x = [node for node in ops(graph, "exp") if node.inputs[0].is_input]
    assert len(exp_x) == 1
    sums = ops(graph, "add")
    inner = [node for node in sums if node.inputs[0] is exp_x[0]]
    assert len(inner) == 1  # one exp(x) + exp(x)^2 node, used by exp and by sin


def test_domke_program_and_closed_form_agree(program_text):
    program = parse_program(program_text("domke.wl"))
    closed = parse_program(program_text("domke_closed_form.wl"))
    at = {"x": 0.5}
    assert float(evaluate(program, at)[0]) == float(evaluate(closed, at)[0])
    assert len(closed.operations()) <= len(program.operations()) == 6


def test_lecture_numbering_of_the_lecture_example():
    graph = parse_program("ln(x1)+x1*x2-sin(x2)")
    numbers = lecture_numbers(graph)
    by_number = {number: graph.nodes[index] for index, number in numbers.items()}
    assert [by_number[k].op for k in range(-1, 6)] == ["input", "input", "ln", "mul", "sin", "add", "sub"]
    assert graph.outputs[0] is by_number[5]


def test_nodes_are_in_topological_order():
    graph = parse_program("a = x*y; b = sin(a) + a; c = b*x - y")
    for node in graph.nodes:
        assert all(operand.index < node.index for operand in node.inputs)


def test_source_spans_give_the_subexpression():
    graph = parse_program("ln(x1)+x1*x2-sin(x2)")
    texts = {node.op: node.span.snippet for node in graph.operations()}
    assert texts == {"ln": "ln(x1)", "mul": "x1*x2", "sin": "sin(x2)", "add": "ln(x1)+x1*x2", "sub": "ln(x1)+x1*x2-sin(x2)"}
    assert graph.nodes[-1].span.line == 1 and graph.nodes[-1].span.column == 1


def test_shapes_are_inferred():
    graph = parse_program("A @ x + b", shapes={"A": (3, 2), "x": (2,), "b": (3,)})
    assert graph.outputs[0].shape == (3,)


def test_long_program_builds_without_recursion():
    lines = 100_000
    text = "v0 = load('x')\n" + "\n".join(f"v{i} = v{i - 1} + 1" for i in range(1, lines))
    graph = parse_program(text)
    assert len(graph.operations()) == lines - 1
    assert float(evaluate(graph, {"x": 0.5})[0]) == lines - 0.5


def test_hash_consing_distinguishes_negative_zero():
    graph = parse_program("x*0 + x*(-0.)")
    consts = [node.value for node in graph.nodes if node.is_const]
    assert len(consts) == 2


def test_simplifying_a_broadcast_product_keeps_its_shape():
    # spread(a) * ones: either operand alone may drop its spreading, not both,
    # or the (3, 2) product would come out as a's (3, 1).
    from dcalc import primitives
    from dcalc.graph import Graph

    graph = Graph(simplify=True)
    column = graph.input("a", (3, 1))
    spread = primitives.broadcast_to(column, shape=(3, 2), source=(3, 1))
    product = spread * graph.const(np.ones((3, 2)))
    assert product.shape == (3, 2)
    (value,) = evaluate(graph, {"a": np.array([[1.0], [2.0], [3.0]])}, outputs=[product])
    np.testing.assert_array_equal(value, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])


def test_source_spans_take_in_brackets_and_signs():
    # A node's span runs from the start of its first operand, brackets around that
    # operand included, to the end of its last one.
    text = "-(x+y)^2*sin((x)) - 2^-x"
    graph = parse_program(text)
    spans = sorted(node.span.snippet for node in graph.operations())
    assert spans == sorted(["x+y", "(x+y)^2", "-(x+y)^2", "sin((x))", "-(x+y)^2*sin((x))", "-x", "2^-x", text])


def test_hash_consing_holds_after_reordering():
    from dcalc.graph import Graph
    from dcalc.primitives import TABLE

    graph = parse_program("a = y * x\nb = sin(x) + a")  # built, then put in lecture order
    x, y = graph.input_named("x"), graph.input_named("y")
    assert graph.apply(TABLE["sin"], (x,)) is ops(graph, "sin")[0]
    assert graph.apply(TABLE["mul"], (y, x)) is ops(graph, "mul")[0]
    derivative = Graph(simplify=True)  # where x*y and y*x are one node
    x, y = derivative.input("x"), derivative.input("y")
    product = x * y
    derivative.reorder([y, x, product])
    assert y.index == 0 and product.index == 2
    assert derivative.apply(TABLE["mul"], (y, x)) is product and x * y is product
    assert len(derivative.nodes) == 3


def test_node_arithmetic_works_on_a_fresh_graph_in_a_fresh_process():
    # The primitive table is filled when primitives.py loads: a Graph sees to it.
    code = "import dcalc; g = dcalc.Graph(); x = g.input('x', ()); print((x + x * 2).op)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "add"


def test_cached_makes_once_per_key_when_threads_race():
    graph = dcalc.parse_program("sin(x) * y")
    made = []
    barrier = threading.Barrier(4)

    def make():
        made.append(1)
        time.sleep(0.05)  # long enough for the other threads to miss the cache too
        return object()

    def race():
        barrier.wait()
        return graph.cached(("test", 1), make)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: race(), range(4)))
    assert len(made) == 1 and all(result is results[0] for result in results)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x + x", "2*x"),
        ("2*x + x", "3*x"),
        ("(y + x) + x", "y + 2*x"),
        ("(y - x) + x", "y"),
        ("(x - y) + x", "2*x - y"),
        ("(y + 3*x) - x", "y + 2*x"),
        ("x + x - 2*x + y", "y"),
        ("pi*x + pi*x", "2*(pi*x)"),  # a named constant stays as written
        ("0.1*x + 0.2*x", "0.1*x + 0.2*x"),  # 0.30000000000000004 would be no simpler
        ("0.5*x + 0.5*x", "x"),  # equal coefficients double exactly
        ("y - x - x", "y - 2*x"),  # not y + -2*x
        ("y - 3*x + x", "y - 2*x"),
        ("x - 3*x", "-2*x"),
        ("y - (x - 3*x)", "y + 2*x"),  # a - (-2*q) is a + 2*q
        ("y - x*(2*z) + x*(2*z)", "y"),
    ],
)
def test_like_terms_are_gathered(text, expected):
    from dcalc.graph import Graph
    from dcalc.printer import to_infix

    user = parse_program(text)
    graph = Graph(simplify=True)
    node = user.copy_nodes(user.nodes, graph)[user.outputs[0].index]
    assert to_infix(node) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sin(x)^2 + cos(x)^2", "0"),  # the product rule's 2*sin*cos and 2*cos*sin are one node
        ("e^x", "e^x"),  # not e^x*ln(e)
        ("e^(2*x)", "2*e^(2*x)"),
    ],
)
def test_derivatives_that_simplify_to_what_is_written_by_hand(cli, text, expected):
    assert cli("diff", text, "--wrt", "x").stdout.strip() == expected


def test_second_derivative_of_a_product_gathers_its_pair_of_terms(cli):
    result = cli("diff", "x^3*sin(x)", "--wrt", "x", "--order", "2")
    assert result.exit_code == 0, result.output
    text = result.stdout.strip()
    assert text.count("cos(x)") == 1 and "6*x^2*cos(x)" in text
    (value,) = evaluate(parse_program(text), {"x": 0.7})
    exact = 6 * 0.7 * np.sin(0.7) + 6 * 0.7**2 * np.cos(0.7) - 0.7**3 * np.sin(0.7)
    assert abs(value - exact) <= 1e-15 * abs(exact) * 8
