"""The student kit: built in a temporary folder, it holds nothing a student should not see, and its README's
commands work there (stubs score 0, the reference modules dropped in score every public point)."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from autograder.platforms.student_kit import build, hidden_check_names, public_source

# heavy as a whole: its tests share a module-scoped fixture, so they move to the front together
pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parent.parent

ASSIGNMENTS = ("a1_intro_nn", "a2_cnn", "a3_transformers", "a4_gaussian_fit")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return build(tmp_path_factory.mktemp("kit") / "student-kit")


def files_of(folder: Path):
    """Every file of `folder` (a kit, a template repository, a question), as (name relative to it, text)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield str(path.relative_to(folder)), path.read_text(errors="replace")


def _files(kit):
    """Every file of the kit, and every file inside its zip, as (name, text)."""
    yield from files_of(kit)
    with zipfile.ZipFile(kit.with_suffix(".zip")) as zf:
        for name in zf.namelist():
            yield "zip:" + name, zf.read(name).decode(errors="replace")


# Lines of a solution region that the kit may hold, and why.
ALLOWED = {
    "losses.append(float(g.detach()))": "a loop's bookkeeping, not an answer",
    "rows = torch.arange(height, dtype=dtype)": "a4's pixel grid: the assignment's statement gives it",
    "cols = torch.arange(width, dtype=dtype)": "a4's pixel grid: the assignment's statement gives it",
    "return self.classifier(self.features(x))": "the usual nn.Module idiom (a3's CNN baseline uses it too)",
}


def _solution_lines() -> set[str]:
    """Distinctive lines of every solution region of the instructor source (modules and notebooks)."""
    lines = set()
    for path in (ROOT / "solutions").rglob("*"):
        if path.suffix == ".py":
            texts = [path.read_text()]
        elif path.suffix == ".ipynb":
            texts = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
        else:
            continue
        for text in texts:
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S):
                lines |= {
                    ln.strip()
                    for ln in region.splitlines()
                    if len(ln.strip()) >= 30 and not ln.strip().startswith(("#", '"""', "raise NotImplemented"))
                }
    return lines


