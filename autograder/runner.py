"""Runs the checks: each check's function in the judge (this process), the student's code in a sandbox.

The judge never imports student code: it asks the sandbox (autograder/sandbox/client.py, autograder/sandbox/server.py) to call
it and compares what comes back, as plain data, with its oracles. Nothing the student's code does (exceptions,
sys.exit, os._exit, endless loops, huge prints, patching torch, fake tensors, background processes) can stop
the grader or earn points the check did not award.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import multiprocessing
import os
import signal
import time
import zlib
from pathlib import Path

from data_scripts import DataError
from data_scripts.datasets import data_dir, public_dir
from kit.loops import seed_everything

from .api import (
    REGISTRY,
    TIERS,
    Check,
    CheckFailed,
    Context,
    NotImportable,
    NotRecorded,
    SubmissionError,
    begin_check,
    face,
)
from .assignments import ASSIGNMENTS  # noqa: F401 - the list lives in autograder/assignments.py; kept importable here
from .assignments import resolve as resolve_assignment  # noqa: F401 - 'a1', 'a1_intro_nn' -> 'a1_intro_nn'
from .callgraph import callees
from .engine import grade_on_dask
from .report import STATUS_OF_KIND, CheckResult, cell_text
from .sandbox.client import LEVEL_TEXT, JudgeError, Sandbox, SandboxGone
from .store import check_version, submission_hash

DEFAULT_MEMORY_MB = 6144


def load_checks(assignment: str) -> list[Check]:
    module = f"autograder.checks.{assignment}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            return []
        raise
    return list(REGISTRY.get(assignment, []))


def select(assignment: str, tier: str) -> list[Check]:
    """The checks of `assignment` up to and including `tier` (quick < train < full)."""
    upto = TIERS[: TIERS.index(tier) + 1]
    return [c for c in load_checks(assignment) if c.tier in upto]


def check_seed(chk: Check) -> int:
    """The check's seed. The student kit's quick checks (and their recording) draw from other seeds than the
    instructor's grader: values recorded for the kit's inputs answer nothing the instructor's grader asks. Trainings
    keep theirs (nothing of them is recorded, and their thresholds were measured with them)."""

    salt = "@student-kit" if face() != "instructor" and chk.tier == "quick" else ""
    return zlib.crc32((chk.id + salt).encode()) & 0x7FFFFFFF


# ---------------------------------------------------------------- one check: the judge runs it, the sandbox the code
def execute(chk: Check, ctx: Context) -> tuple[str, str]:
    """Run one check's function in the judge against a sandbox session; returns (kind, message): the kinds of
    report.KINDS."""

    try:
        chk.func(ctx)
        return "passed", ""
    except NotImplementedError:
        return "not_implemented", "not implemented yet"
    except CheckFailed as err:
        return "failed", str(err)
    except NotRecorded as err:  # the student kit only: a case its recording does not hold
        return "failed", str(err)
    except NotImportable as err:
        return "not_importable", str(err)
    except SubmissionError as err:
        return "submission_error", str(err)
    except SandboxGone as err:
        return _gone(ctx.session, str(err))
    except JudgeError as err:
        return "grader_error", f"grader error: {err}"
    except DataError as err:  # the judge's own data (test images, labels): the grader's problem, never the student's
        return "grader_error", f"grader error: {err}; grade again once the data sets are in place"
    except Exception as err:  # a value the check could not use (a str for a tensor, ...): the submission's answer
        return "submission_error", f"the check could not use what the submission returned ({type(err).__name__}: {err})"


def _gone(session, why: str) -> tuple[str, str]:
    if why == "timeout":
        return "timeout", (
            f"took longer than the time limit of {session.timeout:.0f} s (endless loop, or far too slow?)"
        )
    if why == "ended":
        code = (session.ended or {}).get("code")
        if (session.ended or {}).get("memory"):
            return "killed", "ran out of memory (the check's memory limit, all its processes together)"
        if code == -signal.SIGKILL:
            return "killed", "the process was killed (out of memory?)"
        return "submission_error", (
            f"the submission ended the grading process (exit code {code}); do not call sys.exit or os._exit"
        )
    if why == "gone":
        return "killed", "the sandbox running the submission stopped (killed, or out of memory?)"
    return "submission_error", f"the submission broke the grader's channel ({why}); its answers cannot be read"


def run_one(
    sandbox, chk: Check, folder: Path, threads: int = 1, memory_mb: int = DEFAULT_MEMORY_MB, timeout_scale: float = 1.0
) -> CheckResult:
    """Run one check: its function in this process (the judge), the student's code in `sandbox`."""
    import torch

    timeout = chk.timeout * timeout_scale
    seed = check_seed(chk)
    begin_check(chk.id)
    seed_everything(seed, offset=False)  # the check's own seed, exactly: KIT_SEED_OFFSET shifts trainings only
    torch.set_num_threads(max(1, threads))
    start = time.monotonic()
    try:
        session = sandbox.session(folder, seed, timeout, threads=threads, memory_mb=memory_mb)
    except SubmissionError as err:  # a submission the sandbox refuses (a link in it)
        return result_of(chk, "submission_error", str(err), duration=time.monotonic() - start, isolation=sandbox.level)
    except Exception as err:  # the sandbox itself did not start: a grader problem, reported as such
        return result_of(chk, "grader_error", f"grader error: {err}", duration=time.monotonic() - start)
    ctx = Context(chk, session)
    kind, message = execute(chk, ctx)
    output = session.finish()
    peak = (session.ended or {}).get("peak_mb")
    return result_of(
        chk,
        kind,
        message,
        output,
        time.monotonic() - start,
        isolation=sandbox.level,
        metrics=ctx.metrics,
        notes=ctx.notes,
        called=session.called,
        peak_memory_mb=float(peak) if isinstance(peak, (int, float)) and 0 <= peak < 1e7 else None,
    )


