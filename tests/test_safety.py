"""Safety: no user text reaches eval/exec/compile; data files never unpickle; a
sample reads data only inside its own folder tree; writing never goes through a
link or into a folder, and a failed write leaves the old file as it was."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import dcalc
from dcalc.errors import InputError
from dcalc.files import atomic_write

PACKAGE = Path(dcalc.__file__).resolve().parent
CODE_RUNNERS = {"eval", "exec", "compile", "__import__", "breakpoint"}
UNSAFE_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}


def unsafe_calls(source: str, filename: str = "<source>") -> list[str]:
    """Where ``source`` can run text as code or unpickle: calls of the builtins
    eval/exec/compile/__import__ (by name or through builtins), imports of pickle
    and friends, and np.load without allow_pickle=False. A method that happens to
    share a name (re.compile, pattern.compile) is not the builtin."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id in CODE_RUNNERS:
                found.append(f"{where}: {function.id}(...)")
            elif isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                owner, name = function.value.id, function.attr
                if owner in ("builtins", "__builtins__") and name in CODE_RUNNERS:
                    found.append(f"{where}: {owner}.{name}(...)")
                if owner in ("np", "numpy") and name == "load":
                    keywords = {keyword.arg: keyword.value for keyword in node.keywords}
                    allow = keywords.get("allow_pickle")
                    if not (isinstance(allow, ast.Constant) and allow.value is False):
                        found.append(f"{where}: {owner}.load without allow_pickle=False")
            elif isinstance(function, ast.Name) and function.id == "getattr" and len(node.args) >= 2:
                attribute = node.args[1]
                if isinstance(attribute, ast.Constant) and attribute.value in CODE_RUNNERS:
                    found.append(f"{where}: getattr(..., {attribute.value!r})")
        elif isinstance(node, ast.Import):
            found += [f"{where}: import {alias.name}" for alias in node.names if alias.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in UNSAFE_MODULES or (module == "builtins" and any(alias.name in CODE_RUNNERS for alias in node.names)):
                found.append(f"{where}: from {node.module} import ...")
    return found


def test_the_scanner_finds_what_it_looks_for():
    planted = """
import re, pickle
import builtins
from builtins import exec as run
pattern = re.compile("x")       # a method, fine
pattern.compile                 # an attribute, fine
eval(text)
builtins.compile(text, "f", "exec")
getattr(builtins, "exec")(text)
np.load(path)
np.load(path, allow_pickle=True)
np.load(path, allow_pickle=False)  # fine
"""
    found = unsafe_calls(planted)
    assert {entry.split(": ", 1)[1] for entry in found} == {
        "import pickle",
        "from builtins import ...",
        "eval(...)",
        "builtins.compile(...)",
        "getattr(..., 'exec')",
        "np.load without allow_pickle=False",
    }
    assert len(found) == 7


def test_the_package_never_runs_text_as_code_nor_unpickles():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = [entry for path in sources for entry in unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))]
    assert found == []


# ---- data files are never unpickled -----------------------------------------------------------


