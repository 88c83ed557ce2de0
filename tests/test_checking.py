"""Gradient checking: sample files, dcalc check, goldens, claims, JUnit, the pytest plugin."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FAILING = sorted((SAMPLES / "failing").glob("*.dcalc"))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_samples_pass_with_claims_at_200_random_points(cli):
    result = cli("check", str(SAMPLES), "--random", "200", "--json")
    assert result.exit_code == 0, result.stdout[-2000:]
    data = json.loads(result.stdout)
    statuses = {check["status"] for check in data["checks"]}
    assert statuses <= {"pass", "not differentiable here"}
    random_checks = [check for check in data["checks"] if "200 random points" in check["check"]]
    assert len(random_checks) >= 30 and all(check["status"] == "pass" for check in random_checks)
    assert data["summary"].startswith(f"{sum(check['status'] == 'pass' for check in data['checks'])} passed, 0 failed")


def test_there_are_enough_samples_and_each_has_goldens():
    files = sorted(SAMPLES.glob("*.dcalc"))
    assert len(files) >= 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "\nvalue" in text or "\nvalue[" in text, path.name


@pytest.mark.parametrize("path", FAILING, ids=lambda path: path.name)
def test_failing_samples_fail_with_a_precise_message(cli, path):
    result = cli("check", str(path), "--json")
    assert result.exit_code == 1, result.stdout
    failures = [check for check in json.loads(result.stdout)["checks"] if check["status"] == "FAIL"]
    assert failures
    for failure in failures:
        assert failure["file"] == str(path) and failure["line"] > 1
        assert "expected" in failure["message"] or "claimed d/d" in failure["message"]


def test_failing_folder_is_excluded_unless_named(cli):
    result = cli("check", str(SAMPLES), "--json")
    files = {check["file"] for check in json.loads(result.stdout)["checks"]}
    assert not any("failing" in name for name in files)
    assert cli("check", str(SAMPLES / "failing")).exit_code == 1


def test_failure_report_names_file_line_input_point_and_error(cli):
    result = cli("check", str(SAMPLES / "failing" / "sign_error.dcalc"))
    output = result.stdout
    assert "sign_error.dcalc:3" in output and "claim d/dx" in output
    assert "x=0.4, y=2" in output and "relative error 2" in output
    assert "1 failed" in output.splitlines()[-1]


def test_sensitivity_to_one_part_in_a_million(cli, tmp_path):
    claim = write(tmp_path, "claim.dcalc", "function: x^2\nclaim d/dx = 2*x*(1 + 1e-6)\nat p: x=1.3\n")
    assert cli("check", str(claim)).exit_code == 1
    golden = write(tmp_path, "golden.dcalc", "function: x^2\nat p: x=1.3\nd/dx = 2.6000026\n")
    assert cli("check", str(golden)).exit_code == 1
    exact = write(tmp_path, "exact.dcalc", "function: x^2\nclaim d/dx = 2*x\nat p: x=1.3\nd/dx = 2.6\n")
    assert cli("check", str(exact)).exit_code == 0


def test_random_points_catch_a_claim_right_only_at_the_listed_point(cli, tmp_path):
    path = write(tmp_path, "lucky.dcalc", "function: x^3\nclaim d/dx = 3*x\nat one: x=1\n")
    assert cli("check", str(path)).exit_code == 0
    result = cli("check", str(path), "--random", "20")
    assert result.exit_code == 1 and "at random point 1 of 20" in result.stdout


def test_kinks_and_non_finite_points_are_reported_not_judged(cli, tmp_path):
    path = write(tmp_path, "edges.dcalc", "function: abs(x) + ln(y)\nat kink: x=0, y=1\nat outside: x=1, y=-1\n")
    result = cli("check", str(path), "--json")
    checks = json.loads(result.stdout)["checks"]
    kink = next(check for check in checks if check["check"] == "kink: engines agree")
    assert kink["status"] == "not differentiable here"
    assert "right 1, left -1" in kink["message"]
    outside = next(check for check in checks if check["check"] == "outside: engines agree")
    assert outside["status"] == "not finite" and "ln" in outside["message"]
    assert result.exit_code == 0 and "2 skipped" in json.loads(result.stdout)["summary"]


def test_at_a_kink_the_partials_that_exist_are_still_judged(checked):
    text = "function: relu(x) * y\nclaim d/dy = relu(x)\nat kink: x=0, y=2\nd/dy = 0\nd/dx = 1\nat wrong: x=0, y=2\nd/dy = 1\n"
    status = checked(text)
    assert status["kink: d/dy"][0] == status["kink: claim d/dy"][0] == "pass"  # relu(0) on both sides
    assert status["kink: d/dx"][0] == "not differentiable here" and "df/dx: right 2, left 0" in status["kink: d/dx"][1]
    assert "df/dy" not in status["kink: d/dx"][1]
    assert status["wrong: d/dy"][0] == "FAIL"
    # Slope 1 on both sides of 0, but the rules take the mean of each op's two slopes: 0.75.
    status = checked("function: min(x, relu(x)) * y\nat zero: x=0, y=1\nd/dx = 1\nd/dy = 0\n")
    assert status["zero: d/dx"][0] == "not differentiable here" and "1 on both sides, but the rules give 0.75" in status["zero: d/dx"][1]
    assert status["zero: d/dy"][0] == "pass"
    # Slope 1 on both sides of 0, and the engines' rules (the mean of relu's two slopes) find it.
    status = checked("function: relu(x) - relu(-x)\nat zero: x=0\nd/dx = 1\n")
    assert {found for found, _ in status.values()} == {"pass"}


def test_claims_about_vector_inputs(cli, tmp_path):
    # Elementwise in x: a claim of x's shape is the diagonal of the Jacobian.
    text = "function: x^3 * exp(y)\nclaim d/dx = 3*x^2*exp(y)\nclaim d/dy = x^3*exp(y)\nat p: x=[1,2], y=0\n"
    result = cli("check", str(write(tmp_path, "elementwise.dcalc", text)), "--random", "20")
    assert result.exit_code == 0, result.stdout
    wrong = "function: x^3 * exp(y)\nclaim d/dx = 3*x*exp(y)\nat p: x=[1,2], y=0\n"
    checks = json.loads(cli("check", str(write(tmp_path, "wrong.dcalc", wrong)), "--json").stdout)["checks"]
    message = next(check["message"] for check in checks if check["check"] == "p: claim d/dx")
    assert "gives 6 at index [1] at x=[1, 2], y=0, but the derivative is 12" in message
    # Not elementwise: the claim is refused by name, not compared with a broadcast.
    text = "function: x^3 * sum(x)\nclaim d/dx = 3*x^2\nclaim d/dx = [1, 2, 3]\nat p: x=[1,2]\n"
    result = cli("check", str(write(tmp_path, "mixed.dcalc", text)), "--json")
    assert result.exit_code == 1
    messages = [check["message"] for check in json.loads(result.stdout)["checks"] if check["status"] == "FAIL"]
    assert "f is not elementwise in x: d f[1]/d x[0] is 8; claim the whole Jacobian, shape (2, 2)" in messages[0]
    assert "has shape (3,), but the derivative has shape (2, 2) (output (2,) by x (2,))" in messages[1]


def test_goldens_that_are_not_finite_match_the_same_non_finite_value(checked):
    status = checked("function: ln(x) + 0*y\nat neg: x=-1, y=1\nvalue = nan\nat zero: x=0, y=1\nvalue = -inf\nat wrong: x=0, y=1\nvalue = nan\n")
    assert status["neg: value"][0] == status["zero: value"][0] == "pass"
    assert status["wrong: value"][0] == "FAIL" and "expected nan, got -inf" in status["wrong: value"][1]


def test_a_golden_array_names_the_index_that_is_off(cli, tmp_path):
    text = "function: 2*x\nat p: x=[1, 2, 3]\nvalue = [2, 4, 7]\n"
    result = cli("check", str(write(tmp_path, "array.dcalc", text)))
    assert result.exit_code == 1 and "expected 7, got 6 at index [2]" in result.stdout + result.stderr


def test_junit_has_one_testcase_per_check(cli, tmp_path):
    report = tmp_path / "report.xml"
    paths = [str(SAMPLES / "lecture.dcalc"), str(SAMPLES / "failing" / "factor_two.dcalc")]
    result = cli("check", *paths, "--junit", str(report), "--json")
    checks = json.loads(result.stdout)["checks"]
    root = ET.parse(report).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(checks) == int(suite.get("tests"))
    failed = [case for case in cases if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == [check["check"] for check in checks if check["status"] == "FAIL"]
    assert int(suite.get("failures")) == len(failed) == 1
    assert "factor_two" in failed[0].get("classname")


def test_github_annotations(cli, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = cli("check", str(SAMPLES / "failing" / "golden_off.dcalc"))
    line = next(line for line in result.stdout.splitlines() if line.startswith("::error"))
    assert line.startswith(f"::error file={SAMPLES / 'failing' / 'golden_off.dcalc'},line=5::one: value: expected")


def test_update_round_trips_and_changes_only_numbers(cli, tmp_path):
    folder = tmp_path / "samples"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("failing"))
    original = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.dcalc")}
    target = folder / "lecture.dcalc"
    target.write_text(original["lecture.dcalc"].replace("value = 11.652071455223084", "value = 11.65"), encoding="utf-8")
    result = cli("check", str(folder), "--update")
    assert result.exit_code == 1  # something changed: CI cannot pass by regenerating silently
    assert "updated" in result.stdout and "11.65 -> 11.652071455223084" in result.stdout
    assert target.read_text(encoding="utf-8") == original["lecture.dcalc"]
    assert cli("check", str(folder)).exit_code == 0
    assert cli("check", str(folder), "--update").exit_code == 0  # nothing left to change
    target.write_text(original["lecture.dcalc"].replace("d/dx1 = 5.5", "d/dx1 = 5.4  "), encoding="utf-8")
    assert cli("check", str(folder), "--update", "--accept").exit_code == 0
    assert target.read_text(encoding="utf-8") == original["lecture.dcalc"].replace("d/dx1 = 5.5", "d/dx1 = 5.5  ")


def test_malformed_file_is_reported_and_others_still_checked(cli, tmp_path):
    write(tmp_path, "good.dcalc", "function: x^2\nclaim d/dx = 2*x\nat p: x=2\n")
    write(tmp_path, "bad.dcalc", "function: x^2 +\nat p: x=2\n")
    result = cli("check", str(tmp_path), "--json")
    assert result.exit_code == 2
    assert f"{tmp_path / 'bad.dcalc'}:1:16" in result.stderr and "^" in result.stderr
    data = json.loads(result.stdout)
    assert {check["status"] for check in data["checks"] if check["file"].endswith("good.dcalc")} == {"pass"}
    assert data["summary"] == "2 passed, 0 failed, 1 error"
    assert data["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "errors": 1}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("at p: x=1\n", "has no function"),
        ("function: x\n", "has no check point"),
        ("function: x\nvalue = 1\nat p: x=1\n", "needs a point before it"),
        ("function: x\nengines forwards\nat p: x=1\n", "did you mean 'forward'"),
        ("function: x\nclaim d/dy = 1\nat p: x=1\n", "not an input"),
        ("function: x\nat p: y=1\n", "no value for the input 'x'"),
        ("function: x^2\nat p: x=1, z=3\n", "wrong.dcalc:2: p: point: 'z' is not an input of this function (inputs: x)"),
        ("functon: x^2\nat p: x=1\n", "did you mean 'function'?"),
        ("function: x^2\ntolerence rel=1e-3\nat p: x=1\n", "did you mean 'tolerance'?"),
    ],
)
def test_sample_file_mistakes(cli, tmp_path, text, fragment):
    path = write(tmp_path, "wrong.dcalc", text)
    result = cli("check", str(path))
    assert result.exit_code == 2
    assert fragment in result.stderr + result.stdout


def test_data_files_stay_inside_the_samples_folder(cli, tmp_path):
    import numpy as np

    inside = tmp_path / "inside"
    inside.mkdir()
    np.save(tmp_path / "outside.npy", np.array(2.0))
    np.save(inside / "here.npy", np.array(3.0))
    write(inside, "ok.dcalc", "function: x^2\nat p: x=@here.npy\nvalue = 9\n")
    write(inside, "escape.dcalc", "function: x^2\nat p: x=@../outside.npy\n")
    assert cli("check", str(inside / "ok.dcalc")).exit_code == 0
    result = cli("check", str(inside / "escape.dcalc"))
    assert result.exit_code == 2 and "outside the sample's folder" in result.stderr
    assert cli("check", str(inside / "escape.dcalc"), "--allow-outside").exit_code == 0


def test_parallel_jobs_give_the_same_results(cli):
    one = json.loads(cli("check", str(SAMPLES), "--json").stdout)["checks"]
    two = json.loads(cli("check", str(SAMPLES), "--json", "-j", "2").stdout)["checks"]
    assert [(c["file"], c["check"], c["status"]) for c in one] == [(c["file"], c["check"], c["status"]) for c in two]


def run_pytest(*args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_pytest_plugin_collects_samples():
    completed = run_pytest(str(SAMPLES))
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert " passed" in completed.stdout and "failed" not in completed.stdout.splitlines()[-1]


def test_pytest_plugin_reports_failures_like_dcalc_check():
    completed = run_pytest(str(SAMPLES / "failing" / "factor_two.dcalc"))
    assert completed.returncode == 1
    assert "claimed d/dx = x * y gives -0.75 at x=1.5, y=-0.5, but the derivative is -1.5" in completed.stdout


def test_pytest_plugin_imports_nothing_heavy():
    code = "import sys, dcalc.pytest_plugin; print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'lark', 'rich', 'typer')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "[]"
