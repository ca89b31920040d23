"""The sandbox: the only process that runs student code.

Started by the judge (autograder/judge.py) as ``python -m autograder.sandbox`` inside the isolation it chose.
It imports torch once, then for each check forks a child that serves the judge's requests on file descriptors
3 (requests) and 4 (replies) until the judge ends the check; the parent then kills every process the child
left behind (it is their subreaper) and says so. The judge trusts nothing that comes from here: replies are
plain data (autograder/wire.py) and every comparison happens in the judge.

Requests: ``module`` (import a student module from the submission folder), ``getattr``, ``getitem``, ``call``
(optionally "by hand": autograd unavailable), ``describe`` (an nn.Module's structure and weights), ``fetch``
(an object as plain data), ``kit`` (call a helper of torch, kit or data_scripts: build a torch object, run a
kit training on the student's code), ``end``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import signal
import sys
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file inside the sandbox's minimal view of the kit
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder import wire  # noqa: E402

REQUESTS, REPLIES = 3, 4
# imported once by the zygote, so that each check's child starts in milliseconds. torch._dynamo: torch imports it
# when the first optimizer is made (1.1 s on a 2-core Intel Xeon), which each check's child would otherwise pay
PRELOAD = (
    "numpy",
    "torch",
    "torch.nn",
    "torch.optim",
    "torch._dynamo",
    "sklearn.svm",
    "data_scripts",
    "kit.loops",
    "kit.data",
    "kit.grading",
)
PRELOAD_BEFORE_DROP = (
    "cProfile",
    "pstats",
    "torchvision",
    "timm",
    "sklearn.metrics",
    "matplotlib",
    "scipy.optimize",
    "torch.utils.data",
    "torch.distributions",
)
KIT_PREFIXES = ("torch.", "kit.", "data_scripts", "sklearn.")
FILE_LIMIT = 64 << 20
MESSAGE_LIMIT = 600


class ByHand(RuntimeError):
    """Raised in a by-hand exercise when the student's code reaches for torch.autograd."""


