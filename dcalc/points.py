"""Many points at once: read in chunks, every engine over each chunk, a summary as they go.

A point source is read a chunk at a time: a ``.csv`` file a block of lines at a time
(its header names the columns, or ``--inputs`` does), a ``.npy`` file of rows a
block of rows at a time (read into fresh arrays, not through a memory map, whose
pages would stay counted against the process), an ``.npz`` file of named arrays whose first axis runs over the points.
Each chunk goes through the engines on a pool of threads (NumPy lets go of the
interpreter inside its loops, so the cores share the work); the chunk size keeps a
chunk's values within the memory budget and large enough that each NumPy call has a
long loop to run (the threads take turns for the interpreter's lock between them). As
chunks finish, a running summary of every value and partial (count, least, greatest,
mean, points where it is not finite) and of the engines' agreement at each point is
kept, and a writer puts the values and partials in a file. Nothing grows with the
number of points except what is written.
"""

from __future__ import annotations

import math
import os
import time
import re
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import DcalcError, InputError
from .files import file_to_read
from .graph import Graph
from .values import bad_row, numbered_lines, real_numbers

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# How much a chunk's values should take. Threads take turns for the interpreter's
# lock at every NumPy call, and on a virtual machine a turn costs tens of microseconds:
# a thread's calls must each have a long loop to run, or two threads are slower than
# one. Measured (bench/points.py, 2 cores, 10^6 points of the lecture example): chunks
# of 55,556 points 0.52-0.57 x hand-written NumPy, 100,000 0.47-0.49, 250,000 0.43-0.46;
# 16,384 points on two threads ran 3 times slower than on one. So chunks are large, up
# to 64 MiB of values, and a chunk under THREADED_CHUNK points is not shared out: a
# budget that cannot give each thread that many runs fewer threads (a 1,000-operation
# program: 4,000-point chunks on 2 threads 1.05 s for 2 x 10^5 points, on 1 thread
# 0.69 s, 16,384-point chunks on 2 threads 0.55 s).
CHUNK_BYTES = 64 * 2**20
MIN_CHUNK, MAX_CHUNK = 4096, 2**18
THREADED_CHUNK = 16384
DEVICE_CHUNK = 2**22
SHOWN_POINTS = 5  # how many point numbers a report lists


# ---- sources ------------------------------------------------------------------------------------