def result_of(
    chk: Check,
    kind: str,
    message: str,
    output: str = "",
    duration: float = 0.0,
    isolation: str = "",
    metrics: list | None = None,
    notes: list | None = None,
    called: list | None = None,
    peak_memory_mb: float | None = None,
) -> CheckResult:
    """A check's result (`kind`: one of report.KINDS): its points only when it passed; its declaration and
    visibility travel with it to every report."""

    return CheckResult(
        chk.assignment,
        chk.name,
        chk.tier,
        chk.points if kind == "passed" else 0.0,
        chk.points,
        STATUS_OF_KIND[kind],
        message,
        output,
        duration,
        isolation=isolation,
        isolation_text=LEVEL_TEXT[isolation] if isolation in LEVEL_TEXT else "",
        hidden=chk.hidden,
        metrics=list(metrics or ()),
        called=list(called or ()),
        kind=kind,
        description=chk.description,
        notes=list(notes or ()),
        peak_memory_mb=peak_memory_mb,
    )


def grade(
    submission: Path,
    assignments: list[str],
    tier: str = "train",
    jobs: int = 1,
    progress=None,
    threads: int | None = None,
    only=None,
    level: str | None = None,
    slot: int = 0,
    **kwargs,
) -> list[CheckResult]:
    """Grade the given assignments of a submission folder; never raises for anything the submission does.

    `only`: check ids (``"a1_intro_nn/backward"``) to grade; the others of the tier are skipped. `jobs` > 1 runs
    checks in that many judge processes, each with its own sandbox. `level`: the isolation level (default: the
    best available, or KIT_SANDBOX)."""
    submission = Path(submission).resolve()
    os.environ["DATA_DIR"] = str(_data_dir())
    todo, results, order = [], {}, []
    for assignment in assignments:
        folder = submission / assignment
        try:
            checks = select(assignment, tier)
            if only is not None:
                checks = [c for c in checks if c.id in set(only)]
        except Exception as err:  # a broken check module: the other assignments are still graded
            res = grader_error(assignment, f"could not load the checks: {type(err).__name__}: {err}")
            results[res.id] = res
            order.append(res.id)
            continue
        order += [c.id for c in checks]
        for chk in checks:
            if not folder.is_dir():
                results[chk.id] = result_of(chk, "not_importable", f"folder {assignment}/ not found in {submission}")
            else:
                todo.append(chk)
    threads = threads or _threads_per_child(jobs)
    if jobs <= 1 or len(todo) <= 1:
        for res in _grade_sequential(submission, todo, threads, level, kwargs, slot=slot):
            results[res.id] = res
            if progress:
                progress(res)
    else:
        import concurrent.futures as cf

        parts = [part for part in (todo[i::jobs] for i in range(jobs)) if part]
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=_judge_context()) as pool:
            futures = {
                pool.submit(
                    _grade_part, str(submission), [(c.assignment, c.name) for c in part], threads, level, kwargs, slot
                ): part
                for slot, part in enumerate(parts)
            }
            for fut in cf.as_completed(futures):
                try:
                    part_results = fut.result()
                except Exception as err:  # a judge worker died: its checks still get a result
                    message = f"grader error: a grading process failed ({type(err).__name__}: {err})"
                    part_results = [result_of(c, "grader_error", message) for c in futures[fut]]
                for res in part_results:
                    results[res.id] = res
                    if progress:
                        progress(res)
    return after_quick_failures(blame_helpers([results[i] for i in order], submission))


