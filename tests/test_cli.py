"""The grader's CLI: formats, bad arguments, and submissions that misbehave."""

import json
import shutil
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from autograder.report import GRADESCOPE_KEYS, GRADESCOPE_TEST_KEYS

ROOT = Path(__file__).resolve().parent.parent

A1_MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")


def make_submission(tmp_path, mlp_source):
    """A copy of the reference a1 with mlp.py replaced."""
    folder = tmp_path / "sub" / "a1_intro_nn"
    folder.mkdir(parents=True)
    for name in A1_MODULES:
        (folder / name).write_text((ROOT / "solutions" / "a1_intro_nn" / name).read_text())
    (folder / "mlp.py").write_text(textwrap.dedent(mlp_source))
    return tmp_path / "sub"


@pytest.mark.quick
@pytest.mark.parametrize("fmt", ["table", "json", "gradescope", "junit", "prairielearn"])
def test_formats(fmt, tmp_path, run_grader):
    out = tmp_path / "report"
    proc = run_grader(
        "grade",
        "--submission",
        "assignments",
        "--assignment",
        "a1",
        "--tier",
        "quick",
        "--format",
        fmt,
        "--output",
        out,
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    if fmt == "table":
        assert "TOTAL: 0 /" in text and "not implemented yet" in text
    elif fmt == "junit":
        suite = ET.fromstring(text).find("testsuite")
        assert suite.get("name") == "a1_intro_nn" and int(suite.get("tests")) > 5
    elif fmt == "prairielearn":
        data = json.loads(text)
        assert data["gradable"] and data["score"] == 0 and data["tests"]
    else:
        data = json.loads(text)
        assert data["score"] == 0 and sum(t["max_score"] for t in data["tests"]) > 0
        assert all({"name", "score", "max_score", "status", "output"} <= set(t) for t in data["tests"])
    if fmt == "json":
        assert data["max_score"] == sum(t["max_score"] for t in data["tests"])
    if fmt == "gradescope":  # the specification's keys only, and a whole number of seconds
        assert set(data) <= GRADESCOPE_KEYS and "max_score" not in data
        assert all(set(t) <= GRADESCOPE_TEST_KEYS for t in data["tests"])
        assert isinstance(data["execution_time"], int) and data["execution_time"] >= 0


@pytest.mark.quick
def test_bad_arguments_exit_2(tmp_path, run_grader):
    proc = run_grader("grade", "--submission", tmp_path / "missing")
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_grader("grade", "--assignment", "a9")
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr


@pytest.mark.quick
def test_missing_assignment_folder(tmp_path, grade_json):
    report = grade_json(tmp_path, "a1", "quick")
    assert report["score"] == 0 and "not found" in report["tests"][0]["message"]


SOLUTION = (ROOT / "solutions" / "a1_intro_nn" / "mlp.py").read_text()


@pytest.mark.quick
@pytest.mark.parametrize(
    "name, source, status, words",
    [
        ("syntax", "def init_params(:\n", "error", "syntax error"),
        ("import_raises", "raise ValueError('boom')\n", "error", "importing mlp.py raised ValueError"),
        ("sys_exit", "import sys\nsys.exit(3)\n", "error", "SystemExit"),
        (
            "os_exit_in_forward",
            SOLUTION + "\ndef forward(params, X):\n    import os\n    os._exit(0)\n",
            "error",
            "ended the grading process",
        ),
        (
            "endless_forward",
            SOLUTION + "\ndef forward(params, X):\n    while True:\n        pass\n",
            "timeout",
            "time limit",
        ),
        # patching torch in the sandbox cannot touch the judge's comparisons: a correct forward still passes
        ("patches_torch", SOLUTION + "\nimport torch\ntorch.allclose = lambda *a, **k: True\n", "passed", ""),
        ("prints_megabytes", SOLUTION + "\nprint('x' * 5_000_000)\n", "passed", ""),
        (
            "numpy_instead_of_torch",
            SOLUTION + "\n_f = forward\ndef forward(params, X):\n    y, o = _f(params, X)\n    return y.numpy(), o\n",
            "failed",
            "should be a torch.Tensor, got ndarray",
        ),
        (
            "tuple_instead_of_dict",
            SOLUTION + "\n_f = forward\ndef forward(params, X):\n    y, o = _f(params, X)\n"
            "    return y, tuple(o.values())\n",
            "failed",
            "should return a dict, got tuple",
        ),
        (
            "nan_output",
            SOLUTION + "\n_f = forward\ndef forward(params, X):\n    y, o = _f(params, X)\n"
            "    return y * float('nan'), o\n",
            "failed",
            "NaN or inf",
        ),
        (
            "modifies_its_input",
            SOLUTION + "\n_f = forward\ndef forward(params, X):\n    X.mul_(2)\n    return _f(params, X)\n",
            "failed",
            "differs from the expected value",
        ),
    ],
)
def test_misbehaving_submission(name, source, status, words, tmp_path, grade_json):
    sub = make_submission(tmp_path, source)
    # the check of the broken function and one of another module (--check: the other ten cost time, not coverage)
    report = grade_json(sub, "a1", "quick", "--time-scale", "0.2", "--check", "forward", "--check", "svm_accuracies")
    by_name = {t["name"].split("/", 1)[1]: t for t in report["tests"]}
    forward = by_name["forward"]
    assert forward["kit_status"] == status, forward
    assert words in forward["message"]
    # the other modules are still graded: their checks keep their points
    assert by_name["svm_accuracies"]["score"] == by_name["svm_accuracies"]["max_score"]
    assert report["score"] <= report["max_score"]
    if name == "prints_megabytes":
        assert "output truncated" in forward["output"] and len(forward["output"]) < 3000


@pytest.mark.quick
def test_report_written_when_grading_fails(tmp_path, monkeypatch):
    """A broken check module costs its assignment only; a crash of the grader itself still leaves a report."""
    from autograder import __main__ as cli
    from autograder import runner

    real_select = runner.select

    def select(assignment, tier):
        if assignment == "a4_gaussian_fit":
            raise SyntaxError("invalid syntax (a4_gaussian_fit.py, line 12)")
        return real_select(assignment, tier)

    monkeypatch.setattr(runner, "select", select)
    out = tmp_path / "report.json"
    assert (
        cli.main(
            [
                "grade",
                "--assignment",
                "a2",
                "--assignment",
                "a4",
                "--tier",
                "quick",
                "--format",
                "json",
                "--output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    tests = json.loads(out.read_text())["tests"]
    broken = [t for t in tests if t["name"].startswith("a4_gaussian_fit/")]
    assert len(broken) == 1 and "could not load the checks: SyntaxError" in broken[0]["output"]
    assert sum(t["name"].startswith("a2_cnn/") for t in tests) > 10  # the other assignment was graded

    def crash(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(cli, "grade", crash)
    for fmt, words in (("json", '"kit_status": "error"'), ("junit", "no space left"), ("table", "grader error")):
        out = tmp_path / f"crash.{fmt}"
        assert cli.main(["grade", "--assignment", "a1", "--format", fmt, "--output", str(out), "--quiet"]) == 3
        assert "no space left on device" in out.read_text() and words in out.read_text()


@pytest.mark.quick
def test_grade_many_writes_gradebook(tmp_path, run_grader):
    import csv
    import shutil

    for student, source in (("alice", "solutions"), ("bob", "assignments")):
        shutil.copytree(
            ROOT / source / "a1_intro_nn",
            tmp_path / "subs" / student / "a1_intro_nn",
            ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"),
        )
    proc = run_grader(
        "grade-many",
        tmp_path / "subs",
        "--assignment",
        "a1",
        "--tier",
        "quick",
        "--jobs",
        "2",
        "--output-dir",
        tmp_path / "out",
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "out" / "gradebook.csv"))}
    assert rows["alice"]["total"] == rows["alice"]["max_score"] != "0"
    assert rows["bob"]["total"] == "0"
    assert json.loads((tmp_path / "out" / "alice.json").read_text())["score"] == float(rows["alice"]["total"])


# Gradescope's results.json as its autograder docs describe it (the fields the kit writes).
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "tests"],
    "propertyNames": {"enum": sorted(GRADESCOPE_KEYS)},
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "integer"},
        "output": {"type": "string"},
        "visibility": VISIBILITY,
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "status", "output", "visibility"],
                "propertyNames": {"enum": sorted(GRADESCOPE_TEST_KEYS)},
                "properties": {
                    "name": {"type": "string"},
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": VISIBILITY,
                },
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
            },
        },
    },
}


