"""A student who wants more points than their code earns: every trick we know, graded through the real CLI.

Each attack targets a1's stubs (worth 0) or the reference with one function broken, and must earn 0 for the
targeted checks, leave no file in the checkout and no process behind, and leave the report intact.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

A1 = "a1_intro_nn"
A1_MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")
SOLUTION = (ROOT / "solutions" / A1 / "mlp.py").read_text()
STUB = (ROOT / "assignments" / A1 / "mlp.py").read_text()


def submission(tmp_path, mlp_source, base="solutions"):
    folder = tmp_path / "sub" / A1
    folder.mkdir(parents=True)
    for name in A1_MODULES:
        (folder / name).write_text((ROOT / base / A1 / name).read_text())
    (folder / "mlp.py").write_text(textwrap.dedent(mlp_source))
    return tmp_path / "sub"


def by_name(report):
    return {t["name"].split("/", 1)[1]: t for t in report["tests"]}


PWNED = ROOT / "pwned_by_a_submission.txt"
# every attack also tries to write into the checkout, from Python and from a shell
WRITES_CHECKOUT = textwrap.dedent(f"""
    import os as _os, subprocess as _sp
    try:
        open(r"{PWNED}", "w").write("x")
    except OSError:
        pass
    _sp.run(["sh", "-c", "echo x > {PWNED}; touch {ROOT}/solutions/pwned"], capture_output=True)
""")


@contextlib.contextmanager
def grader_side_server():
    """A server on the grader's machine (127.0.0.1) for a submission to try to reach: (its port, what it received)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    got, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                got.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], got
    finally:
        stop.set()
        thread.join(2)
        server.close()