def blame_helpers(results: list[CheckResult], submission: Path) -> list[CheckResult]:
    """A check that failed on a function which calls, in the student's own files, a helper whose check failed too
    names that helper: the bug may be there rather than in the function the check asked for."""

    failed = {}  # "module.name" -> the public checks that asked for it and did not pass
    for r in results:
        if r.status in ("failed", "error", "not_implemented") and not r.hidden:
            for target in r.called:
                failed.setdefault((r.assignment, target), []).append(r.name)
    for res in results:
        if res.status != "failed" or res.tier != "quick":
            continue
        blamed = []
        for target in res.called:
            for helper in callees(submission / res.assignment, target):
                others = [n for n in failed.get((res.assignment, helper), []) if n != res.name and n not in res.message]
                if others:  # (a check that already names the helper's check, with its own words, keeps them)
                    blamed.append(
                        f"{target.split('.')[-1]} calls your {helper.split('.')[-1]}, whose check "
                        f"{', '.join(others)} did not pass"
                    )
        if blamed:
            res.message += f" (look there first: {'; '.join(dict.fromkeys(blamed))})"
    return results


def after_quick_failures(results: list[CheckResult]) -> list[CheckResult]:
    """A training that fails (or runs out of time) where quick checks of its assignment failed too says so: it
    trains the same code, and the quick checks say where the code is wrong. Hidden checks are not named."""
    for res in results:
        if res.tier == "quick" or res.status not in ("failed", "timeout"):
            continue
        first = [
            r.name
            for r in results
            if r.assignment == res.assignment and r.tier == "quick" and not r.hidden and r.status != "passed"
        ]
        if first:
            res.message += (
                f" (this may follow from the quick checks that did not pass: {', '.join(first)}; this training runs "
                "the same code, so fix those first)"
            )
    return results


def _judge_context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _grade_part(submission: str, ids, threads, level, kwargs, slot) -> list[CheckResult]:
    """A judge worker process: its share of the checks, one after the other, in one sandbox."""
    checks = []
    for assignment, name in ids:
        checks += [c for c in load_checks(assignment) if c.name == name]
    return list(_grade_sequential(Path(submission), checks, threads, level, kwargs, slot))


def new_sandbox(submission: Path, level: str | None = None, slot: int = 0):
    """The sandbox of one submission, seeing the public data (no test labels)."""

    public_dir().mkdir(parents=True, exist_ok=True)
    return Sandbox(submission, level=level, slot=slot, public_data=public_dir())


# Folders whose submissions share one sandbox in this process (shared_sandboxes): folder -> Sandbox or None (not
# started yet).
_SHARED_SANDBOXES: dict[Path, object] = {}


@contextlib.contextmanager
def shared_sandboxes(folder: Path):
    """Within this context, this process grades every submission inside `folder` in one sandbox: one zygote,
    started once, forks a fresh child for each check, as it does for the checks of one submission; each check
    still starts from a process that has run no submission's code, and sees its own files only. For what the kit
    grades by the dozen and wrote itself (the mutants of `make mutants`, the test suite's variants of the
    reference), never for students' work: their submissions each get a sandbox of their own (DESIGN.md,
    decision 3). Only at the default isolation level, and only where the sandbox sees the submissions live (bwrap,
    none): the "user" level copies a submission when its sandbox starts."""
    folder = Path(folder).resolve()
    _SHARED_SANDBOXES[folder] = None
    try:
        yield
    finally:
        sandbox = _SHARED_SANDBOXES.pop(folder, None)
        if sandbox is not None:
            sandbox.close()


