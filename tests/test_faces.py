"""The grader's two faces agree (DESIGN.md decision 12): the instructor's, whose oracles compute expected values
live, and the student kit's, which answers from the values recorded on the reference. On the reference, the stubs
and every mutant of autograder/tools/mutants.py, each face grades the quick tier of each assignment, and the verdicts
match check by check; a mutant never meets a case the recording lacks (an oracle fed with what the submission
returned instead of the judge's own draws)."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.tools import mutants
from autograder.platforms.student_kit import build

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("a1_intro_nn", "a2_cnn", "a3_transformers", "a4_gaussian_fit")
NOT_RECORDED = "no recorded answer"

# Grades every folder of FOLDER with the grader of the current folder (the instructor's checkout or the kit) and
# prints {student: {check: [status, message, output]}}.
GRADE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, ".")
    from autograder.runner import grade_many
    folder, assignment, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    graded = grade_many(folder, [assignment], tier="quick", jobs=jobs)
    print(json.dumps({s: {r.name: [r.status, r.message, r.output, r.notes] for r in rs} for s, rs in graded.items()}))
    """
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return build(tmp_path_factory.mktemp("faces") / "student-kit", make_zip=False)


def grade(where: Path, folder: Path, assignment: str, jobs: int = 2) -> dict:
    """The quick tier of `assignment` for every submission folder of `folder`, graded by the grader of `where` (the
    checkout, or a built student kit) in a process of its own: {student: {check: [status, message, output, notes]}}."""
    proc = subprocess.run(
        [sys.executable, "-c", GRADE, str(folder), assignment, str(jobs)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def submissions(assignment: str, folder: Path) -> dict:
    """folder/<name>/<assignment>/: the reference, the stubs and each mutant; returns name -> mutant (or None)."""
    made = {}
    for name, source in (("reference", ROOT / "solutions"), ("stubs", ROOT / "assignments")):
        shutil.copytree(
            source / assignment, folder / name / assignment, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__")
        )
        made[name] = None
    for m in mutants.MUTANTS:
        if m.assignment == assignment:
            name = re.sub(r"[^\w.-]+", "_", m.id)  # ids such as 'sign of dg/dmu' are no folder names
            sub = mutants.apply(m, folder.parent / "work" / name)
            shutil.move(sub, folder / name)
            made[name] = m
    return made


@pytest.mark.quick
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_faces_agree_on_reference_stubs_and_mutants(kit, assignment, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    made = submissions(assignment, folder)
    teacher, student = grade(ROOT, folder, assignment), grade(kit, folder, assignment)
    assert all(status == "passed" for status, *_ in teacher["reference"].values()), teacher["reference"]
    assert all(status == "passed" for status, *_ in student["reference"].values()), student["reference"]
    assert all(status != "passed" for status, *_ in student["stubs"].values()), student["stubs"]
    problems = []
    for name, mutant in made.items():
        public = student[name]
        for check, (status, message, *_) in public.items():
            if NOT_RECORDED in message:
                problems.append(f"{name}/{check}: the recording lacks its case: {message}")
            if (status == "passed") != (teacher[name][check][0] == "passed"):
                problems.append(f"{name}/{check}: instructor {teacher[name][check][0]}, student kit {status}")
        if mutant is not None:
            for check in (c for c in mutant.checks if c in public):  # hidden checks are not in the kit
                if public[check][0] != "failed":
                    problems.append(f"{name}: {check} is {public[check][0]} in the student kit, must fail")
    assert not problems, "\n".join(problems)
