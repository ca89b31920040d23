"""grade-many on dask.distributed (issue 32, item 2; autograder/engine.py): the same gradebook as the local pool,
a worker killed mid-task costs nothing, and SLURM job scripts sized from the measured cost of a submission.
On a4's quick tier, whose checks take seconds. Skipped where the instructor's extra (dask) is not installed."""

import csv
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask.distributed is the instructor's extra, not installed: pip install -e '.[instructor]'",
)

ROOT = Path(__file__).resolve().parents[1]
A = "a4_gaussian_fit"
CLASS = {"alice": "solutions", "bob": "assignments", "carol": "solutions"}


def make_class(folder: Path) -> Path:
    """The reference for alice and carol, the untouched stubs for bob."""
    for student, source in CLASS.items():
        shutil.copytree(
            ROOT / source / A, folder / student / A, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__")
        )
    return folder


def full_points() -> float:
    from autograder.runner import select

    return sum(c.points for c in select(A, "quick"))


def grade_many(folder: Path, out: Path, *more):
    cmd = [sys.executable, "-m", "autograder", "grade-many", str(folder), "--assignment", "a4", "--tier", "quick"]
    proc = subprocess.run(
        [*cmd, "--jobs", "2", "--output-dir", str(out), *more], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@needs_dask
@pytest.mark.quick
@pytest.mark.heavy
def test_dask_gives_the_local_gradebook(tmp_path):
    folder = make_class(tmp_path / "class")
    grade_many(folder, tmp_path / "local")
    on_dask = grade_many(folder, tmp_path / "dask", "--executor", "dask")
    assert "--executor dask" in on_dask.stdout
    local = (tmp_path / "local" / "gradebook.csv").read_text()
    assert (tmp_path / "dask" / "gradebook.csv").read_text() == local
    rows = {r["student"]: r for r in csv.DictReader(local.splitlines())}
    assert float(rows["alice"]["total"]) == float(rows["carol"]["total"]) == full_points() > 0
    assert float(rows["bob"]["total"]) == 0


def _kill_a_worker_mid_task(client, killed: dict, stop: threading.Event) -> None:
    """SIGKILL the first worker seen running a task for a second (the task still running then), recording its
    pid and the key it ran."""
    seen = {}  # (worker, key) -> first seen running
    while not stop.is_set():
        running = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
        for worker, keys in running.items():
            for key in keys:
                since = seen.setdefault((worker, key), time.monotonic())
                if time.monotonic() - since >= 1.0:
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, key=key, worker=worker)
                    return
        time.sleep(0.1)


@needs_dask
@pytest.mark.quick
@pytest.mark.heavy
def test_a_killed_worker_costs_nothing(tmp_path):
    import logging

    from distributed import Client, LocalCluster

    from autograder.runner import grade_many as run
    from autograder.runner import select
    from autograder.store import FILE, Store

    folder = make_class(tmp_path / "class")
    store = Store(tmp_path / FILE)
    arrivals = []
    killed, stop = {}, threading.Event()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None, silence_logs=logging.CRITICAL
    )
    with cluster, Client(cluster) as client:
        killer = threading.Thread(target=_kill_a_worker_mid_task, args=(client, killed, stop), daemon=True)
        killer.start()
        try:
            graded = run(
                folder,
                [A],
                tier="quick",
                jobs=2,
                progress=lambda student, results, fresh: arrivals.append(student),
                store=store,
                executor="dask",
                scheduler=cluster.scheduler_address,
            )
        finally:
            stop.set()
            killer.join(timeout=30)
    try:
        rows = store.rows()
    finally:
        store.close()
    assert killed, "no worker was seen running a task for a second: nothing was killed"
    assert killed["key"].startswith("grade-")
    assert sorted(arrivals) == sorted(CLASS) == sorted(graded)  # each student arrived, and was stored, once
    checks = {c.name for c in select(A, "quick")}
    per_student = {}
    for row in rows:
        per_student.setdefault(row["student"], []).append(row)
    assert sorted(per_student) == sorted(CLASS)
    for student, source in CLASS.items():
        assert sorted(r["check_name"] for r in per_student[student]) == sorted(checks)
        got = sum(r["points"] for r in per_student[student])
        assert got == (full_points() if source == "solutions" else 0), (student, per_student[student])
        assert not [r for r in per_student[student] if r["status"] == "error"], student


