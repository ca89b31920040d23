"""A skilled student's processes and links (issue 27): what outlives a check, memory spread over many processes,
links in a submission, the network at the `user` level. Graded through the real CLI where the CLI can play the
attack, at each isolation level the attack applies to.

The `user` level needs root (the judge drops the sandbox to an unprivileged uid); on this project's machines the
interpreter lives in root's home (pyenv under /root, mode 0700), which the sandbox user cannot run: the
situation of Gradescope's images, where a helper process run as the sandbox user could not kill anything.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from test_attacks import A1, SOLUTION, grader_side_server, submission

ROOT = Path(__file__).resolve().parent.parent

LEVELS = ("bwrap", "user", "none")


def at(level):
    """The CLI's options for `level`; skips where this machine cannot give it."""
    from autograder.sandbox.client import available_level

    if available_level(level) != level:
        pytest.skip(f"the {level} level is not available here")
    return ("--sandbox", level)


def by_name(report):
    return {t["name"].split("/", 1)[1]: t for t in report["tests"]}


def survivors(marker):
    """Processes still running (not zombies) whose command line holds `marker`."""
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


# ---------------------------------------------------------------- links (class 5)
@pytest.mark.quick
@pytest.mark.parametrize("level", LEVELS)
def test_a_link_to_a_root_only_file_is_refused(level, tmp_path, grade_json):
    """A submission holding a link to a file only root reads: at the `user` level the root judge's copy of the
    submission used to follow it and hand the sandbox a readable copy. Every level refuses the link and says
    which one."""
    secret = tmp_path / "root_only.txt"
    secret.write_text(f"TOPSECRET-{uuid.uuid4().hex}")
    secret.chmod(0o600)
    source = SOLUTION + textwrap.dedent("""
        from pathlib import Path as _P
        for _name in ("notes.txt", "reference.py"):
            try:
                print("READ", _name, (_P(__file__).parent / _name).read_text()[:200])
            except OSError as err:
                print("not readable:", _name, err)
    """)
    sub = submission(tmp_path, source)
    (sub / A1 / "notes.txt").symlink_to(secret)
    (sub / A1 / "reference.py").symlink_to(ROOT / "solutions" / A1 / "mlp.py")
    report = grade_json(sub, "a1", "quick", "--check", "forward", *at(level))
    text = json.dumps(report)
    assert secret.read_text() not in text and "BEGIN SOLUTION" not in text and "READ" not in text
    forward = by_name(report)["forward"]
    assert forward["score"] == 0
    assert "link" in forward["message"] and ("notes.txt" in forward["message"] or "reference.py" in forward["message"])


@pytest.mark.quick
def test_a_hard_link_to_another_users_file_is_refused(tmp_path):
    """A hard link (made on a grading machine the student has an account on) to a file of another owner: the
    `user` level's copy refuses it as it refuses a symbolic link; the student's own files copy as before."""
    from autograder.api import SubmissionError
    from autograder.sandbox.client import copy_submission

    if os.geteuid() != 0:
        pytest.skip("making a file of another owner needs root")
    sub = tmp_path / "sub" / A1
    sub.mkdir(parents=True)
    (sub / "mlp.py").write_text("x = 1\n")
    os.chown(tmp_path / "sub", 1000, 1000)
    secret = tmp_path / "root_only.txt"
    secret.write_text("TOPSECRET")
    secret.chmod(0o600)
    os.link(secret, sub / "notes.txt")
    with pytest.raises(SubmissionError, match="notes.txt"):
        copy_submission(tmp_path / "sub", tmp_path / "copy")
    (sub / "notes.txt").unlink()
    copy_submission(tmp_path / "sub", tmp_path / "copy2")
    assert (tmp_path / "copy2" / A1 / "mlp.py").read_text() == "x = 1\n"


