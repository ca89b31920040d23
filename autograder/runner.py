"""Runs each check in its own child process, with a time limit, a memory limit and captured output.

Nothing the student's code does in the child (exceptions, sys.exit, os._exit, endless loops, huge prints,
patching torch or the grader) can stop the grader or earn points the check did not award.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .api import REGISTRY, TIERS, Check, CheckFailed, Submission, SubmissionError
from .report import CheckResult

ASSIGNMENTS = ("a1_intro_nn", "a2_cnn", "a3_transformers", "a4_gaussian_fit")
OUTPUT_LIMIT = 2000  # characters of a check's captured output kept in the report
FILE_LIMIT = 64 << 20  # bytes a check may print or write before writes fail
DEFAULT_MEMORY_MB = 6144
# Imported before the tamper snapshot: some of them legitimately wrap torch functions when first imported
# (torch._dynamo wraps torch.manual_seed), which must not count as the student's doing.
PRELOAD = ("numpy", "torch", "torch.optim", "torch._dynamo", "torchvision", "sklearn.svm", "data_scripts", "kit.loops")


def resolve_assignment(name: str) -> str:
    """'a1', 'a1_intro_nn' -> 'a1_intro_nn'."""
    for full in ASSIGNMENTS:
        if name == full or full.split("_", 1)[0] == name:
            return full
    raise ValueError(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}")


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


def check_seed(check_id: str) -> int:
    return zlib.crc32(check_id.encode()) & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- tamper detection
def _watched():
    """Functions the oracles rely on: a submission that replaces any of them cannot be trusted."""
    import numpy
    import torch
    import torch.nn.functional as F

    from . import api

    modules = [torch, F, torch.nn, torch.autograd, torch.linalg, numpy, api, importlib, os]
    return [(m, n) for m in modules for n in dir(m) if not n.startswith("_")] + \
           [(torch.Tensor, n) for n in dir(torch.Tensor) if not n.startswith("__")]


def _snapshot(pairs):
    return {(id(m), n): getattr(m, n, None) for m, n in pairs}


def _tampered(pairs, before) -> list[str]:
    changed = []
    for m, n in pairs:
        if getattr(m, n, None) is not before[(id(m), n)]:
            changed.append(f"{getattr(m, '__name__', m)}.{n}")
    return changed


SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _file_guard(folder: Path, writable: list[str]):
    """An audit hook for the check's child: no reading of the reference solutions (unless they are what is
    being graded), no writing outside the temporary folders. Audit hooks cannot be removed once added."""
    folder = folder.resolve()
    guard_solutions = SOLUTIONS not in (folder, *folder.parents)
    allowed = [Path(p).resolve() for p in writable]

    def inside(path: Path, roots) -> bool:
        return any(path == r or r in path.parents for r in roots)

    def hook(event, args):
        if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = Path(os.fsdecode(args[0])).resolve()
        if guard_solutions and inside(path, [SOLUTIONS]):
            raise PermissionError(f"the grader does not let a submission read {path}")
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and not inside(path, allowed):
            raise PermissionError(f"the grader does not let a submission write {path} (only temporary files)")

    return hook


def _student_frame(exc: BaseException, folder: Path) -> str:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve().parent == folder:
            return f" ({Path(frame.filename).name}, line {frame.lineno})"
    return ""


def execute(chk: Check, folder: Path) -> tuple[str, str]:
    """Run one check in this process; returns (status, message). Used by the child and by notebook cells."""
    sub = Submission(folder)
    for name in PRELOAD:
        importlib.import_module(name)
    pairs = _watched()
    before = _snapshot(pairs)
    try:
        chk.func(sub)
        status, message = "passed", ""
    except NotImplementedError:
        status, message = "not_implemented", "not implemented yet"
    except CheckFailed as err:
        status, message = "failed", str(err)
    except SubmissionError as err:
        status, message = "error", str(err)
    except MemoryError:
        status, message = "error", "ran out of memory (the check's memory limit)"
    except RecursionError:
        status, message = "error", "maximum recursion depth exceeded"
    except BaseException as err:  # SystemExit and KeyboardInterrupt from student code too
        status, message = "error", f"{type(err).__name__}: {err}".rstrip(": ") + _student_frame(err, sub.folder)
    changed = _tampered(pairs, before)
    if changed:
        status = "failed"
        message = (f"the submission replaced {', '.join(changed[:3])}; the grader cannot trust results computed "
                   f"after that (do not modify torch, numpy or the autograder)")
    return status, message


def _child_main(conn, check_module: str, check_name: str, folder: str, out_path: str, threads: int,
                memory_mb: int) -> None:
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")
    sys.stdin = open(os.devnull)
    try:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-long output makes writes fail, not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        if memory_mb:
            with open("/proc/self/statm") as f:
                current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limit = current + memory_mb * (1 << 20)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass  # not on Linux: time limit still applies
    workdir = tempfile.mkdtemp(prefix="grade-")
    os.chdir(workdir)  # relative writes of the student's code land in a throw-away folder
    import torch

    for name in PRELOAD:
        importlib.import_module(name)
    sys.addaudithook(_file_guard(Path(folder), [workdir, tempfile.gettempdir(), os.devnull, out_path,
                                                str(Path.home() / ".cache")]))

    torch.set_num_threads(max(1, threads))
    importlib.import_module(check_module)
    chk = next(c for c in REGISTRY[check_module.rsplit(".", 1)[-1]] if c.name == check_name)
    seed_everything(check_seed(chk.id))
    result = execute(chk, Path(folder))
    try:
        conn.send(result)
    finally:
        conn.close()
        sys.stdout.flush()
        os._exit(0)  # skip atexit handlers the student's code may have registered


_CONTEXT = None


def context():
    global _CONTEXT
    if _CONTEXT is None:
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            _CONTEXT = multiprocessing.get_context("forkserver")
            # the fork server imports these once; each check's child starts as a cheap fork of it
            _CONTEXT.set_forkserver_preload(list(PRELOAD) + ["autograder.api"] +
                                            [f"autograder.checks.{a}" for a in ASSIGNMENTS])
        else:
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


def _read_output(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(OUTPUT_LIMIT + 1)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return ""
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace")
    if size > OUTPUT_LIMIT:
        text += f"\n... [output truncated: {size} bytes in all]"
    return text


def run_isolated(chk: Check, folder: Path, threads: int = 1, memory_mb: int = DEFAULT_MEMORY_MB,
                 timeout_scale: float = 1.0) -> CheckResult:
    """Run one check in a child process and turn whatever happens into a CheckResult."""
    ctx = context()
    timeout = chk.timeout * timeout_scale
    with tempfile.TemporaryDirectory(prefix="check-") as tmp:
        out_path = os.path.join(tmp, "output.txt")
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child_main, daemon=True,
                           args=(sender, f"autograder.checks.{chk.assignment}", chk.name, str(folder), out_path,
                                 threads, memory_mb))
        start = time.monotonic()
        proc.start()
        sender.close()
        status, message = None, ""
        try:
            if receiver.poll(timeout):
                status, message = receiver.recv()
        except (EOFError, OSError):
            pass
        except Exception as err:  # an unpicklable object smuggled into the pipe
            status, message = "error", f"the check's result could not be read ({type(err).__name__})"
        elapsed = time.monotonic() - start
        if status is None:
            if proc.is_alive() and elapsed >= timeout:
                status, message = "timeout", f"took longer than the time limit of {timeout:.0f} s (endless loop, or far too slow?)"
            else:
                proc.join(5)
                code = proc.exitcode
                if code is not None and code < 0 and -code == signal.SIGKILL:
                    message = "the process was killed (out of memory?)"
                else:
                    message = f"the submission ended the grading process (exit code {code}); do not call sys.exit or os._exit"
                status = "error"
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        receiver.close()
        output = _read_output(out_path)
    points = chk.points if status == "passed" else 0.0
    return CheckResult(chk.assignment, chk.name, chk.tier, points, chk.points, status, message, output, elapsed)


def grade(submission: Path, assignments: list[str], tier: str = "train", jobs: int = 1,
          progress=None, threads: int | None = None, only=None, **kwargs) -> list[CheckResult]:
    """Grade the given assignments of a submission folder; never raises for anything the submission does.

    `only`: check ids (``"a1_intro_nn/backward"``) to grade; the others of the tier are skipped."""
    submission = Path(submission).resolve()
    os.environ["DATA_DIR"] = str(_data_dir())  # children run in a temp folder
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
                results[chk.id] = CheckResult(chk.assignment, chk.name, chk.tier, 0.0, chk.points, "error",
                                              f"folder {assignment}/ not found in {submission}", "", 0.0)
            else:
                todo.append((chk, folder))
    threads = threads or _threads_per_child(jobs)

    def one(item):
        chk, folder = item
        try:
            res = run_isolated(chk, folder, threads=threads, **kwargs)
        except Exception as err:  # the grader itself failed: still a result, never a crash
            res = CheckResult(chk.assignment, chk.name, chk.tier, 0.0, chk.points, "error",
                              f"grader error: {type(err).__name__}: {err}", "", 0.0)
        if progress:
            progress(res)
        return res

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for res in pool.map(one, todo):
            results[f"{res.assignment}/{res.name}"] = res
    return [results[i] for i in order]


def grader_error(assignment: str, message: str) -> CheckResult:
    """A result standing for a failure of the grader itself (not of the submission), so a report is still written."""
    return CheckResult(assignment, "grader", "quick", 0.0, 0.0, "error", f"grader error: {message}", "", 0.0)


def grade_many(folder: Path, assignments: list[str], tier: str = "train", jobs: int = 1, progress=None,
               **kwargs) -> dict[str, list[CheckResult]]:
    """Grade every submission folder inside `folder`, `jobs` submissions at a time (checks of one submission run
    one after the other, each with cores/jobs threads)."""
    students = sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    threads = _threads_per_child(jobs)

    def one(path):
        try:
            results = grade(path, assignments, tier=tier, jobs=1, threads=threads, **kwargs)
        except Exception as err:  # one student's grading failed: the others and the gradebook still get written
            results = [grader_error(a, f"{type(err).__name__}: {err}") for a in assignments]
        if progress:
            progress(path.name, results)
        return path.name, results

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, students))


def _threads_per_child(jobs: int) -> int:
    """Cores shared among the checks running at once; OMP_NUM_THREADS caps it (parallel test runs set it):
    more torch threads than cores slows training down many times over."""
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(cap)) if cap.isdigit() and int(cap) > 0 else threads


def _data_dir():
    from data_scripts.datasets import data_dir

    return data_dir()


class NotebookCheckFailed(AssertionError):
    """A failed check in a notebook test cell. IPython shows `_render_traceback_` instead of a traceback, so
    the feedback never quotes the cell's source (and the hidden tests in it)."""

    def _render_traceback_(self):
        return [str(self)]


def run_check(check_id: str, folder: str | Path = ".", quiet: bool = False) -> None:
    """Run one check in this process (nbgrader test cells); raises NotebookCheckFailed with the feedback.

    Warnings are silenced and the student's own printing is kept off stderr: nbgrader gives 0 to a test cell
    that writes anything to stderr, even a harmless library warning. quiet=True (hidden tests) prints nothing
    on success and does not name the check on failure.
    """
    import contextlib
    import io
    import warnings

    assignment, name = check_id.split("/", 1)
    chk = next((c for c in load_checks(assignment) if c.name == name), None)
    if chk is None:
        raise KeyError(f"no check named {check_id}")
    seed_everything(check_seed(chk.id))
    captured = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(captured):
        warnings.simplefilter("ignore")
        status, message = execute(chk, Path(folder).resolve())
    if status != "passed":
        raise NotebookCheckFailed(f"a hidden test failed: {message}" if quiet else f"{check_id}: {message}")
    if not quiet:
        print(f"{check_id}: passed ({chk.points:g} points)")