@pytest.mark.quick
def test_gradescope_bundle_entry_point(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    import zipfile

    import jsonschema

    from autograder.platforms.gradescope import build

    root = tmp_path / "autograder"
    bundle = zipfile.ZipFile(build("a1", tmp_path / "bundle.zip"))
    bundle.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile drops the mode that unzip (Gradescope) keeps
        mode = bundle.getinfo(name).external_attr >> 16
        assert mode & 0o111, f"{name} is not executable in the zip"
        (root / "source" / name).chmod(mode)
    sub = root / "submission"
    sub.mkdir()
    for name in A1_MODULES:  # students upload the bare files
        shutil.copy(ROOT / "solutions" / "a1_intro_nn" / name, sub)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "KIT_PYTHON": sys.executable, "KIT_TIER": "quick"}
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0
    assert all(t["status"] == "passed" for t in results["tests"])
    assert results["execution_time"] > 0
    visibility = {t["name"]: t["visibility"] for t in results["tests"]}
    assert visibility.pop("a1_intro_nn/backward_batch_mean") == "after_published"  # the hidden check
    assert set(visibility.values()) == {"visible"}
    assert "nbgrader" not in (root / "source" / "requirements.txt").read_text()
    # an empty submission still gets a results.json, with 0
    shutil.rmtree(sub)
    sub.mkdir()
    (root / "results" / "results.json").unlink()
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, timeout=600)
    empty = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(empty, GRADESCOPE_SCHEMA)
    assert empty["score"] == 0
    # the kit itself broken (here: a check module that does not load): no results.json, so no score of 0 that
    # looks like the student's; Gradescope shows the autograder's failure, and the output says why
    checks = root / "source" / "autograder" / "checks" / "a1_intro_nn.py"
    checks.write_text("this is not python\n")
    (root / "results" / "results.json").unlink()
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and not (root / "results" / "results.json").exists(), proc.stdout + proc.stderr
    assert "grader error" in proc.stdout and "not the student's score" in proc.stdout, proc.stdout


