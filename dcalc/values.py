"""Values for the inputs: ``--at x1=2,x2=5``, ``A=[[1,2],[3,4]]``, ``W=@weights.npy``.

``--at`` text goes through the grammar (start rule ``assignments``), so nested
lists and calls with commas inside them are read correctly. A value is a
constant expression (``pi/4``, ``-1e-3``, ``[1, 2, 3]``) evaluated by dcalc's own
evaluator, never by ``eval``; or ``@file`` (.npy and .npz, loaded with
allow_pickle=False, .csv/.txt and .json).
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DcalcError, InputError, Span
from .files import file_to_read
from .parser import parse_values

VALUE_CONSTANTS = {"inf": math.inf, "nan": math.nan}
DEFAULT_SEED = 0


def _shape_argument(value, function: str):
    shape = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(size, int) and size >= 0 for size in shape):
        raise InputError(f"{function} takes a shape of whole numbers, as in {function}(3, 4) or {function}((3, 4))")
    return tuple(shape)


class Constructors:
    """randn(72, 784), rand, zeros, ones, eye(n), full(shape, v): values made for
    --at and sample files, drawn from one seeded generator so runs repeat."""

    names = ("randn", "rand", "zeros", "ones", "eye", "full")

    def __init__(self, seed: int = DEFAULT_SEED):
        self.seed = seed

    @cached_property
    def rng(self) -> np.random.Generator:
        # Made on first use: numpy.random costs every --at a few ms of start-up.
        return np.random.default_rng(self.seed)

    def make(self, name: str, arguments: list) -> np.ndarray:
        try:
            return self._make(name, arguments)
        except (ValueError, MemoryError) as error:  # NumPy's "maximum dimension", "Unable to allocate 7 PiB"
            raise InputError(f"cannot make {name}(...): {error}") from None

    def _make(self, name: str, arguments: list) -> np.ndarray:
        if name == "full":
            if len(arguments) != 2:
                raise InputError("full takes a shape and a value, as in full((2, 3), 1.5)")
            return np.full(_shape_argument(arguments[0], name), float(arguments[1]))
        if name == "eye":
            if len(arguments) != 1 or not isinstance(arguments[0], int):
                raise InputError("eye takes a size, as in eye(3)")
            return np.eye(arguments[0])
        shape = _shape_argument(tuple(arguments) if len(arguments) != 1 else arguments[0], name)
        if name == "randn":
            return self.rng.standard_normal(shape)
        if name == "rand":
            return self.rng.random(shape)
        return (np.zeros if name == "zeros" else np.ones)(shape)


def parse_at(texts: Sequence[str] | str, origin: str = "--at", seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """Every ``name=value`` in the given --at texts, as float arrays (randn and rand
    draw from a generator seeded with ``seed``)."""
    if isinstance(texts, str):
        texts = [texts]
    values: dict[str, np.ndarray] = {}
    constructors = Constructors(seed)
    for text in texts:
        tree = parse_values(text, origin)
        for item in tree.children:
            name = item.children[0]
            if str(name) in values:
                span = Span(text, name.start_pos, name.end_pos, name.line, name.column, origin)
                raise InputError(f"{str(name)!r} is given a value twice (an earlier {origin} gives it one)", span)
        values.update(values_from_items(tree.children, text, origin, constructors=constructors))
    return values


def values_from_items(
    items, text: str, origin: str, base_dir: Path | None = None, allow_outside: bool = True, constructors: Constructors | None = None
) -> dict[str, np.ndarray]:
    """``name = value`` items of the grammar (``value_item``) as float arrays; files
    are read relative to ``base_dir`` and, unless ``allow_outside``, only inside it."""
    values: dict[str, np.ndarray] = {}
    for item in items:
        name_token, value_tree = item.children
        name = str(name_token)
        if name in values:
            span = Span(text, name_token.start_pos, name_token.end_pos, name_token.line, name_token.column, origin)
            raise InputError(f"{name!r} is given a value twice", span)
        values[name] = value_of(value_tree, text, origin, base_dir, allow_outside, constructors)
    return values


def value_of(
    value_tree, text: str, origin: str, base_dir: Path | None = None, allow_outside: bool = True, constructors: Constructors | None = None
) -> np.ndarray:
    """One value: a constant expression evaluated by dcalc, or @file."""
    from .evaluation import evaluate
    from .program import _ProgramBuilder

    if isinstance(value_tree, str) and value_tree.type == "FILE_REF":  # a token
        span = Span(text, value_tree.start_pos, value_tree.end_pos, value_tree.line, value_tree.column, origin)
        return load_file(str(value_tree)[1:], span, base_dir, allow_outside)
    from .graph import Node

    builder = _ProgramBuilder(text, origin, given=(), shapes={}, constants=VALUE_CONSTANTS, inputs_allowed=False)
    builder.constructors = constructors or Constructors()
    node = builder.expression.build(value_tree)
    if not isinstance(node, Node):
        meta = getattr(value_tree, "meta", None)
        span = builder.span(meta)
        raise InputError("a value is a number, a list, a constant expression or @file, not a tuple or text", span)
    (value,) = evaluate(builder.graph, {}, outputs=[node])
    return np.asarray(value, dtype=float)


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
        return path[1:-1]
    return path


def load_file(reference: str, span: Span | None = None, base_dir: Path | None = None, allow_outside: bool = True) -> np.ndarray:
    """An array from a file: path, or path:key for one array of an .npz."""
    import json

    reference = _unquote(reference)
    key = None
    head, colon, tail = reference.rpartition(":")
    if colon and head.lower().endswith(".npz"):
        reference, key = head, tail
    path = Path(reference)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if base_dir is not None and not allow_outside:
        resolved = path.resolve()
        if resolved != base_dir.resolve() and base_dir.resolve() not in resolved.parents:
            raise InputError(
                f"{reference} is outside the sample's folder {base_dir}; a sample may read only files in its own folder tree",
                span,
                hint="run dcalc check with --allow-outside to permit it",
            )
    file_to_read(path, span)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if key is None:
                    if len(names) != 1:
                        raise InputError(f"{reference} holds several arrays ({', '.join(names)}): pick one with {reference}:NAME", span)
                    key = names[0]
                if key not in names:
                    raise InputError(f"{reference} has no array {key!r} (it has {', '.join(names)})", span)
                array = archive[key]
        elif suffix in (".csv", ".txt"):
            delimiter = "," if suffix == ".csv" else None
            try:
                array = np.loadtxt(path, delimiter=delimiter, ndmin=1)
            except ValueError:
                with open(path, encoding="utf-8-sig") as handle:
                    place = bad_row(numbered_lines(handle), delimiter)
                raise InputError(f"cannot read {reference}: {place}", span) from None
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                raise InputError(
                    f"cannot read {reference}: it holds an object of named values, not one value",
                    span,
                    hint=f"give it to --at-file, which reads every name in it, or write one number or list in {path.name}",
                )
            array = np.array(data, dtype=float)
        else:
            raise InputError(f"cannot read {reference}: use .npy, .npz, .csv, .txt or .json", span)
    except DcalcError:
        raise
    except ValueError as error:
        raise unreadable(reference, path, error, span) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, EOFError, TypeError) as error:
        raise InputError(f"cannot read {reference}: {error or type(error).__name__}", span) from None
    real_numbers(array, reference, span)
    return np.asarray(array, dtype=float)


def real_numbers(array: np.ndarray, reference: str, span=None) -> None:
    """Refuse data that is not real numbers (text, objects, complex numbers, whose
    imaginary parts would be dropped without a word)."""
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{reference} holds complex numbers; dcalc's inputs are real", span)
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise InputError(f"{reference} holds {array.dtype} data, not numbers", span)


def unreadable(reference: str, path: Path, error: Exception, span=None) -> InputError:
    """Why NumPy could not load ``path``. np.load takes any file that is neither an
    .npy nor a zip for a pickle; only one that starts as NumPy's files do may hold one."""
    if isinstance(error, ValueError) and "pickle" in str(error).lower():
        try:
            with open(path, "rb") as handle:
                head = handle.read(6)
        except OSError:
            head = b""
        if head.startswith((b"\x93NUMPY", b"PK")):
            return InputError(f"{reference} holds pickled objects, which dcalc refuses to load (allow_pickle=False)", span)
        return InputError(f"{reference} is not a NumPy file: it starts neither as an .npy nor as an .npz does", span)
    return InputError(f"cannot read {reference}: {error or type(error).__name__}", span)