def _shared_sandbox(submission: Path, level: str | None, slot: int):
    """The shared sandbox of the innermost shared folder holding `submission` (made on first use), or None."""
    if level is not None or slot:
        return None
    holding = [folder for folder in _SHARED_SANDBOXES if submission == folder or folder in submission.parents]
    if not holding:
        return None
    folder = max(holding, key=lambda f: len(f.parts))
    if _SHARED_SANDBOXES[folder] is None:
        sandbox = new_sandbox(folder)
        if sandbox.level not in ("bwrap", "none"):
            return None
        _SHARED_SANDBOXES[folder] = sandbox
    return _SHARED_SANDBOXES[folder]


def _grade_sequential(submission: Path, checks, threads, level, kwargs, slot):
    if not checks:
        return
    sandbox = _shared_sandbox(submission, level, slot)
    own = sandbox is None
    if own:
        sandbox = new_sandbox(submission, level, slot)
    try:
        for chk in checks:
            try:
                res = run_one(sandbox, chk, submission / chk.assignment, threads=threads, **kwargs)
            except Exception as err:  # the grader itself failed: still a result, never a crash
                res = result_of(
                    chk, "grader_error", f"grader error: {type(err).__name__}: {err}", isolation=sandbox.level
                )
            yield res
    finally:
        if own:
            sandbox.close()


def grader_error(assignment: str, message: str) -> CheckResult:
    """A result standing for a failure of the grader itself (not of the submission), so a report is still written."""
    return CheckResult(
        assignment, "grader", "quick", 0.0, 0.0, "error", f"grader error: {message}", "", 0.0, kind="grader_error"
    )


def grade_many(
    folder: Path,
    assignments: list[str],
    tier: str = "train",
    jobs: int = 1,
    progress=None,
    store=None,
    regrade=(),
    executor: str = "local",
    scheduler: str | None = None,
    resources: dict | None = None,
    **kwargs,
) -> dict[str, list[CheckResult]]:
    """Grade every submission folder inside `folder`, `jobs` submissions at a time, each in its own judge process
    with its own sandbox (checks of one submission run one after the other, each with cores/jobs threads).

    store (autograder.store.Store): each student's results go into it as they arrive; a student whose files and
    checks are unchanged since they were stored is not graded again, and only the checks that need it are (those
    named in `regrade` too). progress(student, results, graded) is called for every student.

    executor "local": a process pool of this machine. "dask": dask.distributed (autograder/engine.py), on a local
    cluster of `jobs` workers, or on the running cluster at `scheduler`, each task asking its workers for
    `resources` ({"GPU": 1}); either way this process alone writes the store, as each submission's results
    arrive."""

    students = sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    threads = _threads_per_child(jobs)
    try:
        checks = [c for a in assignments for c in select(a, tier)]
    except Exception:  # a check module that does not load: grade() reports it, nothing is reused
        checks, store = [], None
    versions = {c.id: check_version(c) for c in checks} if store is not None else {}
    out, plan = {}, []
    for path in students:
        hashes = {a: submission_hash(path / a) for a in assignments} if store is not None else {}
        todo = checks if store is None else store.todo(path.name, checks, hashes, versions, regrade)
        if store is not None and not todo:
            out[path.name] = store.results(path.name, checks)
            if progress:
                progress(path.name, out[path.name], False)
            continue
        only = None if len(todo) == len(checks) else [c.id for c in todo]
        plan.append((path, only, hashes))

    def finished(path, only, hashes, results):
        name = path.name
        if store is not None:
            store.put(name, results, hashes, versions)
            fresh = {r.id for r in results}
            results = [r for r in store.results(name, checks) if r.id not in fresh] + results
            order = {c.id: i for i, c in enumerate(checks)}
            results.sort(key=lambda r: order.get(r.id, len(order)))
        out[name] = results
        if progress:
            progress(name, results, True)

    if executor == "dask":
        # a running cluster's workers share their own machines' cores: each decides its threads (None)
        arrived = grade_on_dask(
            _grade_student,
            grader_error,
            plan,
            assignments,
            tier,
            jobs,
            None if scheduler else threads,
            kwargs,
            scheduler,
            resources,
            _judge_context().get_start_method(),
        )
        for (path, only, hashes), results in arrived:
            finished(path, only, hashes, results)
        return {name: out[name] for name in sorted(out)}
    if jobs <= 1:
        for path, only, hashes in plan:
            _, results = _grade_student(str(path), assignments, tier, threads, kwargs, only)
            finished(path, only, hashes, results)
        return {name: out[name] for name in sorted(out)}
    import concurrent.futures as cf

    ctx = _judge_context()
    slots = ctx.Queue()
    for i in range(jobs):
        slots.put(i)
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_take_slot, initargs=(slots,)) as pool:
        futures = {
            pool.submit(_grade_student, str(path), assignments, tier, threads, kwargs, only): (path, only, hashes)
            for path, only, hashes in plan
        }
        for fut in cf.as_completed(futures):
            path, only, hashes = futures[fut]
            try:
                _, results = fut.result()
            except Exception as err:  # one student's grading failed: the others and the gradebook still get written
                results = [grader_error(a, f"{type(err).__name__}: {err}") for a in assignments]
            finished(path, only, hashes, results)
    return {name: out[name] for name in sorted(out)}