@pytest.mark.quick
@pytest.mark.parametrize(
    "name, source, words",
    [
        (
            "reads_solutions",
            "import importlib.util as u, pathlib\n"
            "p = pathlib.Path(r'" + str(ROOT / "solutions" / "a1_intro_nn" / "mlp.py") + "')\n"
            "s = u.spec_from_file_location('ref', p); m = u.module_from_spec(s); s.loader.exec_module(m)\n"
            "globals().update({k: getattr(m, k) for k in dir(m) if not k.startswith('_')})\n",
            ("does not let a submission read", "No such file"),
        ),  # the audit hook, or not even visible (bubblewrap)
        (
            "writes_outside_tmp",
            SOLUTION + "\nopen(r'" + str(ROOT / "pwned.txt") + "', 'w').write('x')\n",
            ("does not let a submission write",),
        ),
        ("allocates_too_much", SOLUTION + "\nimport torch\nhog = torch.ones(4 * 1024 ** 3)\n", ("memory",)),
    ],
)
def test_sandbox_limits(name, source, words, tmp_path, grade_json):
    sub = make_submission(tmp_path, source)
    report = grade_json(sub, "a1", "quick", "--check", "forward", "--check", "svm_accuracies")
    forward = next(t for t in report["tests"] if t["name"].endswith("/forward"))
    assert forward["score"] == 0 and any(w in forward["message"] for w in words), forward
    assert not (ROOT / "pwned.txt").exists()
    svm = next(t for t in report["tests"] if t["name"].endswith("/svm_accuracies"))
    assert svm["score"] == svm["max_score"]


@pytest.mark.train
@pytest.mark.heavy
def test_determinism_reports_margins(run_grader):
    """Two seeds of two of a1's threshold checks (--check: the others are skipped): each passes both times and
    shows its measured accuracies."""
    proc = run_grader(
        "determinism",
        "--runs",
        "2",
        "--assignment",
        "a1",
        "--time-scale",
        "2",
        "--check",
        "train_circles_manual",
        "--check",
        "a1/train_svm_circles",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[-1]: line for line in proc.stdout.splitlines() if "a1_intro_nn/" in line}
    assert set(rows) == {"a1_intro_nn/train_circles_manual", "a1_intro_nn/train_svm_circles"}
    for line in rows.values():
        passed, low, median, high, threshold = line.split()[:5]
        assert passed == "2/2" and float(threshold[:-1]) <= float(low[:-1]) <= float(high[:-1]) <= 100
    assert "0 flaky check(s) over 2 seeds" in proc.stdout


