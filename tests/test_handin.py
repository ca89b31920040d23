"""The student kit's hand-in and Makefile (issue 30): `make handin` prints the score and warns about what would cost
points, without blocking; `make grade A=a1` fetches only a1's data; `make run` and the README need no activated
venv; the editable install asks for the setuptools it needs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.platforms import handin
from autograder.assignments import REGISTRY
from autograder.runner import load_checks
from autograder.platforms.student_kit import GRADER_FILES, TEMPLATES

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS_EDITABLE = "64"  # PEP 660 editable installs (pip install -e . with pyproject.toml only)


def _handin(workspace: Path, *args, env=None):
    env = {k: v for k, v in (env or os.environ).items() if k not in ("KIT_HANDIN_URL", "PYTHONPATH")}
    env["KIT_NO_PROGRESS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "autograder.platforms.handin", *args, "--workspace", str(workspace / "assignments")],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.quick
def test_handin_of_untouched_stubs_prints_the_score_and_every_warning(tmp_path):
    """The released stubs and notebook, as a student receives them: the zip is written all the same, with the public
    score, the notebook never run, each unanswered question and each failing check named, and what to do with it."""
    shutil.copytree(ROOT / "assignments" / "a1_intro_nn", tmp_path / "assignments" / "a1_intro_nn")
    proc = _handin(tmp_path, "a1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert (tmp_path / "handin" / "a1_intro_nn.zip").is_file()
    public = [c for c in load_checks("a1_intro_nn") if not c.hidden]
    quick = sum(c.points for c in public if c.tier == "quick")
    assert f"Score, public checks (quick tier): 0 / {quick:g} points" in out, out
    trainings = sum(c.points for c in public if c.tier == "train")
    assert f"the trainings' {trainings:g} points" in out, out
    notebook = json.loads((ROOT / "assignments" / "a1_intro_nn" / "a1_intro_nn.ipynb").read_text())
    unanswered = sum(handin.UNANSWERED in "".join(c["source"]) for c in notebook["cells"])
    assert unanswered > 0
    assert "a1_intro_nn.ipynb was never run" in out, out
    assert f'{unanswered} written answer(s) still say "YOUR ANSWER HERE": Q1, Q2' in out, out
    assert f"{sum(c.tier == 'quick' for c in public)} public check(s) do not pass" in out, out
    assert all(c.name in out for c in public if c.tier == "quick"), out
    assert "Hand in handin/a1_intro_nn.zip the way your course says" in out, out


@pytest.mark.quick
def test_a_finished_notebook_has_no_warning(tmp_path):
    nb = json.loads((ROOT / "assignments" / "a1_intro_nn" / "a1_intro_nn.ipynb").read_text())
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["execution_count"] = n
        elif handin.UNANSWERED in "".join(cell["source"]):
            cell["source"] = "Because the data are not linearly separable."
    path = tmp_path / "a1_intro_nn.ipynb"
    path.write_text(json.dumps(nb))
    assert handin.notebook_warnings(path) == []
    path.write_text("{not json")
    assert "cannot be read" in handin.notebook_warnings(path)[0]


@pytest.mark.quick
def test_handin_address_travels_from_pyproject_to_the_kit(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_HANDIN_URL", raising=False)
    course = tmp_path / "course"
    course.mkdir()
    (course / "pyproject.toml").write_text('[tool.dlvision]\nhandin-url = "https://lms.example/{short}"\n')
    assert handin.configured_address(course) == "https://lms.example/{short}"
    assert handin.configured_address(tmp_path / "nothing") == ""
    monkeypatch.setenv("KIT_HANDIN_URL", "https://lms.example/{assignment}")  # what write_settings reads
    kit = tmp_path / "kit"
    handin.write_settings(kit)
    monkeypatch.delenv("KIT_HANDIN_URL")
    address = handin.configured_address(kit)
    assert address == "https://lms.example/{assignment}"
    lines = handin.upload_lines(Path("handin/a1_intro_nn.zip"), address, "a1_intro_nn", "a1")
    assert lines == ["Upload handin/a1_intro_nn.zip at https://lms.example/a1_intro_nn"]


def _kit_makefile_tree(folder: Path) -> Path:
    """The kit's Makefile with what its recipes read (the grader's assignments.py), outside any venv."""
    assert "assignments.py" in GRADER_FILES  # the Makefile reads the data sets from it
    (folder / "autograder").mkdir(parents=True)
    shutil.copy(TEMPLATES / "Makefile", folder / "Makefile")
    shutil.copy(ROOT / "autograder" / "assignments.py", folder / "autograder" / "assignments.py")
    for name in ("requirements.txt", "constraints.txt", "pyproject.toml"):
        (folder / name).write_text("")
    return folder


def _make_n(folder: Path, *args) -> list[str]:
    proc = subprocess.run(
        ["make", "-n", "--always-make", "--no-print-directory", *args],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin:" + os.environ["PATH"]},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.quick
def test_make_grade_fetches_only_that_assignments_data(tmp_path):
    kit = _kit_makefile_tree(tmp_path)
    for entry in REGISTRY:
        for name in (entry.short, entry.folder):
            fetches = [ln for ln in _make_n(kit, "grade", f"A={name}") if "data_scripts fetch" in ln]
            assert [ln.split("fetch", 1)[1].split() for ln in fetches] == [list(entry.datasets)], (name, fetches)
    assert not [ln for ln in _make_n(kit, "grade", "A=nothing") if "data_scripts fetch" in ln]
    assert [ln for ln in _make_n(kit, "data") if "data_scripts fetch" in ln][0].endswith("fetch all")


@pytest.mark.quick
def test_make_run_uses_the_kits_python_for_every_command(tmp_path):
    kit = _kit_makefile_tree(tmp_path)
    (kit / ".venv" / "bin").mkdir(parents=True)
    fake = kit / ".venv" / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "kit python $*"\n')
    fake.chmod(0o755)
    (kit / ".venv" / ".installed").touch()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = ["make", "--no-print-directory", "run"]
    cmd = "CMD=python -m kit.a3 pretrain && python -m kit.a3 transfer"
    proc = subprocess.run([*run, cmd], cwd=kit, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kit python -m kit.a3 pretrain\nkit python -m kit.a3 transfer" in proc.stdout, proc.stdout
    proc = subprocess.run(run, cwd=kit, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: make run CMD=" in proc.stderr


@pytest.mark.quick
def test_student_readme_commands_need_no_activated_venv():
    """A command the README gives that starts with python, pip or jupyter is also given as `make run CMD="..."`:
    a fresh terminal's python does not see the kit."""
    readme = (TEMPLATES / "README.md").read_text()
    spans = re.findall(r"`([^`\n]+)`", readme) + re.findall(r"^([a-z].*)$", readme, re.M)
    bare = [s for s in spans if re.match(r"(python|pip|jupyter)\s", s) and f'make run CMD="{s}"' not in readme]
    assert not bare, bare
    makefile = (TEMPLATES / "Makefile").read_text()
    for target in set(re.findall(r"^make (\w+)", readme, re.M) + re.findall(r"`make (\w+)", readme)):
        assert re.search(rf"^{target}:", makefile, re.M), f"README names make {target}, the Makefile has no such target"


