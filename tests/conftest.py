"""Shared fixtures: the sample programs and a CLI runner; Hypothesis profiles."""

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

# Property tests: "ci" (the default) is repeatable and bounded: a seed derived from
# each test, a fixed number of examples, no example database. "long" draws fresh
# examples on every run and keeps failures in .hypothesis/ to replay them:
#     HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py
# The deadline is no speed target: an example of a few hundred characters that
# takes 10 s has hit a hang or a quadratic blow-up.
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, deadline=timedelta(seconds=10), print_blob=True)
settings.register_profile("long", max_examples=5000, deadline=timedelta(seconds=10), print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "samples" / "programs"


@pytest.fixture
def program_text():
    def read(name: str) -> str:
        return (PROGRAMS / name).read_text(encoding="utf-8")

    return read


@pytest.fixture
def program_path():
    return lambda name: PROGRAMS / name


@pytest.fixture
def sample_path():
    return lambda name: ROOT / "samples" / name


@pytest.fixture
def cli():
    """Run the dcalc command line in-process: cli("eval", "x^2", "--at", "x=3")."""
    from dcalc.cli import app

    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def checked(cli, tmp_path):
    """``dcalc check --json`` on a sample file holding ``text``: {check: (status, message)}."""

    def run(text: str) -> dict:
        path = tmp_path / "sample.dcalc"
        path.write_text(text, encoding="utf-8")
        checks = json.loads(cli("check", str(path), "--json").stdout)["checks"]
        return {check["check"]: (check["status"], check["message"]) for check in checks}

    return run