@needs_dask
@pytest.mark.quick
def test_the_slurm_job_script_is_sized_from_the_measured_cost():
    pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is the instructor's extra")
    from autograder.engine import measured_cost, slurm_cluster, slurm_job_size

    cost = measured_cost("train")
    assert cost["seconds"] > 0 and cost["peak_mb"] > 0 and cost["cores"] >= 1
    size = slurm_job_size(**cost, submissions=300, jobs=10, processes=2)
    # each worker: its share of the class (and one more) at the measured time, within the walltime
    hours, minutes, seconds = map(int, size["walltime"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds >= (300 // 20 + 1) * cost["seconds"]
    assert int(size["memory"].removesuffix("GB")) * 1024 >= 2 * cost["peak_mb"]
    with slurm_cluster(size, gpu=False, queue="gpu-or-not", account="course") as cluster:
        script = cluster.job_script()
    assert f"#SBATCH --cpus-per-task={2 * cost['cores']}" in script
    assert f"#SBATCH --mem={size['memory'].removesuffix('B')}" in script
    assert f"#SBATCH -t {size['walltime']}" in script
    assert "#SBATCH -p gpu-or-not" in script and "#SBATCH -A course" in script
    assert f"export OMP_NUM_THREADS={cost['cores']}" in script and "--nthreads 1" in script
    assert "--gres" not in script and "GPU=1" not in script

    gpu = slurm_job_size(**cost, submissions=300, jobs=10)
    with slurm_cluster(gpu, gpu=True) as cluster:
        script = cluster.job_script()
    assert "#SBATCH --gres=gpu:1" in script and "--resources GPU=1" in script


@pytest.mark.quick
def test_without_dask_the_dask_executor_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from autograder.__main__ import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: its import fails
    (tmp_path / "class" / "alice" / A).mkdir(parents=True)
    args = ["grade-many", str(tmp_path / "class"), "--assignment", "a4", "--tier", "quick", "--executor", "dask"]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: --executor dask needs dask.distributed" in err and "[instructor]" in err and "Traceback" not in err
    assert main([*args[:-2], "--scheduler", "tcp://localhost:8786", "--output-dir", str(tmp_path / "out")]) == 2
    assert "--scheduler and --gpu go with --executor dask" in capsys.readouterr().err
    assert main([*args, "--gpu", "--output-dir", str(tmp_path / "out")]) == 2
    assert "--gpu needs --scheduler" in capsys.readouterr().err


@needs_dask
@pytest.mark.quick
def test_the_bench_times_both_executors_on_the_same_class(tmp_path, monkeypatch):
    from autograder.tools import bench

    folder = tmp_path / "solutions"
    (folder / A).mkdir(parents=True)
    (folder / A / "gaussian_fit.py").write_text("x = 1\n")
    calls = []

    def fake_run(cmd, **kw):
        if "grade-many" in cmd:  # (the other: the untimed warm-up pass)
            calls.append(
                (cmd[cmd.index("grade-many") + 1], cmd[cmd.index("--executor") + 1], cmd[cmd.index("--jobs") + 1])
            )
        return subprocess.CompletedProcess(cmd, 0, "", "")

    # local, dask, local, dask: each executor keeps its fastest run
    clock = iter([0.0, 40.0, 0.0, 44.0, 0.0, 42.0, 0.0, 41.0])
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    result = bench.engine_overhead(folder, copies=2)
    assert [c[1] for c in calls] == ["local", "dask", "local", "dask"]
    assert len({c[0] for c in calls}) == 1 and {c[2] for c in calls} == {str(os.cpu_count())}
    assert result["local"]["seconds"] == 40.0 and result["dask"]["seconds"] == 41.0
    assert result["overhead_pct"] == pytest.approx(2.5)
    assert "dask's overhead +2.5 %" in bench.render_overhead(result)
