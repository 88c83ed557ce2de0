"""pytest plugin: ``pytest samples/`` collects every .dcalc file and each of its
checks as a test item, with the same failure report as ``dcalc check``.

Registered through the ``pytest11`` entry point. It imports nothing of dcalc
until a .dcalc file is collected, so pytest starts as fast as without it.
Folders named ``failing`` met while collecting a folder are skipped, as in
``dcalc check``; name such a folder or file to collect it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXCLUDED_FOLDER = "failing"


def pytest_addoption(parser):
    group = parser.getgroup("dcalc", "dcalc sample files")
    group.addoption("--dcalc-random", type=int, default=0, help="check claims at this many seeded random points too")


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".dcalc":
        return None
    named = [Path(argument.split("::")[0]).resolve() for argument in parent.config.args]
    resolved = file_path.resolve()
    # Skip 'failing' folders unless the file or one of its 'failing' folders was named.
    for folder in resolved.parents:
        if folder.name == EXCLUDED_FOLDER and not any(path == resolved or path == folder or folder in path.parents for path in named):
            return None
    return SampleFile.from_parent(parent, path=file_path)


class SampleFile(pytest.File):
    def collect(self):
        from dcalc.checking import check_file

        report = check_file(self.path, random_points=self.config.getoption("dcalc_random"))
        if report.error is not None:
            yield SampleCheck.from_parent(self, name="read sample file", result=None, error=report.error)
            return
        for result in report.results:
            yield SampleCheck.from_parent(self, name=f"{result.name} (line {result.line})", result=result, error=None)


class SampleCheckFailure(Exception):
    pass


class SampleCheck(pytest.Item):
    def __init__(self, *, result, error, **kwargs):
        super().__init__(**kwargs)
        self.result = result
        self.error = error

    def runtest(self):
        if self.error is not None:
            raise SampleCheckFailure(self.error.render())
        status = self.result.status
        if status in ("not differentiable here", "not finite"):
            pytest.skip(f"{status}: {self.result.message}")
        if status != "pass":
            raise SampleCheckFailure(f"{self.result.location}: {self.result.name}: {status}: {self.result.message}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SampleCheckFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        line = self.result.line if self.result is not None else 1
        return self.path, line - 1, self.name
