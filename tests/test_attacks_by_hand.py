"""The by-hand rule holds for the whole process tree of the call: autograd in another thread, in another process,
in a helper module of the submission, through references kept at import time or in forward mode earns nothing in
an exercise done by hand (a1's backward here), graded through the real CLI. Each attack keeps forward's points, and
its message says what was found. The reference keeps every by-hand point (no false alarm from torch's threads).

The attacks in ATTACKS reach their autograd code through `globals()`, out of the source scan's sight, so that the
sandbox's own defences are what they meet; the helper-module attacks meet the scan.
"""

import json
import textwrap

import pytest
from test_attacks import A1, SOLUTION, by_name, submission

from autograder.sandbox.client import ROOT

# autograd's gradients of the reference's forward pass, with a reference to torch.autograd.grad kept at import
# time (out of reach of the attributes the sandbox replaces during a by-hand call), and saved-tensor hooks of its own
# (which hide the graph from the sandbox's: the innermost hooks are the ones called)
AUTOGRAD = textwrap.dedent("""
    import torch
    _grad = torch.autograd.grad

    def _autograd_grads(params, X, Y):
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            leaves = {}
            for k, v in params.items():
                leaves[k] = v.detach().clone()
                leaves[k].requires_grad = True
            yhat, _ = forward(leaves, X)
            L = -(Y * torch.log(yhat)).sum(dim=1).mean()
            return dict(zip(leaves, _grad(L, list(leaves.values()))))
""")

ATTACKS = {
    # the answer is a dict whose items() runs autograd when the reply is read, after the call itself has returned
    "gradients_when_the_reply_is_read": SOLUTION
    + AUTOGRAD
    + textwrap.dedent("""
    class _Later(dict):
        def items(self):
            return globals()["_autograd_" + "grads"](*self.args).items()

    def backward(params, outputs, Y):
        later = _Later()
        later.args = (params, outputs["X"], Y)
        return later
"""),
    # a thread started at import answers through queues
    "thread_at_import": SOLUTION
    + AUTOGRAD
    + textwrap.dedent("""
    import queue, threading
    _asks, _answers = queue.Queue(), queue.Queue()

    def _serve():
        while True:
            _answers.put(globals()["_autograd_" + "grads"](*_asks.get()))

    threading.Thread(target=_serve, daemon=True).start()

    def backward(params, outputs, Y):
        _asks.put((params, outputs["X"], Y))
        return _answers.get()
"""),
    # autograd in the call's own thread, through the references kept at import time
    "saved_reference": SOLUTION
    + AUTOGRAD
    + textwrap.dedent("""
    def backward(params, outputs, Y):
        return globals()["_autograd_" + "grads"](params, outputs["X"], Y)
"""),
    # forward-mode AD (torch.func.jacfwd, kept at import time), which records no graph for backward
    "forward_mode_ad": SOLUTION
    + textwrap.dedent("""
    import torch
    _jacfwd = torch.func.jacfwd

    def _loss(params, X, Y):
        yhat, _ = forward(params, X)
        return -(Y * torch.log(yhat)).sum(dim=1).mean()

    def backward(params, outputs, Y):
        return globals()["_jac" + "fwd"](globals()["_lo" + "ss"])(params, outputs["X"], Y)
"""),
    # a worker thread started during the call
    "thread_during_call": SOLUTION
    + AUTOGRAD
    + textwrap.dedent("""
    import threading

    def backward(params, outputs, Y):
        out = {}
        work = globals()["_autograd_" + "grads"]
        t = threading.Thread(target=lambda: out.update(work(params, outputs["X"], Y)))
        t.start()
        t.join()
        return out
"""),
    # a process forked at import (torch as it was before the call) answers through pipes
    "fork_at_import": SOLUTION
    + AUTOGRAD
    + textwrap.dedent("""
    import os, pickle, struct

    def _send(fd, obj):
        data = pickle.dumps(obj)
        os.write(fd, struct.pack("<Q", len(data)) + data)

    def _receive(fd):
        size, data = struct.unpack("<Q", os.read(fd, 8))[0], b""
        while len(data) < size:
            data += os.read(fd, size - len(data))
        return pickle.loads(data)

    _asks, _answers = os.pipe(), os.pipe()
    if os.fork() == 0:
        while True:
            _send(_answers[1], globals()["_autograd_" + "grads"](*_receive(_asks[0])))

    def backward(params, outputs, Y):
        _send(_asks[1], (params, outputs["X"], Y))
        return _receive(_answers[0])
"""),
    # a fresh python started during the call
    "python_during_call": SOLUTION
    + textwrap.dedent("""
    import os, subprocess, sys, tempfile, torch

    PROGRAM = '''
    import sys, torch
    sys.path.insert(0, sys.argv[2])
    from mlp import forward
    params, X, Y = torch.load(sys.argv[1])
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    yhat, _ = forward(leaves, X)
    L = -(Y * torch.log(yhat)).sum(dim=1).mean()
    torch.save(dict(zip(leaves, torch.autograd.grad(L, list(leaves.values())))), sys.argv[1])
    '''

    def backward(params, outputs, Y):
        path = os.path.join(tempfile.gettempdir(), "problem.pt")
        torch.save((params, outputs["X"], Y), path)
        subprocess.run([sys.executable, "-c", PROGRAM, path, os.path.dirname(__file__)], check=True)
        return torch.load(path)
"""),
}