@pytest.mark.quick
def test_editable_install_gets_a_setuptools_that_supports_it():
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    found = []
    for pyproject in (ROOT / "pyproject.toml", TEMPLATES / "pyproject.toml"):
        found += tomllib.loads(pyproject.read_text())["build-system"]["requires"]
    # both Makefiles install with --no-build-isolation: the venv's own setuptools builds it (a new venv of Python
    # 3.12 or later has none), so the instructor's and the student kit's requirements name it
    from autograder.platforms.student_kit import student_requirements

    for requirements in ((ROOT / "requirements.txt").read_text(), student_requirements()):
        found += [ln for ln in requirements.splitlines() if ln.startswith("setuptools")]
    setuptools = [Requirement(r) for r in found if Requirement(r).name == "setuptools"]
    assert len(setuptools) == 4, found
    for req in setuptools:
        assert SETUPTOOLS_EDITABLE in req.specifier and "63.99" not in req.specifier, req


@pytest.mark.quick
def test_handin_on_colab_packs_the_notebook_as_edited(tmp_path, monkeypatch):
    """On Colab the notebook the student edits lives in the browser and Drive; the runtime's assignment folder holds
    the kit's untouched copy. here() asks Colab for the live notebook, puts it in the folder, zips that and offers
    the download (Colab's modules are stood in for: the test runs outside Colab)."""
    import types
    import zipfile

    folder = tmp_path / "student-kit" / "assignments" / "a1_intro_nn"
    shutil.copytree(ROOT / "assignments" / "a1_intro_nn", folder)
    edited = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "my answer"}], "metadata": {},
              "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    downloaded = []
    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(
        blocking_request=lambda kind, **kw: {"ipynb": edited} if kind == "get_ipynb" else None
    )
    colab.files = types.SimpleNamespace(download=downloaded.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(handin, "public_score", lambda *a: (_ for _ in ()).throw(RuntimeError("not graded here")))
    monkeypatch.chdir(folder)
    target = handin.here()
    assert target == tmp_path / "student-kit" / "handin" / "a1_intro_nn.zip" and downloaded == [str(target)]
    with zipfile.ZipFile(target) as zf:
        assert json.loads(zf.read("a1_intro_nn/a1_intro_nn.ipynb")) == edited
        assert "a1_intro_nn/mlp.py" in zf.namelist()


@pytest.mark.quick
def test_one_reader_of_the_course_settings_refuses_to_drop_them_where_it_must(tmp_path, monkeypatch):
    """handin and the release read [tool.dlvision] with one function: without a TOML reader (Python 3.10 without
    tomli) the release (required=True) fails rather than drop a configured address; the student kit reads {}."""
    from autograder.platforms import handin

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.dlvision]\nstudent-kit-url = "https://example.org/kit.zip"\n')
    assert handin.dlvision_settings(pyproject)["student-kit-url"] == "https://example.org/kit.zip"
    assert handin.dlvision_settings(tmp_path / "none.toml", required=True) == {}
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib raises ImportError
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert handin.dlvision_settings(pyproject) == {}
    with pytest.raises(ImportError):
        handin.dlvision_settings(pyproject, required=True)