@dataclass
class PointSource:
    """Values for some inputs at ``count`` points: ``shapes`` gives each input's shape at
    one point; ``chunks(size)`` yields ``(first point, {name: array (n,) + shape})``."""

    origin: str
    count: int
    shapes: dict[str, tuple]
    read: Callable[[int], Iterator[tuple[int, dict]]]

    def chunks(self, size: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        return self.read(size)


def read_points(path: str, inputs: list[str] | None = None) -> PointSource:
    """The points in ``path`` (.csv, .npy or .npz); ``inputs`` names the columns of a
    .csv without a header line or of a .npy, in order."""
    file = file_to_read(path)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return _csv_points(file, path, inputs)
    if suffix == ".npy":
        return _npy_points(file, path, inputs)
    if suffix == ".npz":
        return _npz_points(file, path, inputs)
    raise InputError(f"points are read from .csv, .npy or .npz files, not {suffix or 'a file without a suffix'}: {path}")


def _check_names(names: list[str], origin: str) -> None:
    for name in names:
        if not NAME.fullmatch(name):
            raise InputError(f"{origin} names a column {name!r}, which is not an input name")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{origin} names the column {repeated[0]!r} twice")


def _columns(count: int, inputs: list[str] | None, origin: str, what: str) -> list[str]:
    if inputs is None:
        raise InputError(f"{origin} {what}: name its {count} columns, in order, with --inputs NAME,...")
    if len(inputs) != count:
        raise InputError(f"{origin} has {count} columns, but --inputs names {len(inputs)}: {', '.join(inputs)}")
    _check_names(inputs, "--inputs")
    return list(inputs)


def _csv_points(file: Path, origin: str, inputs: list[str] | None) -> PointSource:
    """One row per point. The first line that is not blank names the columns when it is
    not numbers, also as a # comment (np.savetxt writes its header "# x1,x2")."""
    try:
        with open(file, encoding="utf-8-sig") as handle:
            first_number, first = next(((n, line) for n, line in enumerate(handle, start=1) if line.strip()), (0, ""))
        with open(file, encoding="utf-8-sig") as handle:
            lines = numbered_lines(handle)
            row_number, row = next(lines, (0, ""))  # the first line that is no comment
            rows = (1 if row else 0) + sum(1 for _ in lines)
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {origin}: {error}") from None
    if not first.strip():
        raise InputError(f"{origin} is empty: it needs a header line (input names) and one line per point")
    comment = [cell.strip() for cell in first.strip().lstrip("#").split(",")]
    cells = [cell.strip() for cell in row.strip().split(",")] if row else []
    if first_number != row_number and row and all(NAME.fullmatch(cell) for cell in comment) and len(comment) == len(cells):
        cells, row_number, header = comment, first_number, True  # "# x1,x2" names the columns
        rows += 1  # its first row was not counted out as a header below
    else:
        try:
            [float(cell) for cell in cells]
            header = False
        except ValueError:
            header = True
    if header:
        # Spreadsheets and R quote the names: "x1","x2".
        cells = [cell[1:-1].strip() if len(cell) >= 2 and cell[0] == cell[-1] == '"' else cell for cell in cells]
        if inputs is not None and inputs != cells:
            raise InputError(f"{origin} names its columns in its header ({', '.join(cells)}); --inputs is for files without one")
        _check_names(cells, origin)
        names = cells
        rows -= 1  # the header was counted as a row
        skip = row_number  # lines up to the header
    else:
        if not row:
            raise InputError(f"{origin} has no points")
        names = _columns(len(cells), inputs, origin, "has no header line")
        skip = row_number - 1
    if rows == 0:
        raise InputError(f"{origin} has a header but no points")

    def read(size: int):
        with open(file, encoding="utf-8-sig") as handle:
            lines = ((number, line) for number, line in numbered_lines(handle) if number > skip)
            start = 0
            while True:
                block = list(islice(lines, size))
                if not block:
                    return
                try:
                    table = np.loadtxt([line for _, line in block], delimiter=",", ndmin=2, dtype=float)
                except ValueError:
                    table = None
                if table is None or table.shape[1] != len(names):
                    raise InputError(f"{origin}: {bad_row(block, ',', len(names))}")
                yield start, {name: table[:, column] for column, name in enumerate(names)}
                start += len(block)

    return PointSource(origin, rows, {name: () for name in names}, read)


def _load(file: Path, origin: str, **options):
    try:
        return np.load(file, allow_pickle=False, **options)
    except (ValueError, OSError, EOFError) as error:
        from .values import unreadable

        raise unreadable(origin, file, error) from None


def _npy_points(file: Path, origin: str, inputs: list[str] | None) -> PointSource:
    array = _load(file, origin, mmap_mode="r")
    real_numbers(array, origin)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise InputError(f"{origin} has shape {array.shape}: points are rows of a 2-D array (or a 1-D array for one input)")
    columns = 1 if array.ndim == 1 else array.shape[1]
    names = _columns(columns, inputs, origin, "is an array of rows")
    count, dtype, offset, in_rows = array.shape[0], array.dtype, array.offset, array.flags.c_contiguous
    table = array.reshape(count, columns)

    def read(size: int):
        if not in_rows:  # stored column by column: read through the memory map
            for start in range(0, count, size):
                block = np.asarray(table[start : start + size], dtype=float)
                yield start, {name: block[:, column] for column, name in enumerate(names)}
            return
        # Row by row, read into a fresh block each time rather than through the map: mapped
        # pages, once read, would count as this process's memory for as long as they stay.
        with open(file, "rb") as handle:
            for start in range(0, count, size):
                rows = min(size, count - start)
                handle.seek(offset + start * columns * dtype.itemsize)
                block = np.fromfile(handle, dtype=dtype, count=rows * columns).reshape(rows, columns).astype(float, copy=False)
                yield start, {name: block[:, column] for column, name in enumerate(names)}

    return PointSource(origin, count, {name: () for name in names}, read)


def _npz_points(file: Path, origin: str, inputs: list[str] | None) -> PointSource:
    if inputs is not None:
        raise InputError(f"{origin} names its arrays; --inputs is for .csv files without a header and for .npy files")
    with _load(file, origin) as archive:
        arrays = {name: np.asarray(archive[name]) for name in archive.files}
    if not arrays:
        raise InputError(f"{origin} holds no arrays")
    _check_names(list(arrays), origin)
    for name, array in arrays.items():
        real_numbers(array, f"{origin}:{name}")
        if array.ndim == 0:
            raise InputError(f"{origin}:{name} is a single number; each array's first axis runs over the points")
    counts = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} has {count}" for name, count in counts.items())
        raise InputError(f"{origin}: every array's first axis runs over the points, but {listed}")
    count = next(iter(counts.values()))
    if count == 0:
        raise InputError(f"{origin} holds no points: its arrays' first axis has length 0")

    def read(size: int):
        for start in range(0, count, size):
            yield start, {name: np.asarray(array[start : start + size], dtype=float) for name, array in arrays.items()}

    return PointSource(origin, count, {name: array.shape[1:] for name, array in arrays.items()}, read)


