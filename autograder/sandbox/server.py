"""The sandbox: the only process that runs student code.

Started by the judge (autograder/sandbox/client.py) as ``python -m autograder.sandbox.server`` inside the isolation it chose.
It imports torch once, then for each check forks a child that serves the judge's requests on file descriptors
3 (requests) and 4 (replies) until the judge ends the check; the parent then kills every process the child
left behind (it is their subreaper) and says so. The judge trusts nothing that comes from here: replies are
plain data (autograder/sandbox/wire.py) and every comparison happens in the judge.

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
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file inside the sandbox's minimal view of the kit
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from autograder.sandbox import wire  # noqa: E402

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
    # the kit's helpers and the grader's drivers too, so that the snapshot below holds them as the kit wrote them
    "kit.a1",
    "kit.a2",
    "kit.a3",
    "kit.a4",
    "autograder.sandbox.drivers.common",
    "autograder.sandbox.drivers.a2",
    "autograder.sandbox.drivers.a3",
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
DRIVERS = "autograder.sandbox.drivers"
KIT_PREFIXES = ("torch.", "kit.", "data_scripts", "sklearn.", DRIVERS + ".")
FILE_LIMIT = 64 << 20
MESSAGE_LIMIT = 600


class ByHand(RuntimeError):
    """Raised in a by-hand exercise when the student's code reaches for torch.autograd."""


_EQUAL = None  # torch.equal as the sandbox found it, before any student code could replace it


class InputChanged(RuntimeError):
    """Raised when a function done by hand changed one of its inputs in place (the caller's data)."""


def _snapshot(value, path="", depth=0) -> list:
    """(where, tensor, its clone) for every tensor of `value` (in dicts, lists and tuples, as the judge passes them):
    after the call, each tensor object the caller handed over must hold what it held before."""
    import torch

    if isinstance(value, torch.Tensor):
        return [(path, value, value.detach().clone())]
    if depth < 4 and type(value) in (dict, list, tuple):
        items = value.items() if type(value) is dict else enumerate(value)
        return [t for k, v in items for t in _snapshot(v, f"{path}[{k!r}]", depth + 1)]
    return []