# ---------------------------------------------------------------- the zygote
def _prctl_subreaper():
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _descendants() -> list[int]:
    """Processes below this one (orphans come back to us: we are their subreaper)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    me, found, frontier = os.getpid(), [], {os.getpid()}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p != me}
        found += frontier
    return found


def sweep() -> int:
    """Kill every process the last check left behind; the number killed."""
    killed = 0
    for _ in range(20):
        pids = _descendants()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        _reap()
    _reap()
    return killed


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def zygote_main() -> None:
    os.environ.setdefault("KIT_NO_PROGRESS", "1")
    for name in PRELOAD:
        importlib.import_module(name)
    uid = int(os.environ.pop("KIT_DROP_UID", "0") or 0)
    if uid:
        # after the drop, modules of an interpreter that other users cannot read (pyenv in /root) can no longer
        # be imported: import the ones torch loads lazily now
        for name in PRELOAD_BEFORE_DROP:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _prctl_subreaper()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    wire.write_frame(REPLIES, {"op": "ready", "pid": os.getpid()})
    while True:
        try:
            msg = wire.read_frame(REQUESTS)
        except (EOFError, wire.WireError, OSError):
            os._exit(0)
        if not isinstance(msg, dict) or msg.get("op") != "fork":
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            try:
                child_main(msg)
            finally:
                os._exit(70)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        killed = sweep()
        if os.WIFSIGNALED(status):
            code = -os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        wire.write_frame(REPLIES, {"op": "ended", "code": code, "left_behind": killed})


# ---------------------------------------------------------------- the check's child
def _limits(memory_mb: int, nproc: int):
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-long output makes writes fail, not the process
    for limit, value in ((resource.RLIMIT_FSIZE, FILE_LIMIT), (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(limit, (value, value))
        except (OSError, ValueError):
            pass
    if nproc:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (OSError, ValueError):
            pass
    if memory_mb:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + memory_mb * (1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (OSError, ValueError):
            pass


def _file_guard(writable: list[str], hidden: list[str]):
    """Audit hook, a second line behind the OS isolation: no reading of `hidden` folders (the reference
    solutions, the grader's checks), no writing outside the check's own temporary folder."""
    roots_w = [Path(p).resolve() for p in writable]
    roots_h = [Path(p).resolve() for p in hidden]
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def inside(path, roots):
        return any(path == r or r in path.parents for r in roots)

    def hook(event, args):
        if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = Path(os.fsdecode(args[0])).resolve()
        if inside(path, roots_h):
            raise PermissionError(f"the grader does not let a submission read {path}")
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & write_flags
        )
        if writing and not inside(path, roots_w):
            raise PermissionError(f"the grader does not let a submission write {path} (only temporary files)")

    return hook


def child_main(msg: dict) -> None:
    os.setpgid(0, 0)
    out = os.open(msg["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")
    sys.stdin = open(0, closefd=False)
    tmp = msg["tmp"]
    work = os.path.join(tmp, "work")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)  # relative writes land in the check's throw-away folder
    os.environ.update({"TMPDIR": tmp, "HOME": tmp, "MPLCONFIGDIR": tmp})
    import tempfile

    tempfile.tempdir = tmp
    _limits(int(msg.get("memory_mb", 0)), int(msg.get("nproc", 0)))
    sys.addaudithook(_file_guard([tmp, os.devnull, msg["output"]], list(msg.get("hidden", []))))
    import numpy as np
    import torch

    torch.set_num_threads(max(1, int(msg.get("threads", 1))))
    seed = int(msg.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    Server(Path(msg["folder"])).serve()


class Server:
    def __init__(self, folder: Path):
        self.folder = folder
        self.objects: dict[int, object] = {}
        self.modules: dict[str, object] = {}

    # -- object table
    def ref(self, obj) -> wire.Ref:
        key = id(obj)
        self.objects[key] = obj
        cls = type(obj)
        bases = [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]
        return wire.Ref(key, f"{cls.__module__}.{cls.__qualname__}", bases)

    def resolve(self, rid: int):
        if rid not in self.objects:
            raise wire.WireError("unknown reference")
        return self.objects[rid]

    # -- loop
    def serve(self):
        while True:
            try:
                req = wire.read_frame(REQUESTS, refs=self.resolve)
            except (EOFError, OSError):
                os._exit(0)
            except wire.WireError:
                os._exit(71)
            if req.get("op") == "end":
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            self.reply(req)

    def reply(self, req):
        flags = {}
        try:
            value = self.dispatch(req, flags)
            if req.get("keep"):
                answer = {"ok": self.ref(value)}
            else:
                answer = {"ok": value}
            answer.update(flags)
            wire.write_frame(REPLIES, answer, self.ref)
        except BaseException as err:  # SystemExit and KeyboardInterrupt from student code too
            wire.write_frame(REPLIES, {"error": self.describe_error(err), **flags})

    def describe_error(self, err: BaseException) -> dict:
        if isinstance(err, ByHand):
            kind = "by_hand"
        elif isinstance(err, NotImplementedError):
            kind = "not_implemented"
        elif isinstance(err, MemoryError):
            kind = "memory"
        else:
            kind = "error"
        try:
            text = str(err)
        except BaseException:
            text = ""
        return {
            "kind": kind,
            "type": type(err).__name__[:100],
            "message": text[:MESSAGE_LIMIT],
            "where": self.student_frame(err),
        }

    def student_frame(self, err) -> str:
        try:
            for frame in reversed(traceback.extract_tb(err.__traceback__)):
                if Path(frame.filename).resolve().parent == self.folder:  # the innermost line the student wrote
                    where = f"{Path(frame.filename).name}, line {frame.lineno}"
                    return where if frame.name == "<module>" else f"in {frame.name}, {where}"
        except BaseException:
            pass
        return ""

    # -- requests
    def dispatch(self, req, flags):
        op = req.get("op")
        if op == "module":
            return self.module(str(req["name"]))
        if op == "getattr":
            obj, name = req["obj"], str(req["name"])
            if isinstance(obj, type(sys)) and not hasattr(obj, name):
                raise LookupError(f"{Path(getattr(obj, '__file__', '') or '?').name} defines no {name}")
            return getattr(obj, name)
        if op == "getitem":
            return req["obj"][req["key"]]
        if op == "call":
            args, kwargs = req.get("args", []), req.get("kwargs", {})
            if req.get("by_hand"):
                with by_hand(flags):
                    return req["obj"](*args, **kwargs)
            return req["obj"](*args, **kwargs)
        if op == "fetch":
            return req["obj"]
        if op == "describe":
            return describe(req["obj"])
        if op == "kit":
            module, _, name = str(req["func"]).partition(":")
            if module != "torch" and not module.startswith(KIT_PREFIXES):
                raise LookupError(f"{module} is not a kit helper")
            func = importlib.import_module(module)
            for part in name.split("."):
                func = getattr(func, part)
            if req.get("by_hand"):
                with by_hand(flags):
                    return func(*req.get("args", []), **req.get("kwargs", {}))
            return func(*req.get("args", []), **req.get("kwargs", {}))
        raise LookupError(f"unknown request {op!r}")

    def module(self, name: str):
        if name in self.modules:
            return self.modules[name]
        path = self.folder / f"{name}.py"
        if not name.isidentifier() or not path.is_file():
            raise FileNotFoundError(f"{name}.py not found in the submission's {self.folder.name}/")
        if str(self.folder) not in sys.path:
            sys.path.insert(0, str(self.folder))  # lets the student's modules import each other
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except SyntaxError as err:
            raise ImportError(f"{name}.py has a syntax error at line {err.lineno}: {err.msg}") from None
        except NotImplementedError:
            raise
        except BaseException as err:
            raise ImportError(f"importing {name}.py raised {type(err).__name__}: {err}") from None
        self.modules[name] = mod
        return mod


# ---------------------------------------------------------------- by hand: autograd unavailable
class by_hand:
    """A context for exercises done by hand: torch.autograd's entry points raise ByHand (and the reply says
    that they were reached, even if the student's code caught the exception), and no graph is recorded."""

    def __init__(self, flags):
        self.flags = flags

    def __enter__(self):
        import torch

        def refuse(*args, **kwargs):
            self.flags["by_hand_violation"] = True
            raise ByHand("torch.autograd is not available in an exercise done by hand")

        self.saved = [
            (torch.autograd, "grad"),
            (torch.autograd, "backward"),
            (torch.Tensor, "backward"),
            (torch.Tensor, "requires_grad_"),
            (torch.autograd, "functional"),
            (torch, "func"),
        ]
        self.saved = [(o, n, o.__dict__.get(n, getattr(o, n, None))) for o, n in self.saved]
        for owner, name, _ in self.saved:
            try:
                setattr(owner, name, refuse)
            except (AttributeError, TypeError):
                pass
        self.grad = torch.no_grad()
        self.grad.__enter__()

        def pack(tensor):  # autograd is recording a graph: a reference to it was kept from before the call
            self.flags["by_hand_violation"] = True
            return tensor

        self.hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)
        self.grad.__exit__(*exc)
        for owner, name, value in self.saved:
            try:
                setattr(owner, name, value)
            except (AttributeError, TypeError):
                pass
        return False


