"""What the kit's tests share, as pytest fixtures (no test imports this module):

- `root`: the repository's root folder;
- `assignments`: every assignment, from the registry (autograder/assignments.py);
- `graded_assignment`: a test taking it runs once for each assignment that has a check module;
- `run_grader(*args)`: the real CLI (`python -m autograder ...`) in a child process;
- `grade_json(submission, assignment, tier, *extra)`: grade with the real CLI into a JSON report in the test's
  tmp_path, and return the report;
- and, for every test, one sandbox per test process for the in-process gradings of folders under tmp_path, a
  speed-decision cache of the session's own (KIT_CACHE_DIR), and a sandbox interpreter every user can read for
  the "user" level (KIT_SANDBOX_PYTHON) where the kit's own is under root's home.
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("KIT_NO_PROGRESS", "1")
# pytest-xdist runs several tests at once: each test's children (graders, notebook kernels, nbgrader) get their
# share of the cores, inherited through OMP_NUM_THREADS, instead of every one of them using them all.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )


def _readable_interpreter() -> None:
    """Root, with the kit's Python under root's home (pyenv here): the "user" level refuses it (the sandbox user
    cannot read it, judge.user_level_python). The tests of that level then run the sandbox with the system's
    interpreter of the same version, which every user reads (KIT_SANDBOX_PYTHON), when there is one."""
    if os.geteuid() != 0 or os.environ.get("KIT_SANDBOX_PYTHON"):
        return
    from autograder.sandbox import client as judge

    if not judge._user_level_problem(sys.executable):
        return
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        if os.path.exists(candidate) and not judge._user_level_problem(candidate):
            os.environ["KIT_SANDBOX_PYTHON"] = candidate
            return


_readable_interpreter()


def _assignments() -> list[str]:
    from autograder.assignments import ASSIGNMENTS  # the registry (tests/test_registry.py holds it to the folders)

    return list(ASSIGNMENTS)


def _graded() -> list[str]:
    return [a for a in _assignments() if (ROOT / "autograder" / "checks" / f"{a}.py").is_file()]


def pytest_collection_modifyitems(items):
    """The heavy tests first: with `-n 2 --dist worksteal` (make test) a worker that runs out of tests takes
    half of the other's queue, so the long ones must not be the last to start."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_generate_tests(metafunc):
    if "graded_assignment" in metafunc.fixturenames:
        metafunc.parametrize("graded_assignment", _graded())


@pytest.fixture(scope="session", autouse=True)
def _a_cache_of_the_tests_own(tmp_path_factory):
    """The speed decisions the tests' trainings probe (kit.loops, taken while the tests load the machine) go to a
    folder of the test session's, for its children too, never into the user's ~/.cache/dlvision-kit."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_CACHE_DIR", str(tmp_path_factory.mktemp("kit-cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def _one_sandbox_for_the_variants(tmp_path_factory):
    """Gradings in a test's process of folders under the test's tmp_path (the reference's variants, mutants)
    share one sandbox per test process, a fresh child per check (runner.shared_sandboxes): a sandbox's start
    (torch and the rest imported, about 3 s) is paid once, not per grading. The CLI's gradings, in processes
    of their own, and those asking for an isolation level each start their own."""
    from autograder.runner import shared_sandboxes

    with shared_sandboxes(tmp_path_factory.getbasetemp()):
        yield


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def assignments() -> list[str]:
    return _assignments()


def _run_grader(*args, timeout=1800):
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def run_grader():
    """run_grader(*args, timeout=1800): the real CLI in a child process; returns the CompletedProcess."""
    return _run_grader


@pytest.fixture
def grade_json(tmp_path):
    """grade_json(submission, assignment, tier, *extra): grade with the real CLI (JSON report, quiet, time limits
    doubled unless `extra` sets --time-scale); asserts the grader completed and returns the report."""
    numbers = itertools.count()

    def grade(submission, assignment, tier, *extra):
        out = tmp_path / f"report-{assignment}-{tier}-{next(numbers)}.json"
        # time limits catch endless loops; a test run sharing the cores with other tests gets twice as long
        scale = () if "--time-scale" in extra else ("--time-scale", "2")
        proc = _run_grader(
            "grade",
            "--submission",
            submission,
            "--assignment",
            assignment,
            "--tier",
            tier,
            "--format",
            "json",
            "--output",
            out,
            "--quiet",
            *scale,
            *extra,
        )
        assert proc.returncode == 0, f"grader exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(out.read_text())

    return grade
