"""grade-many on dask.distributed (DESIGN.md, decision 13): a local cluster, a running scheduler, or SLURM jobs.

One task per submission. A worker grades it exactly as the local process pool does (runner._grade_student: its
own judge and sandbox) and sends back only the CheckResult list; the driver writes the store as results arrive
(runner.grade_many). dask reruns the task of a worker lost mid-task on another one, and as_completed yields each
future once, so a submission is stored once.

dask, distributed and dask-jobqueue are the instructor's extra (pyproject.toml): nothing here imports them
before a command asks for the dask executor, and a missing one is a message, not a traceback.

    python -m autograder.engine slurm SUBMISSIONS [--jobs J] [--tier T] [--gpu] [--dry-run]

sizes SLURM jobs from the measured cost of a submission (docs/data, `make bench`), starts them and prints the
scheduler's address for `grade-many --executor dask --scheduler ADDRESS`; --dry-run prints the job script only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "data"
INSTALL = "pip install -e '.[instructor]' -c constraints.txt"
# A SLURM job that ends mid-task loses that submission to a rerun, and cluster nodes are often slower or busier
# than the machine of the measurement: the walltime allows this factor over the measured time.
TIME_MARGIN = 2.0
# The measured peak is one run's; trainings vary a little between seeds and machines, and SLURM kills a job
# that exceeds --mem outright.
MEMORY_MARGIN = 1.5


# What dask's nanny puts in its workers' environment (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ...)
NANNY_ENVIRON = "distributed.nanny.pre-spawn-environ"


class EngineError(RuntimeError):
    """What a user is told (no traceback): dask missing, a scheduler that does not answer, no measurement."""


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise EngineError(
            f"--executor dask needs dask.distributed ({err.name} is not installed); the instructor's install has it: "
            f"{INSTALL}"
        ) from None
    return distributed


@contextlib.contextmanager
def connect(jobs: int, scheduler: str | None = None, start_method: str = "spawn"):
    """A dask client: of the running cluster at `scheduler`, or of a local cluster of `jobs` worker processes
    with one thread each (one submission at a time per worker, as the local pool grades them), started by
    `start_method` (the local pool's own, runner._judge_context)."""
    distributed = _distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as err:  # (ValueError: not an address)
            raise EngineError(f"no dask scheduler answers at {scheduler} ({err})") from None
        with client:
            yield client
        return
    import dask

    # the worker processes start as the local pool's judges do (forkserver where there is one): dask's default,
    # spawn, pays a fresh interpreter per worker, twice the cluster's start and stop on 2 cores (make bench)
    method = start_method
    # nor do they get the environment dask's nanny gives its workers (NANNY_ENVIRON), which the local pool's judges
    # do not have either: the kit sets each check's threads itself
    with dask.config.set({"distributed.worker.multiprocessing-method": method, NANNY_ENVIRON: {}}):
        yield from _local_cluster(distributed, jobs)


def _local_cluster(distributed, jobs: int):
    try:
        cluster = distributed.LocalCluster(
            n_workers=max(1, jobs),
            threads_per_worker=1,
            processes=True,
            # the sandbox limits each check's memory itself; dask's own limit would kill a worker whose judge holds
            # a training's oracle
            memory_limit=0,
            dashboard_address=None,  # no port to collide with another grader's; a running cluster has its own
            silence_logs=logging.ERROR,
        )
    except Exception as err:  # no worker process started (no free port, a broken install, ...)
        raise EngineError(f"the local dask cluster did not start ({type(err).__name__}: {err})") from None
    with cluster, distributed.Client(cluster) as client:
        yield client


def grade_on_dask(
    grade_one, failed, plan, assignments, tier, jobs, threads, kwargs, scheduler=None, resources=None, start="spawn"
):
    """Yield ((path, only, hashes), results) for each item of `plan` (runner.grade_many's), as workers finish
    them. The runner hands in what it grades one submission with (runner._grade_student), the result of a grading
    that failed (runner.grader_error) and how its pool starts processes (`start`): it imports this module.
    threads None: each worker uses its machine's cores (or its OMP_NUM_THREADS). resources: what each task
    needs of a worker ({"GPU": 1}: only workers started with --resources GPU=1 take it)."""
    distributed = _distributed()
    if not plan:  # every submission unchanged since stored: no cluster to start
        return
    # a running scheduler may serve other graders: keys of this run's own, or dask would share their results
    run = uuid.uuid4().hex[:12]
    with connect(jobs, scheduler, start) as client:
        futures = {
            client.submit(
                grade_one,
                str(path),
                assignments,
                tier,
                threads,
                kwargs,
                only,
                key=f"grade-{path.name}-{run}-{i}",
                resources=resources,
                pure=False,
            ): (path, only, hashes)
            for i, (path, only, hashes) in enumerate(plan)
        }
        for future in distributed.as_completed(futures):
            try:
                _, results = future.result()
            except Exception as err:  # its workers died too often (KilledWorker), ...: a result, and the others go on
                results = [failed(a, f"the dask task failed ({type(err).__name__}: {err})") for a in assignments]
            yield futures[future], results


# ---------------------------------------------------------------- SLURM through dask-jobqueue
def measured_cost(tier: str = "train", data: Path = DATA) -> dict:
    """One submission of every assignment at `tier`, from the newest grading-cost record of docs/data (written
    by `python -m autograder.tools.bench --grading-cost`): seconds (summed), peak_mb (the largest), cores (the machine's)."""
    records = []
    for path in sorted(Path(data).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "grading-cost":
            for result in record.get("results", []):
                rows = [r for r in result.get("grading_cost") or [] if r.get("tier") == tier]
                if rows:
                    records.append((record.get("date", ""), path.name, result, rows))
    if not records:
        raise EngineError(
            f"no grading-cost measurement of the {tier} tier in {data}: run python -m autograder.tools.bench --grading-cost"
        )
    date, name, result, rows = max(records, key=lambda r: (r[0], r[1]))
    return {
        "seconds": sum(r["seconds"] for r in rows),
        "peak_mb": max(r["peak_mb"] for r in rows),
        "cores": int(result.get("cores") or 1),
        "source": name,
    }


def slurm_job_size(
    seconds: float, peak_mb: float, cores: int, submissions: int, jobs: int = 1, processes: int = 1, **_
) -> dict:
    """What each of `jobs` SLURM jobs asks for to grade `submissions`, from the measured cost of one (its
    `seconds` and `peak_mb` on `cores` cores): `processes` dask workers per job, one submission at a time each
    with the measured cores; the walltime covers its share of the class plus one more submission (a worker's
    first grading pays for cold caches), with TIME_MARGIN; memory the measured peak per worker, with
    MEMORY_MARGIN. Keys as dask_jobqueue.SLURMCluster takes them, and threads (each submission's torch threads)."""
    per_worker = math.ceil(submissions / max(1, jobs * processes)) + 1
    walltime = math.ceil(per_worker * seconds * TIME_MARGIN)
    return {
        "cores": processes,  # dask threads: one task per worker
        "processes": processes,
        "job_cpu": processes * cores,  # what SLURM reserves: the measured cores for each worker's submission
        "memory": f"{math.ceil(processes * peak_mb * MEMORY_MARGIN / 1024)}GB",
        "walltime": f"{walltime // 3600:02d}:{walltime % 3600 // 60:02d}:{walltime % 60:02d}",
        "threads": cores,
    }


def slurm_cluster(size: dict, gpu: bool = False, **options):
    """A dask_jobqueue.SLURMCluster with jobs of `size` (slurm_job_size). gpu: each job asks SLURM for one GPU and
    its worker offers it as the dask resource GPU=1, which the tasks of grade-many --gpu ask for (one worker per
    job then: two workers would share the job's GPU). options: queue, account, ... as SLURMCluster takes them."""
    _distributed()
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as err:
        raise EngineError(f"a SLURM cluster needs dask-jobqueue ({err.name} is not installed): {INSTALL}") from None
    if gpu and size["processes"] != 1:
        raise EngineError("GPU jobs run one worker each (--processes 1): workers of one job would share its GPU")
    return SLURMCluster(
        cores=size["cores"],
        processes=size["processes"],
        job_cpu=size["job_cpu"],
        memory=size["memory"],
        walltime=size["walltime"],
        # each submission's torch threads: the cores SLURM reserved for its worker
        # (set in the job's environment, it also wins over the OMP_NUM_THREADS=1 of dask's nanny: NANNY_ENVIRON)
        job_script_prologue=[f"export OMP_NUM_THREADS={size['threads']}", *options.pop("job_script_prologue", [])],
        worker_extra_args=[*(["--resources", "GPU=1"] if gpu else []), *options.pop("worker_extra_args", [])],
        job_extra_directives=[*(["--gres=gpu:1"] if gpu else []), *options.pop("job_extra_directives", [])],
        **options,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.engine", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("slurm", help="start SLURM jobs of dask workers sized for a class; print the scheduler")
    s.add_argument("submissions", type=int, help="how many submissions the class has")
    s.add_argument("--jobs", type=int, default=1, help="SLURM jobs (default 1)")
    s.add_argument("--processes", type=int, default=1, help="dask workers per job (default 1)")
    s.add_argument("--tier", default="train", help="the tier graded, whose measured cost sizes the jobs")
    s.add_argument("--gpu", action="store_true", help="one GPU per job, offered as the dask resource GPU=1")
    s.add_argument("--queue", help="the SLURM partition")
    s.add_argument("--account", help="the SLURM account")
    s.add_argument("--dry-run", action="store_true", help="print the job script and start nothing")
    args = parser.parse_args(argv)
    try:
        cost = measured_cost(args.tier)
        size = slurm_job_size(**cost, submissions=args.submissions, jobs=args.jobs, processes=args.processes)
        options = {k: v for k, v in (("queue", args.queue), ("account", args.account)) if v}
        cluster = slurm_cluster(size, gpu=args.gpu, **options)
    except EngineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with cluster:
        print(cluster.job_script())
        if args.dry_run:
            return 0
        cluster.scale(jobs=args.jobs)
        print(
            f"scheduler at {cluster.scheduler_address}: in another shell, python -m autograder grade-many DIR "
            f"--executor dask --scheduler {cluster.scheduler_address}{' --gpu' if args.gpu else ''} "
            "(Ctrl-C here ends the jobs)",
            file=sys.stderr,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
