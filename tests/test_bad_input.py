"""A catalogue of bad input, through the command line: each is answered with a
message that says what is wrong and where, and exit status 2, never a traceback.

Each entry: what the user did, the command, and what the message must contain
(the location as origin:line:column where there is one). Elsewhere:
tests/test_grammar.py checks the caret under each syntax error, tests/test_checking.py
the mistakes in sample files, tests/test_safety.py what dcalc refuses to read or write.
"""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from dcalc.parser import DEFAULT_MAX_CHARS


@dataclass
class Bad:
    args: list[str]
    expected: list[str]
    stdin: str | bytes | None = None
    files: dict = field(default_factory=dict)  # name -> bytes, or a function writing the file


def pickled_npy(path):
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


def truncated_npy(path):
    np.save(path, np.arange(10.0))
    path.write_bytes(path.read_bytes()[:-20])


TEN_MEGABYTES = 10 * 1024 * 1024
LECTURE = "ln(x1)+x1*x2-sin(x2)"
A_2x2 = "A=[[1,2],[3,4]]"

CATALOGUE = {
    # ---- the text of the program --------------------------------------------------------
    "empty input": Bad(["eval", "-"], ["the input has no expression (it is empty)", "<stdin>:1:1"], stdin=""),
    "only comments": Bad(["eval", "-"], ["the input has no expression (only comments)", "<stdin>:2:"], stdin="# nothing\n# here\n\n"),
    "an unclosed parenthesis": Bad(["eval", "sin(x + (y"], ["the input ends too early", "the '(' at line 1, column 9 is never closed"]),
    "a closing parenthesis too many": Bad(["eval", "x + 1)"], ["')' has no matching '('", "<expression>:1:6"]),
    "an operator with nothing after it": Bad(["eval", "x +"], ["the input ends after '+': expected an expression", "<expression>:1:4"]),
    "a sign in front of a tuple": Bad(["eval", "-(x, y)", "--at", "x=1,y=2"], ["neg needs values here, not a tuple", "<expression>:1:1"]),
    "a plus sign in front of a tuple": Bad(["eval", "+(x, y)", "--at", "x=1,y=2"], ["+ needs a value here, not a tuple", "<expression>:1:1"]),
    "two operators in a row": Bad(["eval", "2 ** ** 3"], ["unexpected '**': expected an expression", "two operators in a row", "<expression>:1:6"]),
    "two matrix products in a row": Bad(["eval", "A @ @ B"], ["unexpected '@': expected an expression", "two operators in a row", "<expression>:1:5"]),
    "an operator missing on line 2": Bad(["eval", "-"], ["the line ends too early", "<stdin>:2:8", "b = a +"], stdin="a = 2*x\nb = a +\nc = b\n"),
    "a bracket left open before the next line": Bad(
        ["eval", "-"], ["unexpected 'z'", "<stdin>:2:1", "the '(' at line 1, column 8 is never closed"], stdin="y = sin(x\nz = y + 1\n"
    ),
    "a sample naming two points alike": Bad(
        ["check", "{tmp}/twice.dcalc"], ["the point 'a' is named twice (first on line 3)", "twice.dcalc:6:1"], files={"twice.dcalc": b"function: ln(x1)\n\nat a: x1=2\nd/dx1 = 0.5\n\nat a: x1=4\nd/dx1 = 0.25\n"}
    ),
    "a sample's function with a bracket left open": Bad(
        ["check", "{tmp}/open.dcalc"], ["unexpected 'at'", "open.dcalc:3:1", "the '(' at line 1, column 13 is never closed"], files={"open.dcalc": b"function: ln(x1\n\nat a: x1=2\nd/dx1 = 0.5\n"}
    ),
    "a sample's function block left open": Bad(
        ["check", "{tmp}/block.dcalc"],
        ["the function block opened at line 1 has no closing '}'", "block.dcalc:4:4", "end the function's lines with a '}'"],
        files={"block.dcalc": b"function {\n  y = x^2\n\nat p: x=1\n"},
    ),
    "a sample's function block running into a golden": Bad(
        ["check", "{tmp}/golden.dcalc"],
        ["the function block opened at line 1 has no closing '}'", "golden.dcalc:3:"],
        files={"golden.dcalc": b"function {\n  y = x^2\nd/dx = 2\nat p: x=1\n"},
    ),
    "a sample ending inside its function block": Bad(
        ["check", "{tmp}/ends.dcalc"], ["the input ends inside the function block opened at line 2", "ends.dcalc:3:10"], files={"ends.dcalc": b"# open\nfunction {\n  y = x^2\n"}
    ),
    "trace -o naming an output": Bad(["trace", "-", "--at", "x=1", "--wrt", "x", "-o", "b"], ["-o b writes the trace to a file named 'b'", "--output b traces"], stdin="a = x^2\nb = sin(x)\nreturn a, b\n"),
    "-o naming an output, as --output does": Bad(["diff", "-", "--wrt", "x", "-o", "b"], ["-o b writes the derivative to a file named 'b', which is an output", "--output b"], stdin="a = x^2\nb = sin(x)\nreturn a, b\n"),
    "--accept without --update": Bad(["check", "{tmp}/ok.dcalc", "--accept"], ["--accept goes with --update"], files={"ok.dcalc": b"function: x\nat p: x=1\n"}),
    "a forward trace of several inputs without --wrt": Bad(["trace", "x*y", "--at", "x=1,y=2"], ["input error: a forward trace follows one input's tangent: say which input with --wrt x or --wrt y"]),
    "a typeset minus sign": Bad(["eval", "x − 1", "--at", "x=1"], ["unexpected character '−'", "<expression>:1:3", "write - for −"]),
    "a typeset times sign": Bad(["eval", "2×x", "--at", "x=1"], ["unexpected character '×'", "write * for ×"]),
    "an axis a value does not have": Bad(["eval", "1 + sum(x, 3)", "--at", "x=[1,2]"], ["axis 3 is out of range for shape (2,)", "<expression>:1:5", "sum(x, 3)"]),
    "a matrix product of one column and two rows": Bad(["eval", "A @ x", "--at", "A=[[1],[2]],x=[1,2]"], ["1 column on the left, 2 rows on the right"]),
    "an unknown function": Bad(["eval", "sn(x)", "--at", "x=1"], ["unknown function 'sn'", "did you mean 'sin'?", "<expression>:1:1"]),
    "a misspelt function further in": Bad(["eval", "1 + expp(x)", "--at", "x=1"], ["unknown function 'expp'", "did you mean 'exp'?", "<expression>:1:5"]),
    "too few arguments": Bad(["eval", "atan2(x)", "--at", "x=1"], ["atan2 takes 2 arguments, but got 1"]),
    "too many arguments": Bad(["eval", "sin(x, y)", "--at", "x=1,y=2"], ["sin takes 1 argument", "got 2"]),
    "returning a name never defined": Bad(
        ["eval", "-", "--at", "x=1"], ["'ab' is returned but the program never defines it", "did you mean 'a'?", "<stdin>:2:11"], stdin="a = x + 1\nreturn a, ab\n"
    ),
    "a malformed number in the program": Bad(["eval", "2*1.5.3 + x", "--at", "x=1"], ["malformed number '1.5.3'", "<expression>:1:3"]),
    "a list nested deeper than arrays go": Bad(["eval", "[" * 20 + "1" + "]" * 20], ["nested 17 deep", "at most 16 axes"]),
    "mismatched shapes in a matrix product": Bad(
        ["eval", "-", "--at", A_2x2 + ",x=[1,2,3]"], ["shapes (2, 2) and (3,) do not fit a matrix product", "<stdin>:2:5", "y = A @ h"], stdin="h = x + 1\ny = A @ h\n"
    ),
    "non-UTF-8 bytes on standard input": Bad(["eval", "-", "--at", "x=1"], ["<stdin> is not UTF-8 text: byte 0xff at offset 4"], stdin=b"x + \xff\n"),
    "a non-UTF-8 program file": Bad(["eval", "{tmp}/bad.wl", "--at", "x=1"], ["bad.wl is not UTF-8 text: byte 0xe9 at offset 4"], files={"bad.wl": "x + é".encode("latin-1")}),
    "a 10 MB expression": Bad(
        ["eval", "-"],
        [f"the input is {TEN_MEGABYTES:,} characters long; dcalc reads at most {DEFAULT_MAX_CHARS:,}", "DCALC_MAX_CHARS"],
        stdin="x+" * (TEN_MEGABYTES // 2 - 1) + "xy",
    ),
    "a 10^5-deep nest of parentheses left open": Bad(["eval", "-"], ["the input ends too early", "the '(' at line 1, column 1 is never closed"], stdin="(" * 100_000 + "x" + ")" * 99_999),
    # ---- values given with --at ------------------------------------------------------------
    "an input without a value": Bad(["eval", LECTURE, "--at", "x1=2"], ["no value for the input 'x2'", "--at x2=..."]),
    "no values at all": Bad(["eval", LECTURE], ["no value for the input 'x1'", "also missing: x2"]),
    "--at as the last word": Bad(["eval", "x", "--at"], ["Option '--at' requires an argument"]),
    "--at without a value": Bad(["eval", "x", "--at", "x="], ["the input ends after '=': expected an expression or @file", "--at:1:3"]),
    "--at with a name and no '='": Bad(["eval", "x", "--at", "x"], ["the input ends too early: expected '='", "--at:1:2"]),
    "--at giving an input two values": Bad(["eval", "x", "--at", "x=1,x=2"], ["'x' is given a value twice", "--at:1:5"]),
    "two --at options giving an input": Bad(["eval", "x", "--at", "x=1", "--at", "x=2"], ["'x' is given a value twice (an earlier --at gives it one)", "--at:1:1"]),
    "--at with a malformed number": Bad(["eval", "x", "--at", "x=1e"], ["malformed number '1e'", "numbers are written", "--at:1:3"]),
    "--at with two decimal points": Bad(["eval", "x", "--at", "x=1.2.3"], ["malformed number '1.2.3'", "--at:1:3"]),
    "--at with a doubled digit separator": Bad(["eval", "x", "--at", "x=1__000"], ["malformed number '1__000'"]),
    "--at with a ragged list": Bad(["eval", "x", "--at", "x=[[1,2],[3]]"], ["ragged list: its elements have the shapes (2,), (1,)", "--at:1:3"]),
    "--at with a name in a value": Bad(["eval", "x", "--at", "x=y"], ["unknown name 'y' in a value"]),
    "--at with a tuple": Bad(["eval", "x", "--at", "x=(1,2)"], ["not a tuple"]),
    "--at declaring an input": Bad(["eval", "x", "--at", "x=load('y')"], ["load declares an input; a value cannot have inputs"]),
    "--at with an empty list": Bad(["eval", "x", "--at", "x=[]"], ["the value of 'x' is empty"]),
    "--at with an array too large to make": Bad(["eval", "x", "--at", "x=zeros(100000, 100000, 100000)"], ["cannot make zeros", "Unable to allocate", "--at:1:3"]),
    "--at with a value of no input's shape": Bad(["eval", "A @ x", "--at", A_2x2 + ",x=[1,2,3]"], ["(2, 2) and (3,)", "A @ x"]),
    # ---- data files named in values --------------------------------------------------------------
    "a missing .npy file": Bad(["eval", "x", "--at", "x=@missing.npy"], ["no such file: missing.npy", "--at:1:3"]),
    "a truncated .npy file": Bad(["eval", "x", "--at", "x=@{tmp}/cut.npy"], ["cannot read", "cut.npy"], files={"cut.npy": truncated_npy}),
    "an empty .npy file": Bad(["eval", "x", "--at", "x=@{tmp}/empty.npy"], ["cannot read", "empty.npy"], files={"empty.npy": b""}),
    "a .json file holding no array": Bad(["eval", "x", "--at", "x=@{tmp}/v.json"], ["cannot read", "v.json", "an object of named values", "--at-file"], files={"v.json": b'{"a": 1}'}),
    "a folder named like a data file": Bad(["eval", "x", "--at", "x=@{tmp}"], ["is a folder, not a file"]),
    "a direction that is not finite": Bad(["grad", LECTURE, "--at", "x1=2,x2=5", "--dir", "x1=nan,x2=0"], ["the direction for 'x1' is not finite"]),
    "a folder as INPUT": Bad(["eval", "{tmp}"], ["is a folder, not a file or an expression"]),
    "an unknown Hessian engine": Bad(["hessian", "x^2", "--at", "x=1", "--engine", "foo"], ["input error: unknown Hessian engine 'foo'"]),
    "a folder for --at-file": Bad(["eval", "x", "--at-file", "{tmp}"], ["is a folder, not a file"]),
    "a folder for --points": Bad(["grad", "x", "--points", "{tmp}"], ["is a folder, not a file"]),
    "--save with no file name": Bad(["grad", "x", "--at", "x=1", "--save", ""], ["--save at one point needs a file name"]),
    "--save naming a folder without a suffix": Bad(["grad", "x", "--at", "x=1", "--save", "{tmp}"], ["is a folder; give a file name"]),
    "a pickled .npy file": Bad(["eval", "x", "--at", "x=@{tmp}/objects.npy"], ["holds pickled objects, which dcalc refuses to load"], files={"objects.npy": pickled_npy}),
    "a data file of an unknown kind": Bad(["eval", "x", "--at", "x=@{tmp}/w.xlsx"], ["use .npy, .npz, .csv, .txt or .json"], files={"w.xlsx": b"PK"}),
}


@pytest.mark.parametrize("case", CATALOGUE.values(), ids=CATALOGUE.keys())
def test_bad_input_is_answered_with_a_message_and_exit_2(cli, tmp_path, case):
    for name, content in case.files.items():
        if callable(content):
            content(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    args = [argument.replace("{tmp}", str(tmp_path)) for argument in case.args]
    result = cli(*args, input=case.stdin)
    assert result.exit_code == 2, result.output[-2000:]
    assert "Traceback" not in result.output and "internal error" not in result.output
    for fragment in case.expected:
        assert fragment in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize(
    "text, at, warning, value",
    [
        ("x + 1", "x=1,y=2", "warning: 'y' is not an input", 2.0),
        ("pi*x", "pi=3,x=1", "warning: 'pi' is given a value, so here it is an input, not the constant pi = 3.14159", 3.0),
    ],
)
def test_a_value_for_a_name_that_is_not_an_input_is_a_warning(cli, text, at, warning, value):
    result = cli("eval", text, "--at", at, "--json")
    assert result.exit_code == 0
    assert warning in result.stderr
    assert json.loads(result.stdout) == {"value": value}


def test_pi_without_a_value_is_the_constant_without_a_warning(cli):
    assert "warning" not in cli("eval", "pi*x", "--at", "x=1").stderr


def test_unreadable_npy_file_is_bad_input(cli, tmp_path, monkeypatch):
    # Permissions cannot make a file unreadable for root, so the OS error is raised for it.
    path = tmp_path / "w.npy"
    np.save(path, np.ones(2))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    result = cli("eval", "x", "--at", f"x=@{path}")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "Permission denied" in result.stderr


def test_the_size_limit_can_be_raised(cli, monkeypatch):
    monkeypatch.setenv("DCALC_MAX_CHARS", "9")
    assert cli("eval", "x+x+x+x+x", "--at", "x=1").exit_code == 0
    refused = cli("eval", "x+x+x+x+x+x", "--at", "x=1")
    assert refused.exit_code == 2 and "the input is 11 characters long; dcalc reads at most 9" in refused.stderr
    monkeypatch.setenv("DCALC_MAX_CHARS", "11")
    assert cli("eval", "x+x+x+x+x+x", "--at", "x=1").exit_code == 0
    monkeypatch.setenv("DCALC_MAX_CHARS", "lots")
    refused = cli("eval", "x", "--at", "x=1")
    assert refused.exit_code == 2 and "DCALC_MAX_CHARS='lots' is not a whole number" in refused.stderr


def test_eval_at_one_point_checks_memory_too(cli):
    result = cli("eval", "x", "--at", "x=1", "--memory", "3Q")
    assert result.exit_code == 2 and "--memory '3Q' is not a size" in result.stderr
