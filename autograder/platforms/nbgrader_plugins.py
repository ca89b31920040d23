"""Fixes to nbgrader's preprocessors, configured in nbgrader_config.py."""

from nbgrader.preprocessors import DeduplicateIds


class DropDuplicateIds(DeduplicateIds):
    """nbgrader's DeduplicateIds keeps the last cell of each grade id but leaves `nbgrader: {}` on the copies,
    which CheckCellMetadata then rejects as an old metadata format, failing the whole submission. A student who
    copied a test cell must lose nothing but the copy: drop its nbgrader metadata altogether."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


# ---------------------------------------------------------------- the judge's points for the test cells
import ast  # noqa: E402
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from nbformat.v4 import new_output  # noqa: E402
from nbgrader.preprocessors import Execute, NbGraderPreprocessor  # noqa: E402
from traitlets import Bool, Float, Unicode  # noqa: E402


# resources key: the judge-private copy of the submitted folder that JudgeGrades grades
SNAPSHOT = "kit_submitted_snapshot"
_SNAPSHOTS: set[str] = set()  # removed at exit if a notebook failed before JudgeGrades


@atexit.register
def _remove_snapshots():
    for path in list(_SNAPSHOTS):
        shutil.rmtree(path, ignore_errors=True)
        _SNAPSHOTS.discard(path)


class SnapshotSubmission(NbGraderPreprocessor):
    """Before Execute: copies the submitted folder (the student's modules, as submitted) into a temporary folder
    of the judge's own. JudgeGrades grades that copy, so nothing the notebook's kernel does to the folder (copying
    the reference over the modules, say) changes the points."""

    def preprocess(self, nb, resources):
        folder = Path((resources.get("metadata") or {}).get("path") or ".").resolve()
        private = tempfile.mkdtemp(prefix="kit-submitted-")  # mode 0700
        _SNAPSHOTS.add(private)
        copy = Path(private) / folder.name
        # links stay links: the judge's sandbox does not see their targets
        shutil.copytree(
            folder, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "runs")
        )
        resources[SNAPSHOT] = str(copy)
        return nb, resources


class SandboxedExecute(Execute):
    """nbgrader's Execute with the notebook's kernel in a bubblewrap sandbox (autograder/platforms/nbgrader_kernel.py): a
    cell runs on a throw-away copy of the submission and sees nothing of the course folder."""

    allow_unsandboxed = Bool(
        False,
        help="Where bubblewrap does not work, run the notebooks in an ordinary kernel with the instructor's rights "
        "instead of refusing to autograde.",
    ).tag(config=True)

    def create_kernel_manager(self):
        from jupyter_client.manager import AsyncKernelManager

        from .nbgrader_kernel import UNAVAILABLE, SandboxedKernelManager, SandboxUnavailable, sandbox_available

        if sandbox_available():
            self.kernel_manager_class = SandboxedKernelManager
        elif self.allow_unsandboxed:
            self.log.warning("SandboxedExecute: bubblewrap does not work here; the notebook runs unsandboxed")
            self.kernel_manager_class = AsyncKernelManager
        else:
            self.log.error(UNAVAILABLE)
            raise SandboxUnavailable(UNAVAILABLE)
        return super().create_kernel_manager()


def _parse(source: str):
    """The cell's syntax tree, or None; IPython syntax (magics, `!cmd`) is turned into Python first."""
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:
        return None


def check_calls(source: str) -> list[tuple[str, bool]]:
    """(check id, quiet) of each `run_check("<assignment>/<check>", ...)` call of a cell, in source order.

    A call whose check id is not a string literal is ignored; a `quiet` that is not a literal counts as quiet
    (the message must then not name the check)."""
    tree = _parse(source)
    if tree is None:
        return []
    names = {"run_check"}
    for node in ast.walk(tree):  # from autograder.runner import run_check as rc
        if isinstance(node, ast.ImportFrom):
            names |= {a.asname for a in node.names if a.name == "run_check" and a.asname}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if not (
            (isinstance(func, ast.Name) and func.id in names)
            or (isinstance(func, ast.Attribute) and func.attr == "run_check")
        ):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        arg = node.args[0] if node.args else keywords.get("check_id")
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            continue
        assignment, _, name = arg.value.partition("/")
        if not assignment or not name:
            continue
        quiet = node.args[2] if len(node.args) > 2 else keywords.get("quiet")
        hidden = (
            True
            if quiet is not None and not isinstance(quiet, ast.Constant)
            else bool(quiet.value)
            if quiet is not None
            else False
        )
        found.append(((node.lineno, node.col_offset), arg.value, hidden))
    return [(check_id, hidden) for _, check_id, hidden in sorted(found)]


class JudgeGrades(NbGraderPreprocessor):
    """The auto-graded points of `nbgrader autograde` come from the judge, not from the student's kernel.

    Runs after Execute and before SaveAutoGrades. The sources of the graded test cells are the instructor's
    again at this point (OverwriteCells restored them from the gradebook); the checks their `run_check` calls
    name are graded once per notebook by `autograder.runner.grade` on the copy SnapshotSubmission took before
    Execute (the student's modules as submitted; the notebook's folder itself where there is none), isolated as
    by `python -m autograder grade`, and each such cell's outputs are replaced by that
    result: the `run_check` lines on success, an error output (which nbgrader scores 0) on failure. Whatever ran in the
    kernel (a notebook cell replacing run_check, say) no longer decides any points; the test cells stay the
    students' feedback while they work. Cells without run_check calls keep the kernel's outputs."""

    tier = Unicode("full", help="The judge's tier: every check a test cell names, trainings included.").tag(config=True)
    timeout_scale = Float(1.0, help="Multiplies the checks' time limits (a busy grading machine).").tag(config=True)

    def preprocess(self, nb, resources):
        snapshot = resources.pop(SNAPSHOT, None)
        try:
            return self.grade_cells(nb, resources, snapshot)
        finally:
            if snapshot is not None:
                shutil.rmtree(Path(snapshot).parent, ignore_errors=True)
                _SNAPSHOTS.discard(str(Path(snapshot).parent))

    def grade_cells(self, nb, resources, snapshot):
        cells = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                source = cell.source
                calls = check_calls("".join(source) if isinstance(source, list) else source)
                if calls:
                    cells.append((cell, calls))
        if not cells:
            return nb, resources
        shown = Path((resources.get("metadata") or {}).get("path") or ".").resolve()  # the notebook's folder
        folder = Path(snapshot).resolve() if snapshot else shown
        ids = list(dict.fromkeys(check_id for _, calls in cells for check_id, _ in calls))
        try:
            results, crash = self.judge(folder, ids), None
        except Exception as err:  # the grader itself failed: each cell says so (and scores 0), autograde goes on
            self.log.error("JudgeGrades: grading %s failed: %s: %s", shown, type(err).__name__, err)
            results, crash = {}, f"{type(err).__name__}: {err}"
        for cell, calls in cells:
            try:
                cell.outputs = self.outputs(calls, results, crash)
            except Exception as err:
                cell.outputs = self.outputs(calls, {}, f"{type(err).__name__}: {err}")
        passed = sum(r.status == "passed" for r in results.values())
        self.log.info("JudgeGrades: %s of %s checks passed in %s", passed, len(ids), shown)
        return nb, resources

    def judge(self, folder: Path, ids: list[str]) -> dict:
        """{check id: its CheckResult} for the checks `ids`, graded on `folder` (a grader error for a check that
        could not be graded)."""
        from autograder.runner import grade  # imported late: nbgrader_config.py imports this module

        assignments = list(dict.fromkeys(i.split("/", 1)[0] for i in ids))
        kwargs = {"timeout_scale": self.timeout_scale} if self.timeout_scale != 1.0 else {}
        with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            if assignments == [folder.name]:
                root = folder.parent  # the assignments' layout: <root>/<assignment>/ holds the modules
            else:  # run_check grades the notebook's own folder, whatever the check's assignment is called: a copy
                root = Path(tmp)  # (not a link: the sandbox sees the submission folder and nothing outside it)
                for assignment in assignments:
                    shutil.copytree(
                        folder,
                        root / assignment,
                        symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "runs"),
                    )
            graded = grade(root, assignments, tier=self.tier, jobs=1, only=ids, **kwargs)
        results, broken = {}, {}
        for r in graded:
            results[r.id] = r
            if r.id not in ids and r.status != "passed":
                broken.setdefault(r.assignment, r.message)  # the grader's own error: the checks would not load
        for check_id in ids:
            if check_id not in results:
                assignment, _, name = check_id.partition("/")
                message = broken.get(assignment) or f"no check named {check_id} in the {self.tier} tier"
                results[check_id] = grader_error_result(assignment, name, message)
        return results

    @staticmethod
    def outputs(calls, results, crash=None) -> list:
        """The outputs run_check would have given, from the judge's results (report.cell_text, as run_check
        writes them): passed lines, then the first failure."""
        from autograder.report import cell_text

        hidden = [check_id for check_id, quiet in calls if quiet]

        def conceal(text):
            for check_id in hidden:
                text = text.replace(check_id, "a hidden test").replace(check_id.split("/", 1)[1], "a hidden test")
            return text

        lines, done = [], set()
        for check_id, quiet in calls:
            if check_id in done:
                continue
            done.add(check_id)
            assignment, _, name = check_id.partition("/")
            r = grader_error_result(assignment, name, crash) if crash is not None else results[check_id]
            if r.status == "passed":
                if not quiet:
                    lines.append(cell_text(r))
                continue
            text = cell_text(r, quiet)
            text = conceal(text) if r.kind == "grader_error" else text
            out = [new_output("stream", name="stdout", text="\n".join(lines) + "\n")] if lines else []
            return out + [new_output("error", ename="CheckFailed", evalue=text, traceback=[text])]
        return [new_output("stream", name="stdout", text="\n".join(lines) + "\n")] if lines else []