# ---------------------------------------------------------------- describe
def describe(model) -> dict:
    """An nn.Module as plain data: each submodule's name, class, parameters and buffers, in order."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    layers = []
    for name, mod in model.named_modules():
        cls = type(mod)
        layers.append(
            {
                "name": name,
                "class": cls.__name__,
                "module": cls.__module__,
                "torch": cls.__module__.startswith("torch.nn."),
                "params": {k: v.detach().clone() for k, v in mod.named_parameters(recurse=False)},
                "buffers": {k: v.detach().clone() for k, v in mod.named_buffers(recurse=False) if v is not None},
                "config": _config(mod),
                "training": bool(mod.training),
            }
        )
    return {"class": type(model).__name__, "layers": layers}


_CONFIG = (
    "in_features",
    "out_features",
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "p",
    "eps",
    "normalized_shape",
    "num_features",
    "embed_dim",
    "num_heads",
    "negative_slope",
    "dim",
    "start_dim",
    "end_dim",
    "inplace",
    "approximate",
    "ceil_mode",
    "padding_mode",
    "elementwise_affine",
    "affine",
    "momentum",
    "track_running_stats",
    "batch_first",
)


def _config(mod) -> dict:
    out = {}
    for key in _CONFIG:
        value = mod.__dict__.get(key)
        if isinstance(value, (bool, int, float, str)) or (
            isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)
        ):
            out[key] = value
    return out


if __name__ == "__main__":
    zygote_main()