@pytest.mark.quick
def test_metrics_are_data_in_the_result(tmp_path):
    """What a check measures travels as data (CheckResult.metrics, each JSON test's `metrics`): a submission that
    prints a fake measurement and megabytes after it (its output is trimmed to 2,000 characters) changes nothing."""
    from autograder.report import to_json
    from autograder.runner import grade

    source = (ROOT / "solutions" / "a1_intro_nn" / "svm.py").read_text()
    old = "def svm_accuracies("
    assert source.count(old) == 1
    fake = 'print("measured accuracy: 0.1000 (threshold 0.9500)" + "x" * 5_000_000)\n\n\n'
    folder = tmp_path / "sub" / "a1_intro_nn"
    shutil.copytree(ROOT / "solutions" / "a1_intro_nn", folder, ignore=shutil.ignore_patterns("*.ipynb", "runs"))
    (folder / "svm.py").write_text(source.replace(old, fake + old))
    (result,) = grade(tmp_path / "sub", ["a1_intro_nn"], tier="train", only=["a1_intro_nn/train_svm_circles"])
    assert result.status == "passed", result.message
    assert "measured accuracy: 0.1000" in result.output and "output truncated" in result.output
    assert [m["name"] for m in result.metrics] == ["accuracy"]
    assert result.metrics[0]["value"] >= 0.95 and result.metrics[0]["threshold"] == 0.95
    assert to_json([result])["tests"][0]["metrics"] == result.metrics


@pytest.mark.quick
def test_determinism_reads_the_metrics(monkeypatch, capsys, tmp_path):
    """determinism takes each run's accuracies from the JSON report's metrics (here: fake runs), never from the
    output, and flags a threshold that failed once."""
    import argparse
    import subprocess

    from autograder.__main__ import determinism_main

    real_run = subprocess.run

    def fake_run(cmd, env=None, **kwargs):
        if "grade" not in cmd:  # the JSON record's own `git rev-parse`
            return real_run(cmd, env=env, **kwargs)
        k = int(env["KIT_SEED_OFFSET"])
        assert cmd[cmd.index("--check") + 1] == "train_circles"  # handed on to each run's grade
        if k:  # the record is written after every run, so a stopped study keeps its finished seeds
            kept = json.loads(record.read_text())["results"]
            assert kept["runs"] == k and kept["planned_runs"] == 3, kept
        circles = [0.97 + k / 100, 0.99]  # a check with several trainings counts its worst one
        tests = [
            {
                "name": "a1_intro_nn/train_circles",
                "tier": "train",
                "score": 1,
                "max_score": 1,
                "output": "measured accuracy: 0.1000 (threshold 0.9500)",
                "duration": 10.0 + k,
                "metrics": [{"name": "accuracy", "value": v, "threshold": 0.95} for v in circles],
            },
            {
                "name": "a1_intro_nn/train_mnist",
                "tier": "train",
                "score": k % 2,
                "max_score": 1,
                "output": "",
                "metrics": [{"name": "accuracy", "value": 0.975 + k / 1000, "threshold": 0.98}],
            },
            {"name": "a1_intro_nn/forward", "tier": "quick", "score": 1, "max_score": 1, "metrics": []},
        ]
        Path(cmd[cmd.index("--output") + 1]).write_text(json.dumps({"tests": tests}))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    record = tmp_path / "determinism.json"
    args = argparse.Namespace(
        runs=3,
        first_seed=0,
        submission="solutions",
        tier="train",
        time_scale=1.0,
        json=str(record),
        assignment=["a1"],
        check=["train_circles"],
    )
    assert determinism_main(args, ["a1_intro_nn"]) == 1
    out = capsys.readouterr().out
    rows = {w[5]: w for w in (line.split() for line in out.splitlines() if "a1_intro_nn/" in line)}
    assert rows["a1_intro_nn/train_circles"] == [
        "3/3",
        "97.00%",
        "98.00%",
        "99.00%",
        "95.0%",
        "a1_intro_nn/train_circles",
    ]
    assert rows["a1_intro_nn/train_mnist"][:6] == [
        "1/3",
        "97.50%",
        "97.60%",
        "97.70%",
        "98.0%",
        "a1_intro_nn/train_mnist",
    ]
    assert "FLAKY" in out.split("a1_intro_nn/train_mnist")[1].splitlines()[0] and "a1_intro_nn/forward" not in rows
    assert "1 flaky check(s) over 3 seeds" in out
    kept = {row["check"]: row for row in json.loads(record.read_text())["results"]["checks"]}
    assert kept["a1_intro_nn/train_circles"]["values"] == [0.97, 0.98, 0.99]  # each seed's worst training
    assert kept["a1_intro_nn/train_circles"]["seconds"] == [10.0, 11.0, 12.0]
    assert "--check train_circles" in json.loads(record.read_text())["command"]