def survivors(marker):
    """Processes still running whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


# Each attack: the functions it targets (which must earn 0) and the mlp.py that tries it.
ATTACKS = {
    # a tensor subclass whose comparisons always say "equal"
    "tensor_subclass": (
        ("forward", "backward", "sgd"),
        STUB
        + textwrap.dedent("""
        import torch
        class Liar(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                if name in ("allclose", "equal", "isclose", "eq", "__eq__", "all", "any", "isfinite"):
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})
        def _z(*shape):
            return torch.zeros(*shape).as_subclass(Liar)
        def forward(params, X):
            N, ny = X.shape[0], params["Wy"].shape[0]
            outs = {k: _z(N, params["Wh"].shape[0]) for k in ("htilde", "h")}
            outs.update(X=X, ytilde=_z(N, ny), yhat=_z(N, ny))
            return outs["yhat"], outs
        def backward(params, outputs, Y):
            return {k: _z(*v.shape) for k, v in params.items()}
        def sgd(params, grads, eta):
            return {k: _z(*v.shape) for k, v in params.items()}
    """),
    ),
    # patching torch's comparisons and dunders in the student's own process
    "patched_torch": (
        ("backward",),
        SOLUTION
        + textwrap.dedent("""
        import torch
        torch.Tensor.__gt__ = lambda self, other: torch.zeros_like(self, dtype=torch.bool)
        torch.Tensor.__lt__ = lambda self, other: torch.zeros_like(self, dtype=torch.bool)
        torch.allclose = lambda *a, **k: True
        torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)
        def backward(params, outputs, Y):
            return {k: torch.zeros_like(v) for k, v in params.items()}
    """),
    ),
    # the grader's own oracle, found through the caller's frame or the garbage collector
    "frame_and_gc": (
        ("backward",),
        SOLUTION
        + textwrap.dedent("""
        import gc, sys, torch
        def backward(params, outputs, Y):
            for depth in range(1, 30):
                try:
                    g = sys._getframe(depth).f_globals
                except ValueError:
                    break
                if "oracle_grads" in g:
                    return g["oracle_grads"](params, outputs["X"], Y)
            for obj in gc.get_objects():
                if getattr(obj, "__name__", "") == "oracle_grads":
                    return obj(params, outputs["X"], Y)
            return {k: torch.zeros_like(v) for k, v in params.items()}
    """),
    ),
    # autograd in the exercise done by hand
    "autograd_by_hand": (
        ("backward", "backward_batch_mean"),
        SOLUTION
        + textwrap.dedent("""
        import torch
        def backward(params, outputs, Y):
            leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
            yhat, _ = forward(leaves, outputs["X"])
            L = -(Y * torch.log(yhat)).sum(dim=1).mean()
            return dict(zip(leaves, torch.autograd.grad(L, list(leaves.values()))))
    """),
    ),
    # the same, but swallowing the refusal and falling back to zeros
    "autograd_caught": (
        ("backward",),
        SOLUTION
        + textwrap.dedent("""
        import torch
        def backward(params, outputs, Y):
            try:
                leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
                yhat, _ = forward(leaves, outputs["X"])
                L = -(Y * torch.log(yhat)).sum(dim=1).mean()
                L.backward()
                return {k: v.grad for k, v in leaves.items()}
            except Exception:
                return {k: torch.zeros_like(v) for k, v in params.items()}
    """),
    ),
    # a shell command reads the reference solutions
    "shell_reads_solutions": (
        ("forward", "backward"),
        STUB
        + textwrap.dedent(f"""
        import os, subprocess, sys, importlib.util
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ref_mlp.py")
        subprocess.run(["sh", "-c", "cat {ROOT}/solutions/{A1}/mlp.py > " + path], capture_output=True)
        os.system("cp {ROOT}/solutions/{A1}/mlp.py " + path + ".2 2>/dev/null")
        if os.path.getsize(path) > 0:
            spec = importlib.util.spec_from_file_location("ref_mlp", path)
            ref = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(ref)
            forward, backward = ref.forward, ref.backward
    """),
    ),
    # the test labels, read from the data folder
    "reads_test_labels": (
        ("forward",),
        STUB
        + textwrap.dedent(f"""
        import glob, os, time
        # the checkout's data folder, then whatever of the file system a few seconds of walking reach (a whole
        # walk of / takes minutes per check on a large disk: each check would end at its time limit instead)
        found, deadline = glob.glob("{ROOT}/data/**/t10k-labels*", recursive=True), time.monotonic() + 3
        for top, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if top != "/" or d not in ("proc", "sys", "dev")]
            found += [os.path.join(top, f) for f in files if f.startswith("t10k-labels")]
            if time.monotonic() > deadline:
                break
        for path in found[:3]:
            try:
                print("LEAKED", path, open(path, "rb").read(16))
            except OSError:
                pass
        import numpy as np
        for path in glob.glob(os.path.join(os.environ.get("KIT_PUBLIC_DATA", "/nonexistent"), "*.npz")):
            print("PUBLIC", path, sorted(np.load(path).files))
    """),
    ),
    # patching nn modules so that any network looks right
    "patched_nn": (
        ("forward",),
        STUB
        + textwrap.dedent("""
        import torch, torch.nn.functional as F
        F.linear = lambda x, w, b=None: torch.zeros(x.shape[0], w.shape[0])
        torch.nn.Linear.forward = lambda self, x: torch.zeros(x.shape[0], self.out_features)
    """),
    ),
}


@pytest.mark.quick
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing(name, tmp_path, grade_json):
    targets, source = ATTACKS[name]
    # the attacked checks, forward and backward (the by-hand attacks keep forward's points); the other checks of
    # the tier would only cost time: the attack runs at import, in every check alike
    only = sorted({*targets, "forward", "backward"})
    report = grade_json(
        submission(tmp_path, source + WRITES_CHECKOUT), "a1", "quick", *(a for c in only for a in ("--check", c))
    )
    tests = by_name(report)
    for target in targets:
        assert tests[target]["score"] == 0, (target, tests[target])
    assert not PWNED.exists() and not (ROOT / "solutions" / "pwned").exists()
    text = json.dumps(report)
    assert "LEAKED" not in text
    if name in ("autograd_by_hand", "autograd_caught"):
        assert "in an exercise done by hand" in tests["backward"]["message"]
        assert tests["forward"]["score"] == tests["forward"]["max_score"]  # only the by-hand checks are lost
    if name == "reads_test_labels":
        listed = [t["output"] for t in report["tests"] if "PUBLIC" in t["output"]]
        assert all("ytest" not in out and "ytrain" not in out or "ytest" not in out for out in listed)


@pytest.mark.quick
@pytest.mark.heavy
def test_channel_forgery_runs_nothing_in_the_judge(tmp_path, grade_json):
    """Bytes written straight into the reply channel: a pickle that would run a command in an unpickling judge,
    then a well-formed frame claiming a right answer. Neither runs anything nor earns anything."""
    marker = tmp_path / "judge_ran_this"
    source = STUB + textwrap.dedent(f"""
        import os, pickle, struct, json
        class Boom:
            def __reduce__(self):
                return (os.system, ("touch {marker}",))
        def forward(params, X):
            os.write(4, pickle.dumps(("passed", "")))
            os.write(4, pickle.dumps(Boom()))
            return None
        def backward(params, outputs, Y):
            header = json.dumps({{"ok": {{"$dict": []}}}}).encode()
            os.write(4, struct.pack("<4sIQ", b"KITW", len(header), 0) + header)
            raise SystemExit(0)
    """)
    report = grade_json(submission(tmp_path, source), "a1", "quick")
    tests = by_name(report)
    assert tests["forward"]["score"] == 0 and tests["backward"]["score"] == 0
    assert not marker.exists()
    assert tests["svm_accuracies"]["score"] == tests["svm_accuracies"]["max_score"]  # the next checks still run


@pytest.mark.quick
@pytest.mark.heavy
def test_nothing_outlives_a_check_and_the_report_stays(tmp_path):
    """Background processes (a new session, a double fork) die with the check; one that would rewrite the report
    after grading never gets to; the grader's temporary folders are removed."""
    marker = f"kit-attack-{uuid.uuid4().hex}"
    out = tmp_path / "report.json"
    rewrite = f"import time, json; time.sleep(8); open(r'{out}', 'w').write(json.dumps({{'score': 999}}))  # {marker}"
    source = SOLUTION + textwrap.dedent(f"""
        import os, subprocess, sys
        subprocess.Popen([sys.executable, "-c", {rewrite!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            if os.fork() == 0:
                os.setsid()
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)  # {marker}"])
            os._exit(0)
        for _ in range(50):
            subprocess.Popen(["sleep", "60"], start_new_session=True)
    """)
    sub = submission(tmp_path, source)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--submission",
            str(sub),
            "--assignment",
            "a1",
            "--tier",
            "quick",
            "--format",
            "json",
            "--output",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(private_tmp)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert survivors(marker) == []
    time.sleep(10)
    report = json.loads(out.read_text())
    assert report["score"] != 999 and report["max_score"] > 0
    assert list(private_tmp.iterdir()) == []  # the grader's temporary folders are gone