def numbered_lines(handle):
    """(line number, line) of each line of a table of numbers that is neither blank nor a # comment."""
    return ((number, line) for number, line in enumerate(handle, start=1) if line.strip() and not line.lstrip().startswith("#"))


def bad_row(numbered_lines, delimiter: str | None, expected: int | None = None) -> str:
    """Where a table of numbers that NumPy refused goes wrong: the first line (of
    ``(line number, text)`` pairs) with a cell that is no number, or with a
    different count of cells than ``expected`` (or than the first line)."""
    for number, line in numbered_lines:
        cells = [cell.strip() for cell in (line.split(delimiter) if delimiter else line.split())]
        for column, cell in enumerate(cells, start=1):
            try:
                float(cell)
            except ValueError:
                shown = repr(cell) if cell else "an empty cell"
                return f"line {number}, column {column}: {shown} is not a number"
        if expected is None:
            expected = len(cells)
        elif len(cells) != expected:
            return f"line {number} has {len(cells)} cell{'s' if len(cells) != 1 else ''}, where {expected} {'are' if expected != 1 else 'is'} expected"
    return "its rows are not a table of numbers"


def load_point_file(reference: str) -> dict[str, np.ndarray]:
    """Values for many inputs from one file: a .json object {"name": value} or the
    named arrays of an .npz (loaded with allow_pickle=False)."""
    import json
    import re

    path = file_to_read(reference)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise InputError(f"{reference} must hold a JSON object of input names and values")
            values = {name: np.array(value, dtype=float) for name, value in data.items()}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                values = {}
                for name in archive.files:
                    array = archive[name]
                    real_numbers(array, f"{reference}:{name}")
                    values[name] = np.asarray(array, dtype=float)
        else:
            raise InputError(f"--at-file reads .json or .npz, not {suffix or 'a file without a suffix'}")
    except DcalcError:
        raise
    except (ValueError, TypeError, OSError, UnicodeDecodeError, EOFError) as error:
        raise unreadable(reference, path, error) from None
    for name in values:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InputError(f"{reference} names {name!r}, which is not an input name")
    return values