_SLOT = 0


def _take_slot(queue):
    global _SLOT
    _SLOT = queue.get()


def _grade_student(path: str, assignments, tier, threads, kwargs, only=None):
    """One submission, as every executor grades it (a pool's process, a dask worker): its own judge and sandbox;
    returns (student, results), never raises. threads None: this machine's cores (or OMP_NUM_THREADS)."""
    try:
        results = grade(Path(path), assignments, tier=tier, jobs=1, threads=threads, slot=_SLOT, only=only, **kwargs)
    except Exception as err:  # one student's grading failed: the others and the gradebook still get written
        results = [grader_error(a, f"{type(err).__name__}: {err}") for a in assignments]
    return Path(path).name, results


def _threads_per_child(jobs: int) -> int:
    """Cores shared among the checks running at once; OMP_NUM_THREADS caps it (parallel test runs set it):
    more torch threads than cores slows training down many times over."""
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(cap)) if cap.isdigit() and int(cap) > 0 else threads


def _data_dir():

    return data_dir()


class NotebookCheckFailed(AssertionError):
    """A failed check in a notebook test cell. IPython shows `_render_traceback_` instead of a traceback, so
    the feedback never quotes the cell's source (and the hidden tests in it)."""

    def _render_traceback_(self):
        return [str(self)]


# The sandboxes of run_check (notebook test cells), one per submission folder, kept for the kernel's life (a
# sandbox's start costs seconds) and closed when the kernel exits.
_NOTEBOOK_SANDBOXES: dict = {}


def _notebook_sandbox(submission: Path):
    """The kernel's sandbox for `submission`, started on first use; the first one registers their closing."""
    sandbox = _NOTEBOOK_SANDBOXES.get(submission)
    if sandbox is None:
        if not _NOTEBOOK_SANDBOXES:
            atexit.register(_close_notebook_sandboxes, os.getpid())
        sandbox = _NOTEBOOK_SANDBOXES[submission] = new_sandbox(submission)
    return sandbox


def _close_notebook_sandboxes(owner: int) -> None:
    """At the kernel's exit: end its sandboxes and remove their temporary folders. Only in the process that started
    them: a forked child of the kernel that exits must not end its parent's sandboxes."""
    if os.getpid() != owner:
        return
    while _NOTEBOOK_SANDBOXES:
        _, sandbox = _NOTEBOOK_SANDBOXES.popitem()
        with contextlib.suppress(Exception):  # one sandbox that fails to close must not keep the others open
            sandbox.close()


def run_check(check_id: str, folder: str | Path = ".", quiet: bool = False) -> None:
    """Run one check for a notebook test cell: the same judge and sandbox as the CLI (the student's modules are
    imported afresh in the sandbox, so edits count); raises NotebookCheckFailed with the feedback.

    What runs in the student's kernel is feedback only: at `nbgrader autograde` time the points come from the
    judge (autograder/platforms/nbgrader_plugins.py). quiet=True (hidden tests) prints nothing on success and does not
    name the check on failure.
    """
    if os.environ.get("KIT_AUTOGRADE_KERNEL"):  # nbgrader autograde's sandboxed kernel (nbgrader_kernel.KERNEL_FLAG)
        print(("this hidden test" if quiet else check_id) + ": graded by the judge at autograde time")
        return
    assignment, name = check_id.split("/", 1)
    chk = next((c for c in load_checks(assignment) if c.name == name), None)
    if chk is None:
        raise KeyError(f"no check named {check_id}")
    folder = Path(folder).resolve()
    submission = folder.parent
    res = run_one(_notebook_sandbox(submission), chk, folder, threads=_threads_per_child(1))
    text = cell_text(res, quiet)  # the notebook keeps it: no escape sequence the notebook's viewer renders
    if res.status != "passed":
        raise NotebookCheckFailed(text)
    if not quiet:
        print(text)