def _inputs_changed(func, args, kwargs):
    """Snapshots the tensors of a call's inputs; returns a function that names, after the call, the first of them
    changed in place ("" when none), as the student's signature names the argument. Replacing an entry of a dict
    the caller passed changes no tensor (the course's sgd returns its params dict so updated)."""
    import inspect

    try:
        names = list(inspect.signature(func).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        names = []
    labels = [names[i] if i < len(names) else f"argument {i + 1}" for i in range(len(args))] + list(kwargs)
    kept = [t for label, v in zip(labels, [*args, *kwargs.values()]) for t in _snapshot(v, label)]

    def first_changed() -> str:
        for where, tensor, was in kept:
            if tensor.shape != was.shape or tensor.dtype != was.dtype or not _EQUAL(tensor.detach(), was):
                return where
        return ""

    return first_changed


# ---------------------------------------------------------------- the zygote
def _prctl_subreaper():
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _descendants(root: int | None = None, zombies: bool = False) -> list[int]:
    """The live processes below `root` (default: this one; orphans come back to the zygote, their subreaper), and
    zombies too when asked. The judge uses it too, on the sandbox it started."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
                state, ppid = stat[stat.rindex(b")") + 2 :].split()[:2]
                if zombies or state not in (b"Z", b"X"):
                    parents[int(entry)] = int(ppid)
            except (OSError, ValueError, IndexError):
                continue
    root = os.getpid() if root is None else root
    found, frontier = [], {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p != root}
        found += frontier
    return found


def sweep() -> int:
    """Kill every process the last check left behind, until none is; the number killed."""
    killed, deadline = set(), time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = _descendants()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        _reap()
        time.sleep(0.005)
    _reap()
    return len(killed)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- the snapshot: what no student code has touched
# Taken by the zygote after its imports, before any student code runs (each check's child inherits it). A class
# object is what a submission cannot forge: a class of its own can say it is torch.optim.sgd.SGD (its __module__
# and __qualname__ are strings), but it is not the object recorded here under that name.
TRUSTED_ROOTS = ("builtins", "numpy", "torch", "sklearn", "kit", "data_scripts")
UNVERIFIED = "unverified:"  # a class named under TRUSTED_ROOTS that is not the one recorded with that name


def trusted_module(name: str) -> bool:
    """torch, numpy, scikit-learn, the kit, or the grader's drivers (the only part of autograder the sandbox runs)."""
    return name.split(".", 1)[0] in TRUSTED_ROOTS or name == DRIVERS or name.startswith(DRIVERS + ".")


def kit_module(name: str) -> bool:
    """The kit's own code, whose functions and namespaces the snapshot puts back before each kit call."""
    return name.split(".", 1)[0] in ("kit", "data_scripts") or name == DRIVERS or name.startswith(DRIVERS + ".")


_CLASSES: dict[str, tuple] = {}  # "module.qualname" -> the class objects recorded with that name
_NAMESPACES: dict[str, tuple] = {}  # module name -> (the module, a copy of its namespace)
_KIT_CODE: list[tuple] = []  # (object, attribute, value) of the kit's own functions and classes, to put back


def take_snapshot() -> None:
    import types
    import warnings

    with warnings.catch_warnings():  # a few torch names warn when touched (deprecated aliases)
        warnings.simplefilter("ignore")
        for name, mod in list(sys.modules.items()):
            if not trusted_module(name) or not isinstance(mod, types.ModuleType):
                continue
            namespace = dict(vars(mod))
            _NAMESPACES[name] = (mod, namespace)
            for value in namespace.values():
                if issubclass(type(value), type) and trusted_module(str(value.__module__)):
                    key = f"{value.__module__}.{value.__qualname__}"
                    if not any(value is c for c in _CLASSES.get(key, ())):
                        _CLASSES[key] = (*_CLASSES.get(key, ()), value)
                if kit_module(name) and getattr(value, "__module__", None) == name:
                    _record_kit_code(value)


def _record_kit_code(value) -> None:
    """The code, defaults and class attributes of one of the kit's own functions or classes: a submission could
    swap a function's __code__ or a class's method without touching the module's namespace."""
    if isinstance(value, type):
        for attr, item in list(vars(value).items()):
            if not attr.startswith("__"):
                _KIT_CODE.append((value, attr, item))
    elif callable(value) and hasattr(value, "__code__"):
        for attr in ("__code__", "__defaults__", "__kwdefaults__"):
            _KIT_CODE.append((value, attr, getattr(value, attr)))


def restore_kit() -> None:
    """Put the kit's modules back as the snapshot found them (their namespaces, their functions' code, their
    classes' attributes, their sys.modules entries) before the kit runs a training on the student's code."""
    for name, (mod, namespace) in _NAMESPACES.items():
        if sys.modules.get(name) is not mod:
            sys.modules[name] = mod
        if not kit_module(name):
            continue
        current = vars(mod)
        for key, value in namespace.items():
            if current.get(key, _NAMESPACES) is not value:
                current[key] = value
    for owner, attr, value in _KIT_CODE:
        try:
            if (vars(owner).get(attr, _NAMESPACES) if isinstance(owner, type) else getattr(owner, attr)) is not value:
                setattr(owner, attr, value)
        except (AttributeError, TypeError):
            pass


def trusted_name(cls) -> str:
    """`cls`'s "module.qualname", marked UNVERIFIED when it claims a name of torch, sklearn, numpy or the kit
    without being the class the snapshot recorded under it."""
    try:
        name = f"{cls.__module__}.{cls.__qualname__}"
    except Exception:  # a metaclass that raises
        return UNVERIFIED + "?"
    if not isinstance(name, str) or not trusted_module(name):
        return name if isinstance(name, str) else UNVERIFIED + "?"
    if not _CLASSES:  # no snapshot taken: the kit's own tests describing a model in their process, not a sandbox
        return name
    return name if any(cls is c for c in _CLASSES.get(name, ())) else UNVERIFIED + name


def kit_helper(module: str, name: str):
    """The helper `module:name` as the snapshot found it (not what a submission may have put in its place);
    a module of torch or scikit-learn that the zygote did not import is imported now."""
    if module in _NAMESPACES:
        namespace = _NAMESPACES[module][1]
        first, *rest = name.split(".")
        if first not in namespace:
            raise LookupError(f"{module} has no {first}")
        func = namespace[first]
    else:
        func, rest = importlib.import_module(module), name.split(".")
    for part in rest:
        func = getattr(func, part)
    return func


def zygote_main() -> None:
    os.environ.setdefault("KIT_NO_PROGRESS", "1")
    if os.environ.pop("KIT_NEW_NETWORK", ""):
        _new_network()  # first: while one thread runs (a namespace is per thread) and the zygote is still root
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
    take_snapshot()
    _prctl_subreaper()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    own_memory = _memory_of([os.getpid()])  # what the checks' memory is counted above
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
                _prctl(4, 1)  # PR_SET_DUMPABLE (a uid drop cleared it): the zygote may read its memory use
                child_main(msg)
            finally:
                os._exit(70)
        status, over, peak = _wait_for_check(pid, int(msg.get("check_memory_mb", 0)) << 20, own_memory)
        killed = sweep()
        if os.WIFSIGNALED(status):
            code = -os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        ended = {"op": "ended", "code": code, "left_behind": killed, "peak_mb": round(peak / 2**20, 1)}
        if over:
            ended["memory"] = True  # the check's processes together passed its memory limit
        wire.write_frame(REPLIES, ended)


POLL = 0.1  # seconds between two measures of a check's memory
# the proportional set sizes that give a check's peak cost milliseconds to read: read again only once the check's
# resident size (cheap to read) has grown this much since
PEAK_STEP = 16 << 20


def _wait_for_check(child: int, limit: int, own_memory: int) -> tuple[int, bool, int]:
    """Wait for the check's child to end, reaping the orphans that come back to the zygote. Every POLL seconds,
    measure what all the check's processes add together to the memory the zygote held (`own_memory`), and kill
    them all past `limit` bytes (0: no limit): a per-process limit (RLIMIT_AS) lets many processes each stay under
    it. (the child's wait status, whether the memory limit killed it, the most they added at one poll: the peak
    the reports and the results store give, sampled every POLL seconds, so a check shorter than that may show 0)."""
    import select

    try:
        ended = os.pidfd_open(child)  # readable when the child ends: no wait for the next poll
    except (AttributeError, OSError):
        ended = None
    over, peak, measured_at = False, 0, -PEAK_STEP
    try:
        while True:
            status = _reap_until(child)
            if status is not None:
                return status, over, peak
            pids = _descendants()
            resident = sum(_resident(pid) for pid in pids)
            if pids and resident > measured_at + PEAK_STEP:  # what they add, measured again only as they grow
                measured_at = resident
                peak = max(peak, _memory_of([os.getpid(), *pids]) - own_memory)
            if limit and not over and _over(pids, limit, own_memory):
                over = True
                for pid in _descendants():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            if ended is None:
                time.sleep(POLL)
            else:
                select.select([ended], [], [], POLL)
    finally:
        if ended is not None:
            os.close(ended)


def _reap_until(child: int) -> int | None:
    """Reap every child that ended; the wait status of `child` once it has, else None."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            return None
        if pid == child:
            return status


def _over(pids, limit: int, own_memory: int) -> bool:
    """Whether the check's processes `pids` add more than `limit` bytes to what the zygote held: what the zygote and
    they hold now, less `own_memory` (the torch they share with the zygote is counted once). Their resident sizes
    first: cheap, and never less than what they add."""
    if sum(_resident(pid) for pid in pids) <= limit:
        return False
    return _memory_of([os.getpid(), *pids]) - own_memory > limit


def _memory_of(pids) -> int:
    """Bytes the processes `pids` hold in memory together: the sum of their proportional set sizes (a page shared
    by several processes is split among them, so the torch the zygote loaded once is not counted per fork); their
    resident size where the kernel does not give it."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                pss = [line for line in f.read().splitlines() if line.startswith(b"Pss:")]
            if pss:
                total += int(pss[0].split()[1]) << 10
                continue
        except (OSError, ValueError, IndexError):
            pass
        total += _resident(pid)
    return total


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _prctl(option: int, value: int):
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _new_network():
    """Put this process in a network namespace of its own, with nothing in it (not even a loopback that is up):
    the judge asks for it outside bubblewrap (which makes its own) where it runs as root with CAP_SYS_ADMIN."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "the sandbox could not get a network namespace of its own")


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
    sys.addaudithook(by_hand_guard)
    import numpy as np
    import torch

    global _EQUAL
    _EQUAL = torch.equal
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
        # names of torch's, sklearn's and the kit's classes only for the very classes the snapshot recorded
        bases = [trusted_name(c) for c in cls.__mro__]
        return wire.Ref(key, trusted_name(cls), bases)

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
        elif isinstance(err, InputChanged):
            kind = "input_changed"
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
                first_changed = _inputs_changed(req["obj"], args, kwargs)
                with by_hand(flags):
                    value = self.settled(req["obj"](*args, **kwargs), req)
                changed = "" if req.get("may_update") else first_changed()
                if changed:
                    raise InputChanged(
                        f"changed {changed} in place: leave the inputs as they came, work on copies (clone)"
                    )
                return value
            return req["obj"](*args, **kwargs)
        if op == "fetch":
            return req["obj"]
        if op == "describe":
            return describe(req["obj"])
        if op == "kit":
            module, _, name = str(req["func"]).partition(":")
            if module != "torch" and not module.startswith(KIT_PREFIXES):
                raise LookupError(f"{module} is not a kit helper")
            restore_kit()  # the submission's import may have patched kit.a1, kit.loops, ...
            func = kit_helper(module, name)
            if req.get("by_hand"):
                with by_hand(flags):
                    return self.settled(func(*req.get("args", []), **req.get("kwargs", {})), req)
            return func(*req.get("args", []), **req.get("kwargs", {}))
        raise LookupError(f"unknown request {op!r}")

    def settled(self, value, req):
        """A by-hand call's answer as plain data, made while autograd is still unavailable: a dict, list or tensor
        subclass whose methods would compute the gradients as the reply is encoded runs under the same rule."""
        if req.get("keep"):
            return value
        return wire.decode(*wire.encode(value, self.ref), refs=self.resolve)

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
            sys.modules.pop(name, None)
            # the file that holds the error: name's own, or a module of the submission it imports
            where = Path(err.filename).name if err.filename and Path(err.filename).name != "<string>" else f"{name}.py"
            via = f" (imported by {name}.py)" if where != f"{name}.py" else ""
            raise ImportError(f"{where} has a syntax error at line {err.lineno}{via}: {err.msg}") from None
        except NotImplementedError:
            sys.modules.pop(name, None)
            raise
        except BaseException as err:
            sys.modules.pop(name, None)
            raise ImportError(f"importing {name}.py raised {type(err).__name__}: {err}") from None
        self.modules[name] = mod
        return mod


# ---------------------------------------------------------------- by hand: autograd unavailable
# What the audit hook refuses while a call runs by hand (by_hand also replaces the functions that start threads:
# Python 3.10 and 3.11 report no thread's start). multiprocessing's spawn reports nothing either: by_hand sees the
# process it started (_others_in_check, _children_usage).
_STARTS = {
    "os.fork": "a process (os.fork)",
    "os.forkpty": "a process (os.forkpty)",
    "os.exec": "a program (os.exec)",
    "os.posix_spawn": "a process (os.posix_spawn)",
    "os.spawn": "a process (os.spawn)",
    "os.system": "a shell command (os.system)",
    "subprocess.Popen": "a process (subprocess)",
    "_thread.start_new_thread": "a thread",
    "_thread.start_joinable_thread": "a thread",
}
_WATCHING: list = []  # the by_hand context in force, while a call runs by hand


def by_hand_guard(event, args):
    """Audit hook (child_main registers it): while a call runs by hand, no process or thread may start."""
    if _WATCHING and event in _STARTS:
        _WATCHING[-1].refuse(f"the call started {_STARTS[event]}")


class by_hand:
    """A context for exercises done by hand, for the whole process: while the call runs, autograd's engine and its
    Python entry points refuse (raise ByHand), in every thread and through references kept from import time; a
    graph recorded in any thread is reported (autograd's anomaly mode calls torch.fx.traceback.format_stack for each
    node it creates); forward-mode AD is held; no process or thread may start; and a process or thread of the
    submission running beside the call (started before it) counts as a use: an exercise done by hand needs none,
    and the grader cannot see what they compute. The reply says what was found (flags["by_hand_violation"]), even
    if the student's code caught the exception."""

    def __init__(self, flags):
        self.flags = flags

    def violation(self, what: str):
        import threading

        if threading.get_ident() != self.main:
            what += " in another thread"
        self.flags.setdefault("by_hand_violation", what)

    def refuse(self, what: str):
        self.violation(what)
        raise ByHand(f"torch.autograd is not available in an exercise done by hand ({what})")

    def __enter__(self):
        import threading

        self.main, self.undo_steps = threading.get_ident(), []
        found = self.running_beside("another {} of the submission, started before the call, was running beside it")
        if found:  # before any change: the call does not run, and nothing waits for a helper that cannot answer
            raise ByHand(f"torch.autograd is not available in an exercise done by hand ({found})")
        self.usage = _children_usage()
        try:
            self.watch_autograd()
            self.refuse_entry_points()
        except BaseException:
            self.undo()
            raise
        _WATCHING.append(self)
        return self

    def patch(self, owner, name, value):
        if not hasattr(owner, name):
            return
        old = owner.__dict__.get(name, getattr(owner, name))
        try:
            setattr(owner, name, value)
        except (AttributeError, TypeError):
            return
        self.undo_steps.append(lambda: setattr(owner, name, old))

    def watch_autograd(self):
        """For the whole process: the engine every backward pass runs through, graph recording in every thread,
        forward-mode AD; for this thread: grad mode off, and saved-tensor hooks that see a graph recorded."""
        import torch
        import torch.fx.traceback as fx_traceback
        from torch.autograd.variable import Variable

        self.engine = _refusing_engine(Variable._execution_engine, self.refuse)
        self.patch(Variable, "_execution_engine", self.engine)

        def format_stack():  # anomaly mode asks for the stack of each graph node created, in any thread
            self.violation("autograd recorded a graph")
            return []

        self.format_stack = format_stack
        self.patch(fx_traceback, "format_stack", format_stack)
        anomaly, switch = (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()), torch.set_anomaly_enabled
        switch(True, False)
        self.undo_steps.append(lambda: switch(*anomaly))
        leave = torch._C._exit_dual_level
        try:  # one forward-mode level at a time, for the whole process: holding it refuses the others
            level = torch._C._enter_dual_level()
            self.undo_steps.append(lambda: leave(level=level))
        except RuntimeError:
            self.violation("forward-mode AD was in use when the call started")
        for context in (torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(self.packed, lambda t: t)):
            context.__enter__()
            self.undo_steps.append(lambda context=context: context.__exit__(None, None, None))

    def packed(self, tensor):  # a graph recorded in this thread, even where anomaly mode was switched off
        self.violation("autograd recorded a graph")
        return tensor

    def refuse_entry_points(self):
        """autograd's functions and modules, forward-mode AD's, the switch of the watch above, and the functions
        that start threads (Python 3.12 and later also report a thread's start to the audit hook; 3.10 and 3.11
        do not)."""
        import threading

        import torch
        import torch.autograd.forward_ad

        for owner, name, shown in (
            (torch.autograd, "grad", "torch.autograd.grad"),
            (torch.autograd, "backward", "torch.autograd.backward"),
            (torch.Tensor, "backward", ".backward()"),
            (torch.Tensor, "requires_grad_", ".requires_grad_()"),
            (torch.autograd, "functional", "torch.autograd.functional"),
            (torch, "func", "torch.func"),
            (torch.autograd.forward_ad, "make_dual", "forward-mode AD (make_dual)"),
            (torch, "_make_dual", "forward-mode AD (_make_dual)"),
            (torch.autograd.forward_ad, "enter_dual_level", "forward-mode AD (dual_level)"),
            (torch._C, "_enter_dual_level", "forward-mode AD (dual_level)"),
            (torch, "set_anomaly_enabled", "torch.set_anomaly_enabled"),
            (torch._C, "set_anomaly_enabled", "torch.set_anomaly_enabled"),
        ):
            self.patch(owner, name, _Refusing(shown, self.refuse))
        for owner in (sys.modules["_thread"], threading):
            for name in ("start_new_thread", "_start_new_thread", "start_joinable_thread", "_start_joinable_thread"):
                self.patch(owner, name, lambda *args, **kwargs: self.refuse("the call started a thread"))

    def running_beside(self, what: str) -> str | None:
        """What of the submission runs beside the call (another thread, another process), reported."""
        found = None
        if any(ident != self.main for ident in sys._current_frames()):
            found = what.format("thread") + " (an exercise done by hand needs none)"
        elif _others_in_check():
            found = what.format("process") + " (an exercise done by hand needs none)"
        if found:
            self.violation(found)
        return found

    def __exit__(self, *exc):
        import torch
        import torch.fx.traceback as fx_traceback
        from torch.autograd.variable import Variable

        try:
            self.running_beside("a {} of the submission was still running when the call ended")
            if _children_usage() != self.usage:
                self.violation("a process of the submission ran during the call (an exercise done by hand needs none)")
            if not (
                torch.is_anomaly_enabled()
                and fx_traceback.format_stack is self.format_stack
                and Variable._execution_engine is self.engine
            ):
                self.violation("the call switched off the grader's watch on autograd")
        finally:
            self.undo()
            _WATCHING.remove(self)
        return False

    def undo(self):
        while self.undo_steps:
            try:
                self.undo_steps.pop()()
            except RuntimeError:  # the call left forward-mode AD's level or autograd's hooks changed
                self.violation("the call changed autograd's state")
            except Exception:
                pass


class _Refusing:
    """Stands in for an entry point of autograd (a function, or a module such as torch.func) while a call runs by
    hand: calling it, or reaching into it, refuses."""

    def __init__(self, shown: str, refuse):
        self._shown, self._refuse = shown, refuse

    def __call__(self, *args, **kwargs):
        self._refuse(f"{self._shown} was called")

    def __getattr__(self, name):
        self._refuse(f"{self._shown}.{name} was used")


def _refusing_engine(engine, refuse):
    """autograd's engine, whose backward pass refuses: torch.autograd.grad, .backward(), torch.func and references
    to them kept from import time all reach it, in any thread."""

    class RefusingEngine:
        def run_backward(self, *args, **kwargs):
            refuse("a backward pass ran")

        def __getattr__(self, name):
            return getattr(engine, name)

    return RefusingEngine()


def _others_in_check() -> list[int]:
    """The processes of this check other than the one serving the judge: the zygote's descendants (a process that
    leaves its parent comes back to the zygote, their subreaper), less this one; zombies too (one that did its work
    and ended, not yet waited for)."""
    return [p for p in _descendants(os.getppid(), zombies=True) if p != os.getpid()]


def _children_usage() -> tuple:
    """What the processes this one started and waited for have used: it grows when one ran (spawned through a path
    no audit event reports, such as multiprocessing's)."""
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (u.ru_utime, u.ru_stime, u.ru_minflt, u.ru_majflt, u.ru_nvcsw, u.ru_nivcsw)


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
                "torch": trusted_name(cls).startswith("torch.nn."),  # torch's own class, not one named so
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
