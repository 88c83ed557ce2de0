"""The suite itself: no test is skipped, or expected to fail, without a stated reason."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPERS = {"skip", "skipif", "xfail", "importorskip"}


def unexplained_skips(source: str, filename: str = "<source>") -> list[str]:
    """Calls of pytest.skip/xfail/importorskip and marks skip/skipif/xfail with no
    reason (a reason= keyword, or for pytest.skip("why") the first argument)."""
    tree = ast.parse(source, filename)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SKIPPERS and id(node) not in called:
            found.append(f"{filename}:{node.lineno}: bare {node.attr}")  # @pytest.mark.skip
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SKIPPERS):
            continue
        is_mark = isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark"
        reason = next((keyword.value for keyword in node.keywords if keyword.arg in ("reason", "msg")), None)
        if reason is None and not is_mark and node.func.attr in ("skip", "xfail") and node.args:
            reason = node.args[0]
        if reason is None or (isinstance(reason, ast.Constant) and not str(reason.value).strip()):
            found.append(f"{filename}:{node.lineno}: {node.func.attr} without a reason")
    return found


def test_the_check_finds_unexplained_skips():
    planted = """
@pytest.mark.skip
def a(): pass
@pytest.mark.skipif(sys.platform == "win32")
def b(): pass
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def c(): pass
def d():
    pytest.importorskip("matplotlib")
    pytest.importorskip("matplotlib", reason="the [plot] extra")
    pytest.skip("")
    pytest.skip(f"{status}: {message}")
    pytest.xfail(reason="known")
"""
    found = [entry.split(": ", 1)[1] for entry in unexplained_skips(planted)]
    assert sorted(found) == sorted(["bare skip", "skipif without a reason", "importorskip without a reason", "skip without a reason"])


def test_no_skip_in_the_suite_lacks_a_reason():
    files = sorted((ROOT / "tests").glob("*.py")) + [ROOT / "dcalc" / "pytest_plugin.py"]
    found = [entry for path in files for entry in unexplained_skips(path.read_text(encoding="utf-8"), path.name)]
    assert found == []