def grader_error_result(assignment: str, name: str, message: str):
    """The result of a check the judge could not grade: the grader's problem, never the student's score."""
    from autograder.report import CheckResult

    text = message if message.startswith("grader error") else f"grader error: {message}"
    return CheckResult(assignment, name, "quick", 0.0, 0.0, "error", text, "", 0.0, kind="grader_error")


def clear_modules_on_generate():
    """Make nbgrader's generate_assignment clear the solution regions of the `.py` modules it copies.

    nbgrader clears the notebooks only. It copies every other file of the source as it is. Without this, the
    modules in release/ would hold the reference: formgrader's Generate button, or `nbgrader generate_assignment`
    typed by hand, followed by `release_assignment`, would hand the solutions to the class. `make release` clears them
    too (autograder/platforms/release.py); this covers nbgrader's own path. nbgrader_config.py calls it."""
    from nbgrader.converters.generate_assignment import GenerateAssignment

    from autograder.platforms.release import clear_module

    if getattr(GenerateAssignment.init_assignment, "clears_modules", False):
        return
    copy_files = GenerateAssignment.init_assignment

    def init_assignment(self, assignment_id, student_id):
        copy_files(self, assignment_id, student_id)
        for py in sorted(Path(self._format_dest(assignment_id, student_id)).rglob("*.py")):
            text = py.read_text(encoding="utf-8")
            cleared = clear_module(text, self.config)
            if cleared != text:
                self.log.info("Clearing the solutions of %s", py)
                py.write_text(cleared, encoding="utf-8")

    init_assignment.clears_modules = True
    GenerateAssignment.init_assignment = init_assignment