# ---------------------------------------------------------------- what outlives a check (class 6)
@pytest.mark.quick
@pytest.mark.parametrize("level", LEVELS)
def test_nothing_outlives_a_timed_out_check(level, tmp_path, grade_json):
    """A check that times out after starting a new session, a process group of its own and a double fork: the
    judge kills the whole sandbox, and with it everything the check started (by the sandbox's process tree, and
    at the `user` level by its uid, from the root judge itself)."""
    marker = f"120.{uuid.uuid4().int % 10**12:012d}"  # `sleep` runs at every level (the sandbox user may not
    # run the grader's python); its argument marks it
    source = SOLUTION + textwrap.dedent(f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        subprocess.Popen(["sleep", "{marker}"], process_group=0)
        if os.fork() == 0:
            if os.fork() == 0:
                os.setsid()
                os.execvp("sleep", ["sleep", "{marker}"])
            os._exit(0)
        while True:
            pass
    """)
    sub = submission(tmp_path, source)
    report = grade_json(sub, "a1", "quick", "--check", "forward", "--time-scale", "0.3", *at(level))
    assert by_name(report)["forward"]["kit_status"] == "timeout"
    time.sleep(0.5)
    assert survivors(marker) == []


@pytest.mark.quick
def test_a_stray_process_of_the_sandbox_user_is_killed_before_grading():
    """A process of the sandbox's uid left from an earlier grading (one that outlived it) would share the next
    submission's user: the judge kills every process of the uid before it starts a sandbox with it. (A slot of its
    own: the judge takes the first uid from SANDBOX_UID + slot that no other sandbox on the machine holds.)"""
    from autograder.sandbox import client as judge

    if judge.available_level("user") != "user":
        pytest.skip("the user level needs root")
    uid = judge.SANDBOX_UID + 500
    stray = subprocess.Popen(["sleep", "120"], user=uid, group=uid, extra_groups=[], cwd="/")
    sandbox = judge.Sandbox(ROOT / "solutions", level="user", slot=500)
    try:
        sandbox.start()
        assert sandbox.uid == uid and stray.wait(5) == -signal.SIGKILL
    finally:
        sandbox.close()
        stray.kill()
        stray.wait()
    assert judge._processes_of(uid) == []


@pytest.mark.quick
def test_a_sandbox_user_whose_processes_cannot_be_killed_is_not_used(monkeypatch):
    """When processes of the uid cannot be killed, the sandbox does not start (a grader error), rather than run a
    submission beside them."""
    from autograder.sandbox import client as judge

    if os.geteuid() != 0:
        pytest.skip("the user level needs root")
    monkeypatch.setattr(judge, "_kill_all_of", lambda uid: False)
    sandbox = judge.Sandbox(ROOT / "solutions", level="user")
    with pytest.raises(RuntimeError, match="could not be killed"):
        sandbox.start()
    sandbox.close()


# ---------------------------------------------------------------- memory per check (class 8b)
@pytest.mark.quick
@pytest.mark.heavy
@pytest.mark.parametrize("level", LEVELS)
def test_memory_is_limited_per_check_not_per_process(level, tmp_path):
    """Four processes, each well under the per-process limit, together over the check's: the check is killed and
    the student told why. Two of them, together under it, pass: the torch they share with the sandbox's zygote
    is not counted once per process."""
    from autograder.sandbox.client import available_level
    from autograder.runner import grade

    if available_level(level) != level:
        pytest.skip(f"the {level} level is not available here")

    def forking(processes, megabytes):
        return SOLUTION + textwrap.dedent(f"""
            import os, time
            for _ in range({processes}):
                if os.fork() == 0:
                    _block = b"\\1" * ({megabytes} << 20)
                    time.sleep(60)
                    os._exit(0)
            time.sleep(6)
        """)

    for processes, megabytes, status in ((4, 150, "error"), (2, 100, "passed")):
        sub = submission(tmp_path / f"{processes}x{megabytes}", forking(processes, megabytes))
        [res] = grade(sub, [A1], tier="quick", only=[f"{A1}/forward"], level=level, memory_mb=300)
        assert res.status == status, res
        if status == "error":
            assert res.message == "ran out of memory (the check's memory limit, all its processes together)"


# ---------------------------------------------------------------- the network at the user level
@pytest.mark.quick
@pytest.mark.parametrize("level", ["user", "none"])
def test_no_network_where_the_judge_is_root(level, tmp_path, grade_json):
    """As root, the judge puts the sandbox in a network namespace of its own (where the kernel lets it: the
    isolation text says which); a server on the grader's machine stays out of reach."""
    from autograder.sandbox.client import network_isolation

    at(level)
    if os.geteuid() != 0 or not network_isolation():
        pytest.skip("a network namespace needs root with CAP_SYS_ADMIN")
    with grader_side_server() as (port, got):
        source = SOLUTION + textwrap.dedent(f"""
            import socket
            try:
                _s = socket.socket()
                _s.settimeout(2)
                _s.connect((b"127.0.0.1", {port}))  # a bytes host: no idna codec to import
                _s.sendall(b"reached the grader's machine")
                print("NETWORK OPEN")
            except OSError as err:
                print("no network:", err)
        """)
        report = grade_json(submission(tmp_path, source), "a1", "quick", "--check", "forward", "--sandbox", level)
    assert got == [] and "NETWORK OPEN" not in json.dumps(report)
    assert "no network" in report["output"]


@pytest.mark.quick
def test_user_level_refuses_an_interpreter_the_sandbox_user_cannot_read(request, monkeypatch, run_grader):
    """An interpreter in a folder only root can enter (pyenv or conda under /root): the "user" level refuses it
    up front, naming the folder and the way out, instead of failing a check later on a module imported lazily
    (the reference lost train_mnist_mlp to `unknown encoding: cp437` that way)."""
    if os.geteuid() != 0:
        pytest.skip("the user level needs root")
    locked = Path(tempfile.mkdtemp(prefix="kit-locked-"))  # 0700 under /tmp (tmp_path's own parents are 0700 too)
    request.addfinalizer(lambda: shutil.rmtree(locked, ignore_errors=True))
    python = locked / "python3"
    shutil.copy2(os.environ.get("KIT_SANDBOX_PYTHON") or sys.executable, python)
    monkeypatch.setenv("KIT_SANDBOX_PYTHON", str(python))
    proc = run_grader("grade", "--submission", "solutions", "--assignment", "a1", "--tier", "quick",
                      "--check", "forward", "--sandbox", "user", "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [test] = json.loads(proc.stdout)["tests"]
    assert test["output"].startswith("grader error") and f"cannot read {locked}" in test["output"], test["output"]
    assert "KIT_SANDBOX_PYTHON" in test["output"]
