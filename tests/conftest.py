"""Shared fixtures: the sample programs and a CLI runner."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

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
