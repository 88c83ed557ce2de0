"""Values for the inputs: ``--at x1=2,x2=5``, ``A=[[1,2],[3,4]]``, ``W=@weights.npy``.

``--at`` text goes through the grammar (start rule ``assignments``), so nested
lists and calls with commas inside them are read correctly. A value is a
constant expression (``pi/4``, ``-1e-3``, ``[1, 2, 3]``) evaluated by dcalc's own
evaluator, never by ``eval``; or ``@file`` (.npy and .npz, loaded with
allow_pickle=False, .csv/.txt and .json).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from lark import Token

from .errors import DcalcError, InputError, Span
from .parser import parse_values

VALUE_CONSTANTS = {"inf": math.inf, "nan": math.nan}


def parse_at(texts: Sequence[str] | str, origin: str = "--at") -> dict[str, np.ndarray]:
    """Every ``name=value`` in the given --at texts, as float arrays."""
    from .evaluate import evaluate
    from .program import _ProgramBuilder

    if isinstance(texts, str):
        texts = [texts]
    values: dict[str, np.ndarray] = {}
    for text in texts:
        tree = parse_values(text, origin)
        for item in tree.children:
            name_token, value_tree = item.children
            name = str(name_token)
            span = Span(text, name_token.start_pos, name_token.end_pos, name_token.line, name_token.column, origin)
            if name in values:
                raise InputError(f"{name!r} is given a value twice", span)
            if isinstance(value_tree, Token):
                value_span = Span(text, value_tree.start_pos, value_tree.end_pos, value_tree.line, value_tree.column, origin)
                values[name] = load_file(str(value_tree)[1:], value_span)
                continue
            builder = _ProgramBuilder(text, origin, given=(), shapes={}, constants=VALUE_CONSTANTS, inputs_allowed=False)
            node = builder.expression.build(value_tree)
            (value,) = evaluate(builder.graph, {}, outputs=[node])
            values[name] = np.asarray(value, dtype=float)
    return values


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
        return path[1:-1]
    return path


def load_file(reference: str, span: Span | None = None) -> np.ndarray:
    """An array from a file: path, or path:key for one array of an .npz."""
    reference = _unquote(reference)
    key = None
    head, colon, tail = reference.rpartition(":")
    if colon and head.lower().endswith(".npz"):
        reference, key = head, tail
    path = Path(reference)
    if not path.is_file():
        raise InputError(f"no such file: {reference}", span)
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
            array = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=1)
        elif suffix == ".json":
            array = np.array(json.loads(path.read_text(encoding="utf-8")), dtype=float)
        else:
            raise InputError(f"cannot read {reference}: use .npy, .npz, .csv, .txt or .json", span)
    except DcalcError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise InputError(f"{reference} holds pickled objects, which dcalc refuses to load (allow_pickle=False)", span) from None
        raise InputError(f"cannot read {reference}: {error}", span) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read {reference}: {error}", span) from None
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise InputError(f"{reference} holds {array.dtype} data, not numbers", span)
    return np.asarray(array, dtype=float)