def what_a_student_should_not_see(files, hidden=()) -> list[str]:
    """What (name, text) files hold that no student may read: nbgrader's markers, the names of hidden checks, lines
    of the reference's solution regions (but ALLOWED's). The scan of the student kit, the Classroom template and
    PrairieLearn's public files."""
    solution_lines = _solution_lines() - set(ALLOWED)
    assert len(solution_lines) > 50
    found = []
    for name, text in files:
        found += [f"{m} in {name}" for m in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS") if m in text]
        found += [f"hidden check {h} named in {name}" for h in hidden if h in text]
        leaked = [ln for ln in solution_lines if ln in text]
        found += [f"solution code in {name}: {leaked[:3]}"] if leaked else []
    return found


@pytest.mark.quick
def test_nothing_a_student_should_not_see(kit):
    names = {str(p.relative_to(kit)) for p in kit.rglob("*")}
    for forbidden in (
        "solutions",
        "tests",
        "autograder/tools/mutants.py",
        "autograder/platforms/release.py",
        "autograder/platforms/nbgrader_plugins.py",
        "autograder/platforms/gradescope.py",
        "autograder/tools/bench.py",
        "gradebook.db",
    ):
        assert forbidden not in names, f"{forbidden} is in the student kit"
    hidden = [n for names_ in hidden_check_names().values() for n in names_]
    assert hidden, "no hidden check to test with: mark one @check(..., hidden=True)"
    found = what_a_student_should_not_see(_files(kit), hidden)
    assert not found, "\n".join(found)


@pytest.mark.quick
def test_hidden_checks_are_cut_with_what_only_they_use():
    source = textwrap.dedent('''
        from autograder.api import check

        LIMIT = 3  # used by both
        SECRET = 0.125


        def shared(x):
            return x + LIMIT


        # the oracle of the hidden check
        def oracle(x):
            return x * SECRET


        @check("public_one", points=1)
        def public_one(sub):
            shared(1)


        @check("secret_one", points=1, hidden=True)
        def secret_one(sub):
            """edge cases"""
            oracle(shared(2))
        ''')
    out, names = public_source(source)
    assert names == ["secret_one"]
    assert "secret_one" not in out and "oracle" not in out and "SECRET" not in out and "edge cases" not in out
    assert "def shared" in out and "LIMIT = 3" in out and "public_one" in out
    compile(out, "public", "exec")


def _venv_on_top_of_ours(folder: Path) -> Path:
    """A new venv that sees this environment's packages through a .pth file: `make setup` then runs for real
    (pip resolves the requirements, installs the kit) without downloading PyTorch again."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next(folder.glob("lib/python*/site-packages"))
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "kit_test_parent.pth").write_text("\n".join(ours) + "\n")
    return folder


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(DATA_DIR=str(ROOT / "data"), KIT_NO_PROGRESS="1")
    return env


def _make(kit, *args, venv, timeout=900):
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"VENV={venv}"],
        cwd=kit,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.train
def test_readme_commands_stubs_then_reference(kit, tmp_path):
    """Copied anywhere: `make setup`, `make check A=a1` and the kit's grader on every assignment score 0 on the
    stubs, full public points on the reference; `make handin` zips the modules and the notebook."""
    copy = tmp_path / "somewhere" / "student-kit"
    shutil.copytree(kit, copy)
    venv = _venv_on_top_of_ours(tmp_path / "venv")
    # pip needs to run from the new venv: borrow ours through the .pth (no network, no new packages)
    proc = _make(copy, "setup", venv=venv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readme = (copy / "README.md").read_text()
    assert "make setup" in readme and "make check A=a1" in readme

    def check_all():
        """The README's `make check A=a1`, then the kit's grader on every assignment in one run (what `make check`
        runs for each, in one process: one sandbox start instead of four); {assignment: (points, out of)}."""
        proc = _make(copy, "check", "A=a1", venv=venv)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"a1_intro_nn: [\d.]+ / [\d.]+", proc.stdout), proc.stdout
        cmd = [str(venv / "bin" / "python"), "-m", "autograder", "grade", "--submission", "assignments"]
        proc = subprocess.run(
            [*cmd, "--tier", "quick", "--quiet"], cwd=copy, env=_env(), capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        totals = dict(re.findall(r"^(a\d_\w+): ([\d.]+ / [\d.]+)$", proc.stdout, re.M))
        assert sorted(totals) == sorted(ASSIGNMENTS), proc.stdout
        return proc.stdout, {a: tuple(float(x) for x in t.split(" / ")) for a, t in totals.items()}

    out, totals = check_all()
    assert all(got == 0 < out_of for got, out_of in totals.values()), out
    # the README's sample report shows the total the student's own `make check` prints (the public checks')
    assert f"a1_intro_nn: 3 / {totals['a1_intro_nn'][1]:g}\n" in readme, readme
    rows = [ln for ln in out.splitlines() if re.match(r"\s+(ok|FAIL|TODO|ERROR|TIMEOUT)\s", ln)]
    assert rows and all(ln.split()[0] == "TODO" for ln in rows), out
    for aid in ASSIGNMENTS:
        for module in (ROOT / "solutions" / aid).glob("*.py"):
            shutil.copy(module, copy / "assignments" / aid / module.name)
    out, totals = check_all()
    assert all(got == out_of > 0 for got, out_of in totals.values()), out
    proc = _make(copy, "handin", "A=a1", venv=venv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(copy / "handin" / "a1_intro_nn.zip") as zf:
        assert sorted(zf.namelist()) == sorted(
            f"a1_intro_nn/{p.name}"
            for p in (copy / "assignments" / "a1_intro_nn").iterdir()
            if p.suffix in (".py", ".ipynb")
        )


@pytest.mark.train
@pytest.mark.parametrize("source", ["address", "uploaded"])
def test_notebook_setup_cell_installs_the_kit_where_it_is_missing(kit, tmp_path, monkeypatch, source):
    """Colab / a fresh JupyterHub: the released notebook's first code cell installs the student kit from the
    address the instructor set, or from the zip the student uploaded where no address is set, moves into the
    assignment's folder and fetches its data. It installs only what the platform lacks, never its Jupyter."""
    from autograder.platforms.release import setup_cell_source

    home = tmp_path / "home"
    home.mkdir()
    if source == "address":
        monkeypatch.setenv("KIT_STUDENT_KIT_URL", str(kit.with_suffix(".zip")))
    else:
        monkeypatch.setenv("KIT_STUDENT_KIT_URL", "")
        monkeypatch.setattr("autograder.platforms.release.student_kit_source", lambda: "")
        shutil.copy(kit.with_suffix(".zip"), home / "student-kit.zip")
    cell = setup_cell_source("a1_intro_nn")
    assert ('KIT_SOURCE = ""' in cell) == (source == "uploaded")
    venv = _venv_on_top_of_ours(tmp_path / "venv")
    python = venv / "bin" / "python"
    script = tmp_path / "notebook.py"
    script.write_text(cell + "\nimport kit, mlp\nprint('cwd', os.getcwd())\nprint('mlp', mlp.__file__)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), DATA_DIR=str(ROOT / "data"))
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('kit'))"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "None", "the test's venv must not see the kit already"
    proc = subprocess.run([str(python), str(script)], env=env, cwd=home, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installing = [ln for ln in proc.stdout.splitlines() if ln.startswith("installing what this platform lacks")]
    assert not any(name in ln for ln in installing for name in ("jupyterlab", "notebook", "ipykernel")), installing
    folder = home / "student-kit" / "assignments" / "a1_intro_nn"
    assert f"cwd {folder}" in proc.stdout and f"mlp {folder / 'mlp.py'}" in proc.stdout, proc.stdout
    # a second run (the kit is now installed) does nothing but say which device it uses
    again = subprocess.run([str(python), "-c", cell], env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.strip().startswith("device:"), again.stdout + again.stderr


@pytest.mark.quick
def test_setup_cell_installs_only_what_the_platform_lacks(tmp_path):
    """The set-up cell's choice of what to install: packages present stay as the platform has them (Colab's own
    PyTorch), the platform's Jupyter is never touched (installing jupyterlab breaks Colab's runtime), a package
    that is missing is installed with its line's range and marker."""
    from autograder.platforms.release import setup_cell_source

    cell = setup_cell_source("a1_intro_nn")
    namespace: dict = {}
    exec(cell.split("\nif importlib.util.find_spec")[0], namespace)  # the cell's definitions, without running it
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\ntorch>=2.4,<3\nPyYAML>=6\njupyterlab>=4,<5\nnotebook\nipykernel>=6\n"
        'surely-not-a-kit-package>=1,<2; sys_platform == "linux"\n'
    )
    assert namespace["lacking"](requirements) == ['surely-not-a-kit-package>=1,<2; sys_platform == "linux"']