# a helper module of the submission does the autograd: imported by name, or as a module
HELPERS = AUTOGRAD.replace("yhat, _ = forward(leaves, X)", "yhat, _ = __import__('mlp').forward(leaves, X)")
HELPER_ATTACKS = {
    "helper_from_import": "from helpers import _autograd_grads as grads\n\n"
    "def backward(params, outputs, Y):\n    return grads(params, outputs['X'], Y)\n",
    "helper_module_alias": "import helpers as h\n\n"
    "def backward(params, outputs, Y):\n    return h._autograd_grads(params, outputs['X'], Y)\n",
}
# what each attack's message names
FOUND = {
    "gradients_when_the_reply_is_read": "autograd recorded a graph",
    "saved_reference": "autograd recorded a graph",
    "forward_mode_ad": "forward-mode AD",
    "thread_at_import": "another thread",
    "thread_during_call": "the call started a thread",
    "fork_at_import": "another process",
    "python_during_call": "the call started a process",
    "helper_from_import": "helpers.py line",
    "helper_module_alias": "helpers.py line",
}


def _graded(tmp_path, grade_json, source, extra_files=()):
    sub = submission(tmp_path, source)
    for name, text in extra_files:
        (sub / A1 / name).write_text(text)
    checks = ("forward", "backward", "backward_batch_mean")
    return by_name(grade_json(sub, "a1", "quick", *(a for c in checks for a in ("--check", c))))


def _earns_nothing_by_hand(tests, found):
    for target in ("backward", "backward_batch_mean"):
        assert tests[target]["score"] == 0, (target, tests[target])
        assert "in an exercise done by hand" in tests[target]["message"], tests[target]
        assert found in tests[target]["message"], tests[target]
    assert tests["forward"]["score"] == tests["forward"]["max_score"], tests["forward"]  # only the by-hand checks


@pytest.mark.quick
@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_autograd_beside_the_call_earns_nothing(name, tmp_path, grade_json):
    _earns_nothing_by_hand(_graded(tmp_path, grade_json, ATTACKS[name]), FOUND[name])


@pytest.mark.quick
@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(HELPER_ATTACKS))
def test_autograd_in_a_helper_module_earns_nothing(name, tmp_path, grade_json):
    source = SOLUTION + "\n" + HELPER_ATTACKS[name]
    tests = _graded(tmp_path, grade_json, source, [("helpers.py", HELPERS)])
    _earns_nothing_by_hand(tests, FOUND[name])


@pytest.mark.quick
@pytest.mark.heavy
def test_reference_keeps_its_by_hand_points(grade_json):
    """No false alarm from torch's own threads or the kit's code: the reference earns every by-hand check."""
    for assignment, checks in (
        ("a1", ("backward", "backward_batch_mean", "sgd")),
        ("a4", ("backward", "backward_Sigma", "fit_manual", "fits_agree")),
    ):
        report = grade_json(ROOT / "solutions", assignment, "quick", *(a for c in checks for a in ("--check", c)))
        tests = by_name(report)
        assert set(tests) == set(checks), tests
        for name, test in tests.items():
            assert test["score"] == test["max_score"] > 0, (assignment, name, json.dumps(test))


@pytest.mark.train
@pytest.mark.heavy
def test_reference_keeps_the_manual_training(grade_json):
    """The manual circles training runs entirely by hand (the kit's loop around the student's functions)."""
    tests = by_name(grade_json(ROOT / "solutions", "a1", "train", "--check", "train_circles_manual"))
    assert tests["train_circles_manual"]["score"] == tests["train_circles_manual"]["max_score"] > 0, tests