class TouchOnUnpickling:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def booby_trapped(tmp_path):
    marker = tmp_path / "unpickled"
    objects = np.array([TouchOnUnpickling(marker)], dtype=object)
    np.save(tmp_path / "trap.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "trap.npz", x=objects)
    # The trap works: NumPy allowed to unpickle springs it.
    np.load(tmp_path / "trap.npy", allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    return tmp_path, marker


@pytest.mark.parametrize("how", ["--at x=@trap.npy", "--at x=@trap.npz", "--at x=@trap.npz:x", "--at-file trap.npz"])
def test_pickled_data_files_are_refused_unopened(cli, booby_trapped, how):
    folder, marker = booby_trapped
    option, value = how.split(" ")
    value = value.replace("trap", str(folder / "trap"))
    result = cli("eval", "x", option, value)
    assert result.exit_code == 2
    assert "holds pickled objects, which dcalc refuses to load" in result.stderr
    assert not marker.exists()


def test_a_sample_with_a_pickled_golden_is_refused(cli, booby_trapped):
    folder, marker = booby_trapped
    (folder / "trap.dcalc").write_text("function: x^2\nat p: x=1\nvalue = @trap.npy\n", encoding="utf-8")
    result = cli("check", str(folder / "trap.dcalc"))
    assert result.exit_code == 2 and "pickled" in result.stderr
    assert not marker.exists()


# ---- a sample reads data only inside its own folder tree -----------------------------------


@pytest.fixture
def sample_tree(tmp_path):
    """tmp/outside.npy, tmp/elsewhere/far.npy, tmp/samples/{here.npy, sub/deep.npy} and links."""
    samples = tmp_path / "samples"
    (samples / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    np.save(tmp_path / "outside.npy", np.array(2.0))
    np.save(tmp_path / "elsewhere" / "far.npy", np.array(2.0))
    np.save(samples / "here.npy", np.array(2.0))
    np.save(samples / "sub" / "deep.npy", np.array(2.0))
    (samples / "link_out.npy").symlink_to(tmp_path / "outside.npy")
    (samples / "linked_folder").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (samples / "link_in.npy").symlink_to(samples / "sub" / "deep.npy")
    return tmp_path


INSIDE = ["here.npy", "sub/deep.npy", "./sub/../here.npy", "link_in.npy", "'sub/deep.npy'"]
OUTSIDE = ["../outside.npy", "sub/../../outside.npy", "link_out.npy", "linked_folder/far.npy", "{tmp}/outside.npy", "'../outside.npy'"]


def check_sample(cli, tree, reference, *options):
    reference = reference.replace("{tmp}", str(tree))
    path = tree / "samples" / "reads.dcalc"
    path.write_text(f"function: x^2\nat p: x=@{reference}\nvalue = 4\n", encoding="utf-8")
    return cli("check", str(path), *options)


@pytest.mark.parametrize("reference", INSIDE)
def test_a_sample_reads_data_in_its_own_folder_tree(cli, sample_tree, reference):
    result = check_sample(cli, sample_tree, reference)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("reference", OUTSIDE)
def test_a_sample_may_not_read_data_outside_its_folder_tree(cli, sample_tree, reference):
    result = check_sample(cli, sample_tree, reference)
    assert result.exit_code == 2
    assert "outside the sample's folder" in result.stderr and "--allow-outside" in result.stderr
    assert check_sample(cli, sample_tree, reference, "--allow-outside").exit_code == 0


def test_goldens_in_files_are_confined_too(cli, sample_tree):
    path = sample_tree / "samples" / "golden.dcalc"
    path.write_text("function: x^2\nat p: x=2\nvalue = @../outside.npy\n", encoding="utf-8")
    result = cli("check", str(path))
    assert result.exit_code == 2 and "outside the sample's folder" in result.stderr


# ---- writing: no links, no folders, and a failed write changes nothing ---------------------------------


def write_commands(tmp_path):
    """Each command that writes a file the user names, writing to ``{out}``."""
    sample = tmp_path / "lecture.dcalc"
    sample.write_text("function: x^2\nat p: x=3\nvalue = 9.5\n", encoding="utf-8")
    points = tmp_path / "points.csv"
    points.write_text("x\n1\n2\n", encoding="utf-8")
    return {
        "graph -o": ["graph", "x^2 + 1", "-o", "{out}"],
        "grad --save": ["grad", "x^2", "--at", "x=3", "--save", "{out}"],
        "grad --points --save": ["grad", "x^2", "--points", str(points), "--save", "{out}"],
        "check --junit": ["check", str(sample), "--junit", "{out}"],
        "plot -o": ["plot", "x^2", "-o", "{out}"],
    }


COMMANDS = ["graph -o", "grad --save", "grad --points --save", "check --junit", "plot -o"]
# --save takes the kinds of file it writes; the others write whatever they are told.
SUFFIX = {"grad --save": ".npz", "grad --points --save": ".csv"}


def target(tmp_path, command, stem="out"):
    return tmp_path / (stem + SUFFIX.get(command, ".file"))


def run_writer(cli, tmp_path, command, out):
    if command == "plot -o":
        pytest.importorskip("matplotlib", reason="PNG plots need the optional [plot] extra (.ci/run installs it)")
    args = [str(out) if argument == "{out}" else argument for argument in write_commands(tmp_path)[command]]
    return cli(*args)


@pytest.mark.parametrize("command", COMMANDS)
def test_writers_write_the_file_named(cli, tmp_path, command):
    out = target(tmp_path, command)
    result = run_writer(cli, tmp_path, command, out)
    assert result.exit_code in (0, 1), result.output  # check exits 1: its golden is off
    assert out.is_file() and out.stat().st_size > 0
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(f".{out.name}")] == []  # no temporary left


@pytest.mark.parametrize("command", COMMANDS)
def test_writers_do_not_follow_a_link_named_like_the_target(cli, tmp_path, command):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep me", encoding="utf-8")
    link = target(tmp_path, command)
    link.symlink_to(elsewhere / "precious")
    result = run_writer(cli, tmp_path, command, link)
    assert result.exit_code == 2
    assert "is a symbolic link" in result.stderr
    assert (elsewhere / "precious").read_text(encoding="utf-8") == "keep me"
    assert link.is_symlink()
    folder_link = target(tmp_path, command, "folder")
    folder_link.symlink_to(elsewhere, target_is_directory=True)
    assert run_writer(cli, tmp_path, command, folder_link).exit_code == 2
    assert sorted(path.name for path in elsewhere.iterdir()) == ["precious"]


@pytest.mark.parametrize("command", COMMANDS)
def test_writers_do_not_write_into_a_folder_named_as_the_file(cli, tmp_path, command):
    folder = target(tmp_path, command)
    folder.mkdir()
    result = run_writer(cli, tmp_path, command, folder)
    assert result.exit_code == 2 and "is a folder; give a file name" in result.stderr
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "out.file.png").exists()


def test_update_does_not_write_through_a_linked_sample(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    original = "function: x^2\nat p: x=3\nvalue = 9.5\n"
    (shared / "real.dcalc").write_text(original, encoding="utf-8")
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "link.dcalc").symlink_to(shared / "real.dcalc")
    result = cli("check", str(tmp_path / "samples" / "link.dcalc"), "--update")
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr
    assert (shared / "real.dcalc").read_text(encoding="utf-8") == original


def test_update_of_a_folder_does_not_reach_through_a_linked_folder(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    original = "function: x^2\nat p: x=3\nvalue = 9.5\n"
    (shared / "far.dcalc").write_text(original, encoding="utf-8")
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "near.dcalc").write_text(original, encoding="utf-8")
    (samples / "linked").symlink_to(shared, target_is_directory=True)
    result = cli("check", str(samples), "--update", "--accept")
    assert result.exit_code == 0, result.output
    assert (samples / "near.dcalc").read_text(encoding="utf-8") == original.replace("9.5", "9")
    assert (shared / "far.dcalc").read_text(encoding="utf-8") == original


class FailingWrite:
    """A temporary file whose write fails as a full disk does."""

    def __init__(self, real):
        self.real = real

    def __enter__(self):
        self.real.__enter__()
        return self

    def __exit__(self, *exc):
        return self.real.__exit__(*exc)

    @property
    def name(self):
        return self.real.name

    def write(self, data):
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["write", "rename"])
def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, failure):
    import dcalc.files as files

    target = tmp_path / "results.json"
    target.write_text('{"old": true}', encoding="utf-8")
    target.chmod(0o640)
    if failure == "write":
        real = files.tempfile.NamedTemporaryFile
        monkeypatch.setattr(files.tempfile, "NamedTemporaryFile", lambda **options: FailingWrite(real(**options)))
    else:

        def refuse(source, destination):
            raise OSError(13, "Permission denied")

        monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(InputError) as caught:
        atomic_write(target, b'{"new": true}')
    assert caught.value.message.startswith(f"cannot write {target}: ")
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.json"]  # no temporary left behind


def test_a_failed_update_leaves_the_sample_intact(cli, tmp_path, monkeypatch):
    import dcalc.files as files

    sample = tmp_path / "lecture.dcalc"
    original = "function: x^2\nat p: x=3\nvalue = 9.5\n"
    sample.write_text(original, encoding="utf-8")

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", refuse)
    result = cli("check", str(sample), "--update")
    assert result.exit_code == 2 and "cannot write" in result.stderr and "No space left on device" in result.stderr
    assert sample.read_text(encoding="utf-8") == original
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lecture.dcalc"]


def test_a_write_keeps_the_files_permissions(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    atomic_write(target, b"new")
    assert target.read_text(encoding="utf-8") == "new"
    assert target.stat().st_mode & 0o777 == 0o600