@pytest.mark.quick
def test_grade_one_check(run_grader):
    """--check grades the named checks only (by name or assignment/name); an unknown name, or a full-tier check
    asked for at a lower tier, is exit 2 with a line that says what to do."""
    proc = run_grader(
        "grade",
        "--submission",
        "solutions",
        "--assignment",
        "a4",
        "--tier",
        "quick",
        "--check",
        "loss",
        "--check",
        "a4/forward",
        "--format",
        "json",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert [t["name"] for t in json.loads(proc.stdout)["tests"]] == ["a4_gaussian_fit/loss", "a4_gaussian_fit/forward"]
    proc = run_grader("grade", "--submission", "solutions", "--check", "no_such_check")
    assert proc.returncode == 2 and "no such check" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_grader(
        "grade", "--submission", "solutions", "--assignment", "a2", "--check", "train_cifar_full_improved"
    )
    assert proc.returncode == 2 and "--tier full" in proc.stderr, proc.stderr


@pytest.mark.quick
def test_a_check_records_only_its_own_metrics_and_notes():
    """What a check measures and notes lives in the context the runner hands it, and from there in its result
    only: a second check starts empty, and a result built without them has none."""
    from autograder import api
    from autograder.report import CheckResult, details
    from autograder.runner import result_of

    def measured(sub):
        api.expect_accuracy(sub, 0.97, 0.95, "low")
        sub.note("trained with the student's conventions")

    chk = api.Check("a0", "x", 1.0, "quick", 1.0, measured, "measures")
    first, second = api.Context(chk, session=None), api.Context(chk, session=None)
    chk.func(first)
    assert first.metrics == [{"name": "accuracy", "value": 0.97, "threshold": 0.95}]
    assert second.metrics == [] and second.notes == []
    res = result_of(chk, "passed", "", metrics=first.metrics, notes=first.notes)
    assert res.metrics == first.metrics and res.description == "measures" and res.kind == "passed"
    assert details(res) == [
        "measured accuracy: 0.9700 (threshold 0.9500)",
        "note: trained with the student's conventions",
    ]
    assert CheckResult("a0", "y", "quick", 1, 1, "passed", "", "", 0.1).metrics == []  # no hidden global
    with pytest.raises(ValueError, match="cannot have the status"):
        CheckResult("a0", "y", "quick", 0, 1, "failed", "", "", 0.1, kind="grader_error")


@pytest.mark.quick
def test_gradescope_leaderboard_rows():
    import jsonschema

    from autograder.report import CheckResult, to_gradescope

    # the numbers come from the results' metrics, never from their output
    trained = CheckResult(
        "a2_cnn",
        "train_cifar_small",
        "train",
        3,
        3,
        "passed",
        "",
        "measured accuracy: 0.9999 (threshold 0.2500)\n",
        41.26,
        metrics=[{"name": "accuracy", "value": 0.3125, "threshold": 0.25}],
    )
    failed = CheckResult(
        "a2_cnn",
        "train_other",
        "train",
        0,
        2,
        "failed",
        "too low",
        "",
        10.0,
        metrics=[{"name": "accuracy", "value": 0.1, "threshold": 0.25}],
    )
    quick = CheckResult("a2_cnn", "conv_output_size", "quick", 2, 2, "passed", "", "", 0.2)
    assert "leaderboard" not in to_gradescope([trained, quick])
    data = to_gradescope([trained, failed, quick], leaderboard=True)
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    rows = data["leaderboard"]
    assert rows == [
        {"name": "train_cifar_small: test accuracy (%)", "value": 31.25, "order": "desc"},
        {"name": "train_cifar_small: time (s)", "value": 41.3, "order": "asc"},
    ]


@pytest.mark.quick
def test_errors_name_the_student_function_they_came_from(tmp_path, grade_json):
    """A check that fails inside another of the student's functions says which one, and where."""
    source = SOLUTION.replace(
        "def loss_accuracy(", 'def _kit_test_helper():\n    raise ValueError("boom")\n\n\ndef loss_accuracy(', 1
    )
    start = source.index("def loss_accuracy(")
    body = source.index('"""', source.index('"""', start) + 3) + 3  # after the docstring
    source = source[:body] + "\n    _kit_test_helper()" + source[body:]
    report = grade_json(make_submission(tmp_path, source), "a1", "quick")
    messages = {t["name"].split("/")[1]: t["message"] for t in report["tests"]}
    assert "boom" in messages["loss_accuracy"] and "in _kit_test_helper, mlp.py, line" in messages["loss_accuracy"]


@pytest.mark.quick
def test_report_to_a_device_or_pipe_is_written_in_place(tmp_path):
    """--output /dev/null (autograder.tools.bench does so) must not replace the device with a file: write into it."""
    import os
    import stat
    import threading
    from pathlib import Path

    from autograder.__main__ import write_atomically

    fifo = Path(tmp_path / "pipe")
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()), daemon=True)
    reader.start()
    write_atomically(fifo, "TOTAL: 0 / 20\n")
    reader.join(timeout=10)
    assert received == ["TOTAL: 0 / 20\n"] and stat.S_ISFIFO(fifo.stat().st_mode)
    regular = tmp_path / "report.json"
    write_atomically(regular, "{}\n")
    assert regular.read_text() == "{}\n" and not list(tmp_path.glob(".report.json.*"))