@pytest.mark.quick
def test_no_network(tmp_path, grade_json):
    """A submission cannot reach a server on the grader's machine (bubblewrap level)."""
    from autograder.sandbox.client import available_level

    if available_level() != "bwrap":
        pytest.skip("network isolation needs the bubblewrap level")
    with grader_side_server() as (port, got):
        source = SOLUTION + textwrap.dedent(f"""
            import socket
            try:
                s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
                s.sendall(b"reached the grader's machine")
                print("NETWORK OPEN")
            except OSError as err:
                print("no network:", err)
        """)
        report = grade_json(submission(tmp_path, source), "a1", "quick")
    assert got == []
    assert "NETWORK OPEN" not in json.dumps(report)


@pytest.mark.quick
@pytest.mark.heavy
@pytest.mark.parametrize("level", ["user", "none"])
def test_fallback_levels_grade_reference_and_stubs(level, tmp_path, grade_json):
    """Where bubblewrap cannot run: an unprivileged user (root in a container), or nothing; the reports say so."""
    if level == "user" and os.geteuid() != 0:
        pytest.skip("the user level needs root")
    env_level = ("--sandbox", level)
    ref = grade_json(ROOT / "solutions", "a1", "quick", *env_level)
    assert ref["score"] == ref["max_score"] > 0 and ref["isolation"] == [level]
    stubs = grade_json(ROOT / "assignments", "a1", "quick", *env_level)
    assert stubs["score"] == 0 and stubs["isolation"] == [level]


@pytest.mark.quick
@pytest.mark.parametrize("name", ["tensor_subclass", "autograd_by_hand", "frame_and_gc"])
def test_attack_earns_nothing_under_nbgrader(name, tmp_path):
    """The same attacks, graded the way `nbgrader autograde` grades them: its JudgeGrades preprocessor sets the
    graded test cells' outcomes from the judge (tests/test_nbgrader.py runs the whole nbgrader flow)."""
    import nbformat

    from autograder.platforms.nbgrader_plugins import JudgeGrades

    targets, source = ATTACKS[name]
    folder = submission(tmp_path, source) / A1
    nb = nbformat.read(ROOT / "assignments" / A1 / f"{A1}.ipynb", as_version=4)
    nb, _ = JudgeGrades(timeout_scale=2).preprocess(nb, {"metadata": {"path": str(folder)}})
    outcome = {}
    for cell in nb.cells:
        for target in targets:
            if f'"{A1}/{target}"' in cell.source and cell.metadata.get("nbgrader", {}).get("grade"):
                outcome[target] = [o.get("output_type") for o in cell.outputs]
    assert outcome and set(outcome) <= set(targets)  # some checks are graded by the CLI only (no test cell)
    for target, kinds in outcome.items():
        assert "error" in kinds, (target, kinds)  # nbgrader scores a test cell with an error output 0


@pytest.mark.quick
def test_output_file_swapped_for_a_link_shows_nothing(tmp_path, grade_json):
    """The check's output file lives in a folder the sandbox can write: replacing it with a link to a file the
    judge can read (the reference solution, a root-only file) must not put that file into the student's report."""
    target = ROOT / "solutions" / A1 / "mlp.py"
    source = SOLUTION + textwrap.dedent(f"""
        import os, sys
        def _swap():
            out = os.readlink("/proc/self/fd/1")
            try:
                os.remove(out)
                os.symlink(r"{target}", out)
            except OSError:
                pass
        _f = forward
        def forward(params, X):
            _swap()
            return _f(params, X)
    """)
    report = grade_json(submission(tmp_path, source), "a1", "quick")
    text = json.dumps(report)
    assert "def backward" not in text and "BEGIN SOLUTION" not in text
