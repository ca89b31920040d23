# nbgrader configuration of the course: the instructor source is solutions/, the student release is assignments/.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "dl-vision"
import os  # noqa: E402

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs", "data", "*.egg-info"]

# The text that replaces a solution region, in notebooks and in the .py modules alike.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Trainings inside notebooks need more than nbgrader's default 30 s per cell.
c.ExecutePreprocessor.timeout = 900
c.Execute.timeout = 900

# nbgrader scores a test cell 0 as soon as anything reaches stderr: ordinary library warnings printed by correct
# code must not cost points (the kit's run_check also silences warnings during a check).
c.IgnorePattern.pattern = r"\w*Warning: "

# Feedback is rendered from the autograded notebook, which holds the hidden tests again: clear them first.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# nbgrader autograde copies every non-notebook file of the source over the submission, which would grade the
# reference modules instead of the student's: keep the students' own versions of the modules they write.
def _student_modules():
    from pathlib import Path

    source = Path(c.CourseDirectory.root) / c.CourseDirectory.source_directory
    return {folder.name: sorted(str(p.relative_to(folder)) for p in folder.rglob("*.py")
                                if "### BEGIN SOLUTION" in p.read_text())
            for folder in source.iterdir() if folder.is_dir()} if source.is_dir() else {}


c.Autograde.exclude_overwriting = _student_modules()

# nbgrader copies the source's .py modules to release/ as they are, solutions included: generate_assignment (the
# command or formgrader's Generate button) clears them here, as `make release` does.
from autograder.platforms.nbgrader_plugins import clear_modules_on_generate  # noqa: E402

clear_modules_on_generate()

# A copied test or answer cell must not fail the whole submission (see autograder/platforms/nbgrader_plugins.py).
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, OverwriteCells, OverwriteKernelspec  # noqa: E402

from autograder.platforms.nbgrader_plugins import DropDuplicateIds  # noqa: E402

c.Autograde.sanitize_preprocessors = [ClearOutput, DropDuplicateIds, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]

# The auto-graded points come from the judge, not from what ran in the student's kernel (a notebook cell could
# replace run_check): after Execute, JudgeGrades grades the checks each test cell names on the submitted modules,
# in isolated children, and sets the cell's outputs from that result before SaveAutoGrades scores them.
# The notebook's cells are the student's code: SandboxedExecute runs them in a bubblewrap sandbox, on a throw-away
# copy of the submission, with no view of this course folder (solutions/, autograder/checks, gradebook.db), and
# SnapshotSubmission copies the submitted modules before Execute, for JudgeGrades to grade them as submitted.
# nbgrader 0.9's default list, with SnapshotSubmission before Execute (made SandboxedExecute) and JudgeGrades
# after IgnorePattern.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import AssignLatePenalties, IgnorePattern, LimitOutput, SaveAutoGrades  # noqa: E402

from autograder.platforms.nbgrader_plugins import JudgeGrades, SandboxedExecute, SnapshotSubmission  # noqa: E402

c.Autograde.autograde_preprocessors = [SnapshotSubmission, SandboxedExecute, IgnorePattern, JudgeGrades,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
# Where bubblewrap does not work, autograde refuses (the message says how to install it). To run the students'
# notebooks with your own rights there anyway (the judge still grades the files as submitted, but a cell can read
# solutions/ and change this folder and the gradebook):
# c.SandboxedExecute.allow_unsandboxed = True