@pytest.mark.quick
def test_missing_data_is_a_grader_error_not_the_students(tmp_path, monkeypatch, run_grader):
    """The judge's own data (test images and labels) missing: a grader error that says to grade again, not a
    failure the student's code is blamed for."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("DATA_MIRROR", str(tmp_path / "no-mirror"))
    out = tmp_path / "report.json"
    proc = run_grader(
        "grade", "--submission", "solutions", "--assignment", "a1", "--tier", "train", "--check", "train_mnist_mlp",
        "--format", "json", "--output", out, "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [test] = json.loads(out.read_text())["tests"]
    assert test["kit_status"] == "error" and test["output"].startswith("grader error:"), test["output"]
    assert "grade again" in test["output"] and "the submission" not in test["output"]


@pytest.mark.quick
def test_gradescope_bundle_scales_time_limits_to_its_cpu_share(tmp_path, capsys):
    import zipfile

    from autograder.platforms import gradescope

    for cpus, scale in ((0.5, "4"), (1, "2"), (4, "1")):
        bundle = zipfile.ZipFile(gradescope.build("a1", tmp_path / f"{cpus}.zip", cpus=cpus))
        assert f'--time-scale "${{KIT_TIME_SCALE:-{scale}}}"' in bundle.read("run_autograder").decode()
    assert gradescope.main(["a1", "--out", str(tmp_path / "b.zip"), "--tier", "quick"]) == 0
    from autograder.runner import select

    quick = sum(c.points for c in select("a1_intro_nn", "quick"))
    assert f"set the assignment's points to {quick:g} (quick tier" in capsys.readouterr().out
    assert gradescope.main(["a1", "--cpus", "0"]) == 2 and "positive CPU share" in capsys.readouterr().err


@pytest.mark.quick
def test_syntax_error_names_the_file_that_holds_it(tmp_path, grade_json):
    """mlp_torch.py imports mlp.py: a syntax error in mlp.py is reported in nn_version (which loads mlp_torch) as
    mlp.py's, with mlp.py's line, and said to come through the import (it read 'mlp_torch.py has a syntax error'
    with mlp.py's line)."""
    sub = make_submission(
        tmp_path, SOLUTION.replace("def sgd(params, grads, eta):\n", "def sgd(params, grads, eta):\n    x = = 1\n")
    )
    line = SOLUTION.splitlines().index("def sgd(params, grads, eta):") + 2
    report = grade_json(sub, "a1", "quick", "--check", "sgd", "--check", "nn_version")
    by_name = {t["name"].split("/", 1)[1]: t["message"] for t in report["tests"]}
    assert f"mlp.py has a syntax error at line {line}:" in by_name["sgd"], by_name["sgd"]
    assert f"mlp.py has a syntax error at line {line} (imported by mlp_torch.py)" in by_name["nn_version"], by_name
