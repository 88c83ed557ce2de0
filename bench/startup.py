"""Start-up: a one-shot `dcalc grad` as a fresh process against `python -c "import numpy"`.

Both run with the same interpreter, each the best of N fresh processes, taken in
turns so that load on the machine hits both alike. Both read their bytecode from
one temporary cache (PYTHONPYCACHEPREFIX) filled by a first run, as an installed
package has it, so neither pays for compiling; that first run also generates
dcalc's parser into a temporary XDG_CACHE_HOME, as any first run does. Target
(Issue 7): dcalc at most 2.0 x the time of importing NumPy.

    python bench/startup.py [N]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import interleaved

TARGET = 2.0
EXPRESSION = "ln(x1)+x1*x2-sin(x2)"
POINT = "x1=2,x2=5"


def dcalc_command() -> list[str]:
    """The installed `dcalc` script beside this interpreter, else `python -m dcalc`."""
    script = Path(sys.executable).with_name("dcalc")
    if script.is_file():
        return [str(script)]
    found = shutil.which("dcalc")
    return [found] if found else [sys.executable, "-m", "dcalc"]


def run(command: list[str], environment: dict) -> None:
    subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, check=True)


# Rows for bench/run.py's closing table: (figure, measured, target, met).
SUMMARY: list[tuple[str, str, str, bool]] = []


def main(runs: int = 20) -> int:
    grad = [*dcalc_command(), "grad", EXPRESSION, "--at", POINT]
    numpy = [sys.executable, "-c", "import numpy"]
    empty = [sys.executable, "-c", "pass"]
    # The libraries a command loads (Lark only when its parser is generated, on a
    # first run), imported and nothing else: the floor under dcalc's own time.
    libraries = [sys.executable, "-c", "import numpy, typer, rich.console, rich.table"]
    with tempfile.TemporaryDirectory() as cache:
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        environment.update(PYTHONPYCACHEPREFIX=os.path.join(cache, "bytecode"), XDG_CACHE_HOME=cache, COLUMNS="120")
        commands = {"grad": grad, "numpy": numpy, "empty": empty, "libraries": libraries}
        for command in commands.values():  # fills the bytecode cache
            run(command, environment)
        runners = [lambda command=command: run(command, environment) for command in commands.values()]
        best = dict(zip(commands, interleaved(*runners, rounds=runs, repeats=1)))
    ratio = best["grad"] / best["numpy"]
    print(f"best of {runs} fresh processes each")
    print(f'python -c "pass"              {best["empty"] * 1e3:7.1f} ms')
    print(f'python -c "import numpy"      {best["numpy"] * 1e3:7.1f} ms')
    print(f'import numpy, typer, rich         {best["libraries"] * 1e3:7.1f} ms   ({best["libraries"] / best["numpy"]:.2f} x import numpy: the floor)')
    print(f'dcalc grad "{EXPRESSION}" --at {POINT}  {best["grad"] * 1e3:7.1f} ms')
    print(f"ratio dcalc grad / import numpy  {ratio:5.2f}   (target <= {TARGET})")
    SUMMARY.append(("one-shot dcalc grad / import numpy", f"{ratio:.2f}", f"<= {TARGET}", ratio <= TARGET))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