# ---- the running summary -------------------------------------------------------------------------


@dataclass
class Quantity:
    """A value (``input`` None) or partial over the points seen so far (its finite entries)."""

    output: str
    input: str | None = None
    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    entries: int = 0
    nonfinite: int = 0  # points where some entry is not finite

    def add(self, block: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
        """Take in a chunk (points first), its statistics only from the points where
        ``among`` holds (a partial where the value is finite); returns, per point,
        whether it is all finite."""
        block = np.asarray(block, dtype=float)
        finite = np.isfinite(block)
        per_point = finite.reshape(len(block), -1).all(axis=1) if block.ndim > 1 else finite
        self.count += len(block)
        self.nonfinite += int(len(block) - np.count_nonzero(per_point))
        if among is not None:
            finite &= np.reshape(among, (-1,) + (1,) * (block.ndim - 1))
        values = block if finite.all() else block[finite]  # no copy where every entry counts
        if values.size:
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))
            self.total += float(values.sum())
            self.entries += values.size
        return per_point

    @property
    def mean(self) -> float:
        return self.total / self.entries if self.entries else math.nan


@dataclass
class EngineTally:
    """How an engine compared with the reference over the points."""

    name: str
    failure: str | None = None
    worst: float = 0.0  # relative difference (exact engines) or times the estimate (numeric)
    disagreeing: int = 0
    first_disagreeing: list[int] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BatchReport:
    origin: str
    count: int
    quantities: list[Quantity]
    engines: list[EngineTally]
    reference: str | None
    nonfinite: int = 0
    first_nonfinite: list[int] = field(default_factory=list)
    chunk: int = 0
    workers: int = 1
    where_nonfinite: DcalcError | None = None
    # Points where the reference took 0·∞ as 0 (not judged against the other engines).
    zero_times_infinity: int = 0
    first_zero_times_infinity: list[int] = field(default_factory=list)
    where_zero_times_infinity: DcalcError | None = None

    @property
    def agrees(self) -> bool:
        return all(tally.failure is not None or tally.disagreeing == 0 for tally in self.engines)


# ---- running -----------------------------------------------------------------------------------------


