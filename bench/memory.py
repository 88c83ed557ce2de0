"""Peak memory over many points: flat in the number of points beyond a chunk.

Each run is a fresh process that reads its points from a memory-mapped .npy file
(written here in blocks, so this process never holds them either), computes the value
and the gradient at every point with every engine's reference (reverse mode, summary
only, as `dcalc grad --points` does) and reports its peak resident memory. The
lecture example at 10^6 and 10^7 points, and a 1,000-operation program at 10^6 and
10^7: the peak should not grow with the points (target: 10^7 within 1.2 x 10^6's, and
within the memory budget). A baseline process that only imports dcalc gives what
Python and NumPy take by themselves. Each peak of the lecture example is the median
of three processes: the C allocator's heaps, which the threads share, come out a few
MiB apart from one run to the next.

    python bench/memory.py            # the lecture example only (about a minute)
    python bench/memory.py --long     # also the 1,000-operation program at 10^7 points
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
from programs import bounded_program

TARGET = 1.2
BUDGET = "256M"
# The child's own high-water mark (VmHWM): getrusage's ru_maxrss would carry the
# parent's over exec on Linux.
CHILD = r"""
import sys, time
import numpy as np
import dcalc
from dcalc.points import read_points, run_batch

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

text, path, names, memory = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
if path == "-":
    print(peak_kib(), 0.0)
    sys.exit()
graph = dcalc.parse_program(open(text).read())
start = time.perf_counter()
report = run_batch(graph, read_points(path, names), {}, ("reverse",), memory=memory)
elapsed = time.perf_counter() - start
assert report.count and report.nonfinite == 0, report.nonfinite
print(peak_kib(), elapsed)
"""


def write_points(path: str, count: int, columns: int, seed: int = 0) -> None:
    """A .npy of ``count`` rows, written a block at a time through a memory map."""
    rng = np.random.default_rng(seed)
    table = np.lib.format.open_memmap(path, mode="w+", dtype=float, shape=(count, columns))
    block = 1_000_000
    for start in range(0, count, block):
        stop = min(count, start + block)
        table[start:stop] = rng.uniform(0.5, 2.0, size=(stop - start, columns))
    table.flush()
    del table


def measure(folder: str, text: str, count: int, names: list[str], memory: int) -> tuple[float, float]:
    """(peak MiB, seconds) of a fresh process computing the gradient at ``count`` points."""
    source = os.path.join(folder, "f.txt")
    with open(source, "w") as handle:
        handle.write(text)
    points = "-"
    if count:
        points = os.path.join(folder, f"points{count}x{len(names)}.npy")
        if not os.path.exists(points):
            write_points(points, count, len(names))
    done = subprocess.run([sys.executable, "-c", CHILD, source, points, ",".join(names), str(memory)], capture_output=True, text=True, check=True)
    peak, seconds = done.stdout.split()
    return int(peak) / 1024, float(seconds)


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main(argv: list[str] | None = None) -> int:
    from dcalc.cli import parse_memory

    argv = sys.argv[1:] if argv is None else argv
    memory = parse_memory(BUDGET)
    # (label, program, inputs, point counts, processes a peak is the median of)
    cases = [("lecture example", "y = ln(x1)+x1*x2-sin(x2)\n", ["x1", "x2"], (10**6, 10**7), 3)]
    if "--long" in argv:  # half a minute a process at 10^7 points: one of each
        cases.append(("1,000-operation program", bounded_program(1000, inputs=4, seed=1), [f"x{k}" for k in range(4)], (10**6, 10**7), 1))
    status = 0
    with tempfile.TemporaryDirectory(prefix="dcalc-bench-") as folder:
        baseline, _ = measure(folder, "y = x\n", 0, ["x"], memory)
        print(f"memory budget {BUDGET}; a process that only imports dcalc peaks at {baseline:.0f} MiB")
        for label, text, names, counts, repeats in cases:
            peaks = []
            for count in counts:
                runs = sorted(measure(folder, text, count, names, memory) for _ in range(repeats))
                peak, seconds = runs[len(runs) // 2]
                peaks.append(peak)
                spread = f", of {runs[0][0]:.0f} to {runs[-1][0]:.0f}" if repeats > 1 else ""
                print(f"{label:26} {count:>12,} points: peak {peak:7.0f} MiB ({peak - baseline:6.0f} above the baseline{spread}), {seconds:6.1f} s")
            ratio = peaks[-1] / peaks[0]
            within = peaks[-1] - baseline <= memory / 2**20
            print(f"{label:26} peak at {counts[-1]:,} / peak at {counts[0]:,} = {ratio:.2f} (target <= {TARGET}); within the budget: {'yes' if within else 'NO'}")
            status |= int(ratio > TARGET or not within)
            SUMMARY.append((f"peak memory, {label}: 10^7 / 10^6 points", f"{ratio:.2f} ({peaks[-1]:.0f} MiB)", f"<= {TARGET}, within {BUDGET}", ratio <= TARGET and within))
    return status


if __name__ == "__main__":
    sys.exit(main())