def bytes_per_point(graph: Graph, engines, wrt_nodes, outputs, method: str = "richardson") -> int:
    """Working memory a point needs in the hungriest engine: every node's value, and its
    tangents (forward), cotangents (reverse) or perturbed copies (numeric), and the
    largest scratch arrays an op's impl makes (``Primitive.scratch``)."""
    from .engines.numeric import evaluations

    ancestors = graph.ancestors(outputs)
    nodes = sum(node.size for node in ancestors)
    scratch = max((node.prim.scratch * node.inputs[0].size for node in ancestors if node.prim.scratch), default=0)
    inputs = sum(node.size for node in wrt_nodes)
    out = sum(node.size for node in outputs)
    per_engine = {"reverse": 1 + out, "forward": 1 + inputs, "symbolic": 4, "numeric": evaluations(method) * max(inputs, 1), None: 1}
    return 8 * nodes * max(per_engine.get(engine, 2) for engine in (*engines, None)) + 8 * (inputs + out) * 4 + 8 * scratch


def chunking(graph: Graph, engines, wrt_nodes, outputs, memory: int | None, workers: int | None, xp, count: int, method: str = "richardson") -> tuple[int, int, int]:
    """(points per chunk, threads, memory for each thread's engine calls) for ``count``
    points: chunks within the budget, of about CHUNK_BYTES, evened out over the threads."""
    from .engines import DEFAULT_MEMORY

    memory = memory or DEFAULT_MEMORY
    device = xp is not np
    per_point = max(bytes_per_point(graph, engines, wrt_nodes, outputs, method), 1)
    if not workers:
        # One GPU takes its kernels in order: more threads would only queue them. On the
        # CPU, as many threads as there are cores and chunks of THREADED_CHUNK points.
        shares = min(count, memory // per_point) // THREADED_CHUNK
        workers = 1 if device else max(1, min(os.cpu_count() or 1, 8, shares))
    size = chunk_points(per_point, memory, workers, device)
    return balanced(size, count, workers), workers, max(memory // workers, 1)


def chunk_points(per_point: int, memory: int, workers: int, device: bool = False) -> int:
    """Points per chunk: within the budget; on the CPU also of about CHUNK_BYTES, and on
    a GPU as many as the budget allows (each kernel launch should have plenty to do)."""
    affordable = memory // max(per_point * workers, 1)
    if device:
        return int(max(1, min(affordable, DEVICE_CHUNK)))
    least = THREADED_CHUNK if workers > 1 else MIN_CHUNK
    return int(max(1, min(affordable, MAX_CHUNK, max(least, CHUNK_BYTES // max(per_point, 1)))))


def balanced(size: int, count: int, workers: int) -> int:
    """Points per chunk, at most ``size``, so that ``count`` points make chunks of
    (nearly) equal size, as many for each thread: a last chunk of a few points would
    keep one thread busy while the others wait; a share for every thread, however
    few the points."""
    if count <= 0:
        return 1
    rounds = math.ceil(count / (size * workers))  # chunks per thread
    return math.ceil(count / (rounds * workers))


def at_points(engine: str, graph: Graph, values: dict, outputs=None, wrt=None, memory: int | None = None, workers: int | None = None, xp=np, **options):
    """``engine`` at many points held in memory: each value carries one trailing point
    axis (of length N, or 1 for a value every point shares), as for ``run_engine(...,
    batch_ndim=1)``, and so does the result. The points go in chunks (``chunking``:
    within ``memory``) on a pool of threads, each chunk's results copied into place."""
    from .engines import resolve, run_engine
    from .engines.reverse import staged_gradient

    nodes, output_names, wrt_nodes = resolve(graph, outputs, wrt)
    count = max(int(np.shape(value)[-1]) if np.ndim(value) else 1 for value in values.values())
    size, workers, options["memory"] = chunking(graph, (engine,), wrt_nodes, nodes, memory, workers, xp, count, options.get("method", "richardson"))

    def chunk_of(start: int) -> dict:
        return {name: value[..., start : start + size] if np.ndim(value) and np.shape(value)[-1] == count else value for name, value in values.items()}

    def run(start: int, into=None):
        where = {} if into is None else {"into": into}
        return start, run_engine(engine, graph, chunk_of(start), outputs=outputs, wrt=wrt, batch_ndim=1, xp=xp, **options, **where)

    starts = range(0, count, size)
    if len(starts) == 1:
        return run(0)[1]
    began = time.perf_counter()
    if engine == "reverse" and staged_gradient(nodes):
        result = _staged_at_points(run, wrt_nodes, count, size, workers, xp)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pieces = pool.map(run, starts)
            start, first = next(pieces)
            whole = _WholeResult(first, count, size, nodes, wrt_nodes, xp)
            whole.take(start, first)
            for start, piece in pieces:
                whole.take(start, piece)
        result = whole.settle()
    result.seconds = time.perf_counter() - began  # the whole run, on every thread
    return result


def _staged_at_points(run, wrt_nodes, count: int, size: int, workers: int, xp):
    """Reverse mode's gradient (its staged sweep, engines/staged.py) chunk by chunk,
    each chunk's value and partials written straight into its slice of the whole
    arrays (``run(start, into)`` runs one chunk)."""
    results = [xp.empty((count,))] + [xp.empty(node.shape + (count,)) for node in wrt_nodes]

    def fill(start: int):
        return run(start, [result[..., start : min(count, start + size)] for result in results])[1]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        first = list(pool.map(fill, range(0, count, size)))[0]
    first.values, first.jacobian = results[:1], dict(zip(first.jacobian, results[1:]))
    return first


class _WholeResult:
    """An engine's result over all points, filled in chunk by chunk (of ``size``
    points; a piece's arrays end in that many points, or in 1 where every point of
    the chunk has the same value)."""

    def __init__(self, first, count: int, size: int, outputs, wrt_nodes, xp):
        self.count, self.size, self.xp = count, size, xp
        self.result = first
        self.guarded = None  # the points where 0·∞ was taken as 0, once there are any
        output_shape = {name: node.shape for name, node in zip(first.output_names, outputs)}
        input_shape = {node.params["name"]: node.shape for node in wrt_nodes}

        def shape_of(key, block):
            """A block's shape at one point: by its key, (output, input) or an output's projections."""
            if isinstance(key, tuple):
                return output_shape[key[0]] + input_shape.get(key[1], ())
            rank = len(output_shape[key])
            return output_shape[key] + tuple(np.shape(block)[rank : rank + 1])  # the directions

        self.values = [self._room(node.shape) for node in outputs]
        self.jacobian = {key: self._room(shape_of(key, block)) for key, block in first.jacobian.items()}
        self.error = None if first.error is None else {key: self._room(shape_of(key, block)) for key, block in first.error.items()}
        self.projections = None if first.projections is None else {key: self._room(shape_of(key, block)) for key, block in first.projections.items()}

    def settle(self):
        """The result, holding the whole arrays once every chunk is in them."""
        self.result.values, self.result.jacobian, self.result.error = self.values, self.jacobian, self.error
        if self.projections is not None:
            self.result.projections = self.projections
        if self.guarded is not None:  # over every point, not the first chunk's
            self.result.note_zero_times_infinity(self.guarded)
        return self.result

    def _room(self, shape: tuple):
        return self.xp.empty(tuple(shape) + (self.count,))

    def take(self, start: int, piece) -> None:
        stop = min(self.count, start + self.size)
        pairs = list(zip(self.values, piece.values)) + [(self.jacobian[key], block) for key, block in piece.jacobian.items()]
        if self.error is not None:
            pairs += [(self.error[key], block) for key, block in piece.error.items()]
        if self.projections is not None:
            pairs += [(self.projections[key], block) for key, block in piece.projections.items()]
        for target, value in pairs:
            if np.ndim(value) < target.ndim:  # a value every point shares, without the point axis
                value = self.xp.asarray(value)[..., None]
            target[..., start:stop] = value
        if piece.zero_times_infinity:  # at some points of this chunk
            if self.guarded is None:
                self.guarded = np.zeros(self.count, dtype=bool)
            taken = piece.zero_times_infinity_at
            self.guarded[start:stop] = True if taken is None else taken
        if piece is not self.result:  # a point saw as many evaluations as its chunk: the most of any
            details = self.result.details
            for key, count in piece.details.items():
                if key.startswith("evaluations"):
                    details[key] = max(details[key], count)


def run_batch(
    graph: Graph,
    source: PointSource,
    shared: dict,
    engines=("reverse",),
    wrt: list[str] | None = None,
    method: str = "richardson",
    memory: int | None = None,
    workers: int | None = None,
    writer=None,
    progress: Callable[[int], None] | None = None,
    xp=np,
) -> BatchReport:
    """Every engine at every point of ``source`` (other inputs from ``shared``, the same
    at every point), on ``xp``'s arrays (numpy, or cupy on a GPU). With no engines,
    the values alone."""
    from .backend import to_device, to_host
    from .compare import run_engines
    from .engines import resolve
    from .evaluation import evaluate

    outputs, output_names, wrt_nodes = resolve(graph, None, wrt)
    size, workers, engine_memory = chunking(graph, engines, wrt_nodes, outputs, memory, workers, xp, source.count, method)
    quantities = [Quantity(output) for output in output_names]
    if engines:
        quantities += [Quantity(output, node.params["name"]) for output in output_names for node in wrt_nodes]
    report = BatchReport(source.origin, source.count, quantities, [], engines[0] if engines else None, chunk=size, workers=workers)
    report.engines = [EngineTally(name) for name in engines[1:]]
    constants = to_device({name: np.asarray(value)[..., None] for name, value in shared.items()}, xp)

    def compute(chunk: dict):
        values = {**constants, **to_device({name: np.moveaxis(array, 0, -1) for name, array in chunk.items()}, xp)}
        if not engines:
            found = [to_host(value) for value in evaluate(graph, values, xp=xp, batch_ndim=1)]
            return [np.broadcast_to(value, node.shape + (len(next(iter(chunk.values()))),)) for node, value in zip(outputs, found)], None
        return None, run_engines(graph, values, engines, wrt, None, method, batch_ndim=1, memory=engine_memory, xp=xp)

    first_bad: dict = {}  # every input at the first point that is not finite
    first_guarded: dict = {}  # ... and at the first where 0·∞ was taken as 0

    def point_at(chunk: dict, k: int) -> dict:
        """Every input's value at point ``k`` of ``chunk`` (the shared ones too)."""
        values = {**shared, **{name: np.array(array[k]) for name, array in chunk.items()}}
        return {name: values[name] for name in graph.input_names}

    def take(start: int, chunk: dict, outcome) -> None:
        points = len(next(iter(chunk.values())))
        values, runs = outcome
        reference = runs[0].result if runs is not None else None
        if reference is not None:
            values = reference.values
        # Points first; a value or partial that is the same at every point (no input
        # read from the file reaches it) is spread over them.
        blocks = [np.moveaxis(np.broadcast_to(value, node.shape + (points,)), -1, 0) for node, value in zip(outputs, values)]
        if runs is not None:
            for output, output_node in zip(output_names, outputs):
                for node in wrt_nodes:
                    block = reference.jacobian[(output, node.params["name"])]
                    blocks.append(np.moveaxis(np.broadcast_to(block, output_node.shape + node.shape + (points,)), -1, 0))
        finite = np.ones(points, dtype=bool)
        for position, (quantity, block) in enumerate(zip(report.quantities, blocks)):
            if position == len(output_names):
                value_finite = finite.copy()  # a partial's figures come from these points only
            finite &= quantity.add(block, value_finite if position >= len(output_names) else None)
        bad = np.flatnonzero(~finite)
        if len(bad) and not report.nonfinite:  # the first such point: where did it go wrong?
            first_bad.update(point_at(chunk, bad[0]))
        report.nonfinite += len(bad)
        report.first_nonfinite += _numbered(start, bad, report.first_nonfinite)
        judged = finite
        guarded = reference.zero_times_infinity_at if reference is not None else None
        if guarded is not None:
            taken = np.flatnonzero(guarded & finite)
            if len(taken) and not report.zero_times_infinity:
                first_guarded.update(point_at(chunk, taken[0]))
            report.zero_times_infinity += len(taken)
            report.first_zero_times_infinity += _numbered(start, taken, report.first_zero_times_infinity)
            judged = finite & ~guarded
        if runs is not None:
            for tally, run in zip(report.engines, runs[1:]):
                if run.result is None:
                    tally.failure = run.failure
                    continue
                tally.seconds += run.result.seconds
                measure = np.broadcast_to(run.measure, (points,))
                tally.worst = max(tally.worst, float(np.max(np.where(judged, measure, 0.0), initial=0.0)))
                wrong = np.flatnonzero(judged & ~np.broadcast_to(run.agrees_at, (points,)))
                tally.disagreeing += len(wrong)
                tally.first_disagreeing += _numbered(start, wrong, tally.first_disagreeing)
        if writer is not None:
            writer.write(start, points, _named_arrays(chunk, output_names, wrt_nodes, blocks, runs, graph))
        if progress is not None:
            progress(points)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for start, chunk in source.chunks(size):
            _check_chunk(chunk, source, graph)
            pending.append((start, chunk, pool.submit(compute, chunk)))
            while len(pending) > workers:  # a chunk for each thread and one read ahead, no more
                first, taken, future = pending.popleft()
                take(first, taken, future.result())
        while pending:
            first, taken, future = pending.popleft()
            take(first, taken, future.result())
    from .diagnose import point_problem, zero_times_infinity_problem

    if first_bad:
        report.where_nonfinite = point_problem(graph, first_bad)
    if first_guarded:
        report.where_zero_times_infinity = zero_times_infinity_problem(graph, first_guarded, wrt=wrt)
    return report


def _numbered(start: int, indices, shown: list[int]) -> list[int]:
    """The numbers of the points at ``indices`` of a chunk starting at ``start``, as many
    as ``shown`` (those listed so far) has room for."""
    return [start + int(k) for k in indices[: SHOWN_POINTS - len(shown)]]


def _check_chunk(chunk: dict, source: PointSource, graph: Graph) -> None:
    for name, array in chunk.items():
        expected = graph.input_named(name).shape if name in graph.input_names else source.shapes[name]
        if array.shape[1:] != expected:
            raise InputError(f"{source.origin}: {name} has shape {array.shape[1:]} at each point, but the program was built for {expected}")


# ---- writers --------------------------------------------------------------------------------------


def partial_column(output: str, name: str, engine: str | None = None) -> str:
    """How a partial is named in a saved file: "dy/dx", or "forward:dy/dx" for an
    engine other than the reference."""
    from .render import partial_label

    return f"{engine + ':' if engine else ''}{partial_label(output, name, ascii=True)}"


def _named_arrays(chunk: dict, output_names, wrt_nodes, blocks: list, runs, graph: Graph) -> dict:
    """A chunk's results by column name (points first): the inputs read, the values, the
    reference engine's partials, then each other engine's (NaN where it did not run)."""
    named = {name: array for name, array in chunk.items() if name in graph.input_names}
    named.update(zip(output_names, blocks))
    partials = [(output, node.params["name"]) for output in output_names for node in wrt_nodes]
    for (output, name), block in zip(partials, blocks[len(output_names) :]):
        named[partial_column(output, name)] = block
    for run in (runs or [])[1:]:
        for output, name in partials:
            reference = named[partial_column(output, name)]
            if run.result is None or run.result.projections is not None:
                named[partial_column(output, name, run.name)] = np.full(reference.shape, np.nan)
            else:
                named[partial_column(output, name, run.name)] = np.moveaxis(np.asarray(run.result.jacobian[(output, name)]), -1, 0)
    return named


def result_columns(graph: Graph, source: PointSource, engines, wrt: list[str] | None) -> list[tuple[str, tuple]]:
    """(name, shape at one point) of everything written, in order: the inputs read per
    point, the values, the reference engine's partials, then each other engine's."""
    from .engines import resolve

    outputs, output_names, wrt_nodes = resolve(graph, None, wrt)
    columns = [(name, tuple(shape)) for name, shape in source.shapes.items() if name in graph.input_names]
    columns += [(name, node.shape) for name, node in zip(output_names, outputs)]
    for position, engine in enumerate(engines):
        columns += [
            (partial_column(output, node.params["name"], engine if position else None), output_node.shape + node.shape)
            for output, output_node in zip(output_names, outputs)
            for node in wrt_nodes
        ]
    return columns


class Writer:
    """Writes every chunk's columns (see result_columns) into ``path``, an .npz (each
    column an array, points first) or a .csv (one row per point, arrays flattened), through
    temporary files renamed into place at the end: a failed run leaves any old file as it was."""

    def __init__(self, path: str, columns: list[tuple[str, tuple]], count: int):
        import shutil

        from .files import check_target

        self.path = check_target(path, (".npz", ".csv"))
        self.suffix = self.path.suffix.lower()
        self.columns = columns
        try:
            self.folder = tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError as error:
            raise InputError(f"cannot write {path}: {error.strerror}") from None
        try:
            if self.suffix == ".npz":
                self.arrays = [
                    np.lib.format.open_memmap(os.path.join(self.folder, f"{index}.npy"), mode="w+", dtype=float, shape=(count,) + shape)
                    for index, (_, shape) in enumerate(columns)
                ]
            else:
                self.handle = open(os.path.join(self.folder, "points.csv"), "w", encoding="utf-8")
                self.handle.write(",".join(_csv_headers(columns)) + "\n")
        except OSError as error:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise InputError(f"cannot write {path}: {error.strerror}") from None

    def write(self, start: int, points: int, named: dict) -> None:
        arrays = [np.broadcast_to(np.asarray(named[name], dtype=float), (points,) + shape) for name, shape in self.columns]
        if self.suffix == ".npz":
            for target, array in zip(self.arrays, arrays):
                target[start : start + points] = array
        else:
            table = np.concatenate([np.reshape(array, (points, -1)) for array in arrays], axis=1)
            np.savetxt(self.handle, table, delimiter=",", fmt="%.17g")

    def close(self) -> None:
        import shutil
        import zipfile

        try:
            if self.suffix == ".npz":
                archive = os.path.join(self.folder, "points.npz")
                with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as bundle:
                    for index, ((name, _), array) in enumerate(zip(self.columns, self.arrays)):
                        array.flush()
                        bundle.write(os.path.join(self.folder, f"{index}.npy"), arcname=f"{name}.npy")
                self.arrays = []
                os.replace(archive, self.path)
            else:
                self.handle.close()
                os.replace(os.path.join(self.folder, "points.csv"), self.path)
        except OSError as error:
            raise InputError(f"cannot write {self.path}: {error.strerror}") from None
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def discard(self) -> None:
        """Remove the temporary files (after a failure); the target is left as it was."""
        import shutil

        if self.suffix == ".csv" and not self.handle.closed:
            self.handle.close()
        self.arrays = []
        shutil.rmtree(self.folder, ignore_errors=True)


def _csv_headers(columns) -> list[str]:
    headers = []
    for name, shape in columns:
        if not shape:
            headers.append(name)
        else:
            headers += [f"{name}[{','.join(map(str, index))}]" for index in np.ndindex(*shape)]
    return headers
