"""make bench: time-to-accuracy and throughput of every model of the kit, on CPU and on CUDA when present.

Prints one table and writes the same figures to runs/bench/bench.json. Short runs by default (a few minutes on
2 CPU cores); --full trains every model to its accuracy target (long on CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from autograder.assignments import ASSIGNMENTS
from autograder.sandbox.client import Sandbox
from data_scripts import make_circles
from kit import a1, a2, a3
from kit.cli import add_common_options, entry_point
from kit.loops import mixed_precision, pick_device
from kit.recipes import percent, recipe
from kit.student import load_student_modules

ROOT = Path(__file__).resolve().parents[2]
# each row's recipe (kit/recipes.py): its target is the course's
ROWS = {
    "circles MLP": "a1.circles",
    "MNIST MLP": "a1.mnist",
    "course CNN (CIFAR-10)": "a2.full_improved",
    "ViT (MNIST)": "a3.fast",
    "ViT dim 64 (MNIST)": "a3.full_mnist",
}
TARGETS = {row: recipe(name).target for row, name in ROWS.items()}


def _modules(folder: Path, names):
    """The modules `names` of `folder`, in that order (loaded from that folder: see kit.student)."""
    return list(load_student_modules(folder, names).values())


TRIALS = 3  # shared 2-core VMs vary by up to 40 % from one second to the next: keep the best of a few trials


def matmul_flops(device, n=2048, reps=10, dtype=torch.float32) -> float:
    """Measured dense matmul FLOP/s in `dtype` (best of TRIALS): the machine's practical peak for the fraction."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    return 2 * n**3 * reps / _best_time(lambda: a @ b, device, reps)


def _best_time(fn, device, reps) -> float:
    """Shortest of TRIALS timings of `reps` calls of fn."""
    best = float("inf")
    for _ in range(TRIALS):
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_to(hist, target):
    for acc, sec in zip(hist.test_acc, hist.seconds):
        if acc >= target:
            return sec
    return None


def row(name, hist, n_train, target):
    epochs = len(hist.seconds)
    per_epoch = hist.seconds[-1] / epochs
    return {
        "model": name,
        "epochs": epochs,
        "s_per_epoch": per_epoch,
        "images_per_s": n_train / per_epoch,
        "test_acc": hist.test_acc[-1],
        "target": target,
        "time_to_target_s": time_to(hist, target),
        # per-epoch curve: on a shared VM a slow run shows whether one epoch stalled or all were slower
        "seconds": list(hist.seconds),
        "test_acc_curve": list(hist.test_acc),
    }


def cnn_step_flops(cnn, device, batch=128, precision="fp32"):
    """FLOPs of one training step of the course CNN (forward + backward, counted by torch) and its time (best of
    TRIALS loops of 10 steps)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = cnn.CourseCNN().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, 32, 32, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad()
        with mixed_precision(device, precision):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    for _ in range(3):
        step()
    return counter.get_total_flops(), _best_time(step, device, reps=10) / 10


def quick_tier_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--submission",
            "solutions",
            "--tier",
            "quick",
            "--quiet",
            "--output",
            os.devnull,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def _tree_pss_mb(pid: int) -> float:
    """Summed PSS (shared pages split among their users) of a process and all its descendants, in MB."""

    def tree(p):
        found = [p]
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                found += [c for child in (task / "children").read_text().split() for c in tree(int(child))]
            except OSError:
                pass
        return found

    total = 0.0
    for p in set(tree(pid)):
        try:
            total += (
                next(
                    int(line.split()[1])
                    for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
                    if line.startswith("Pss:")
                )
                / 1024
            )
        except (OSError, StopIteration):
            pass
    return total


def grading_cost(folder: Path, tiers=("quick", "train")) -> list[dict]:
    """What grading one submission costs a course: for each assignment and tier, the wall time of
    `python -m autograder grade` on `folder` and the peak memory of its process tree (judge, sandbox, check)."""

    rows = []
    for assignment in ASSIGNMENTS:
        for tier in tiers:
            out = Path(os.devnull)
            cmd = [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "--submission",
                str(folder),
                "--assignment",
                assignment,
                "--tier",
                tier,
                "--quiet",
                "--format",
                "json",
                "--output",
                str(out),
            ]
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            peak = 0.0
            while proc.poll() is None:
                peak = max(peak, _tree_pss_mb(proc.pid))
                time.sleep(0.2)
            summary = proc.stdout.read().strip()  # "29 / 29 points; report written to ..."
            rows.append(
                {
                    "assignment": assignment,
                    "tier": tier,
                    "seconds": time.perf_counter() - start,
                    "peak_mb": peak,
                    "points": summary.split(" points")[0],
                    "status": proc.returncode,
                }
            )
    return rows


def grading_throughput(
    folder: Path, jobs=None, copies: int = 4, tier: str = "quick", executors=("local",), trials: int = 1
) -> list[dict]:
    """Submissions per hour of `grade-many` on `copies` copies of `folder` (every assignment, `tier`) at each
    --jobs in `jobs` (default 1, 2 and twice the cores) and each --executor: what a class of N costs on this
    machine. trials > 1: the executors take turns, and each row keeps its fastest run (shared machines vary)."""
    import shutil
    import tempfile

    jobs = jobs or sorted({1, 2, 2 * (os.cpu_count() or 1)})
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grade-many-") as tmp:
        for i in range(copies):
            shutil.copytree(
                folder,
                Path(tmp) / "class" / f"student{i:02d}",
                ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", "runs"),
            )
        # one untimed pass first: the first grading of a machine pays for cold caches (compiled bytecode, the
        # torch libraries read from disk, the precision probe), which would otherwise all land on --jobs 1
        subprocess.run(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "--submission",
                str(folder),
                "--tier",
                tier,
                "--quiet",
                "--output",
                os.devnull,
            ],
            cwd=ROOT,
            capture_output=True,
        )
        for j in jobs:
            best = {}
            for trial in range(trials):
                for executor in executors:
                    out = Path(tmp) / f"grades-{j}-{executor}-{trial}"  # a fresh store: every submission graded
                    cmd = [sys.executable, "-m", "autograder", "grade-many", str(Path(tmp) / "class"), "--tier", tier]
                    cmd += ["--jobs", str(j), "--executor", executor, "--output-dir", str(out)]
                    start = time.perf_counter()
                    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                    seconds = time.perf_counter() - start
                    if executor not in best or (proc.returncode, seconds) < (
                        best[executor]["status"],
                        best[executor]["seconds"],
                    ):
                        best[executor] = {
                            "tier": tier,
                            "jobs": j,
                            "executor": executor,
                            "submissions": copies,
                            "seconds": seconds,
                            "per_hour": 3600 * copies / seconds,
                            "status": proc.returncode,
                        }
            rows += [best[e] for e in executors]
    return rows


def engine_overhead(folder: Path, copies: int = 4, tier: str = "quick") -> dict:
    """grade-many's --executor dask against --executor local on the same cores (--jobs: all of them) and the same
    submissions; overhead_pct: how much longer dask takes (the goal: at most 5 %). Without dask installed, None."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return None
    cores = os.cpu_count() or 1
    local, dask = grading_throughput(folder, [cores], copies, tier, executors=("local", "dask"), trials=2)
    return {"local": local, "dask": dask, "overhead_pct": 100 * (dask["seconds"] / local["seconds"] - 1)}


def render_overhead(result) -> str:
    if result is None:
        return "grade-many --executor dask: not measured (dask is not installed: pip install -e '.[instructor]')"
    local, dask = result["local"], result["dask"]
    failed = [f"{r['executor']} exited {r['status']}" for r in (local, dask) if r["status"]]
    return (
        f"grade-many --jobs {local['jobs']}, {local['submissions']} copies of the reference, {local['tier']} tier: "
        f"--executor local {local['seconds']:.1f} s, --executor dask {dask['seconds']:.1f} s; dask's overhead "
        f"{result['overhead_pct']:+.1f} % (goal: at most 5 %)" + (f" ({', '.join(failed)})" if failed else "")
    )


def render_throughput(rows) -> str:
    lines = [f"grade-many, {rows[0]['submissions']} copies of the reference, {rows[0]['tier']} tier, all assignments"]
    lines += [
        f"  --jobs {r['jobs']}{'' if r.get('executor', 'local') == 'local' else ' --executor ' + r['executor']}: "
        f"{r['seconds']:.0f} s, {r['per_hour']:.0f} submissions per hour"
        + ("" if r["status"] == 0 else f" (exit {r['status']})")
        for r in rows
    ]
    return "\n".join(lines)


def render_cost(rows) -> str:
    lines = [f"{'assignment':<18}{'tier':<7}{'seconds':>9}{'peak MB':>9}  points"]
    lines += [
        f"{r['assignment']:<18}{r['tier']:<7}{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}  {r['points']}" for r in rows
    ]
    return "\n".join(lines)


def sandbox_overhead(folder: Path, checks: int = 40) -> dict:
    """What the judge/sandbox split costs: starting a submission's sandbox (isolation, importing torch), and one
    check's round trip (fork a child, import a student module, one call with a small tensor, end the child)."""

    sandbox = Sandbox(folder)
    start = time.perf_counter()
    sandbox.start()
    started = time.perf_counter() - start
    X = torch.randn(8, 2)
    params = {"Wh": torch.randn(3, 2), "bh": torch.randn(3), "Wy": torch.randn(2, 3), "by": torch.randn(2)}
    times = []
    try:
        for i in range(checks):
            t = time.perf_counter()
            session = sandbox.session(folder / "a1_intro_nn", seed=i, timeout=60)
            session.module("mlp").forward(params, X)
            session.finish()
            times.append(time.perf_counter() - t)
    finally:
        sandbox.close()
    times.sort()
    return {
        "level": sandbox.level,
        "start_s": started,
        "check_median_s": times[len(times) // 2],
        "check_max_s": times[-1],
        "checks": checks,
    }


def bench(device_name: str, full: bool, folder: Path, seed: int = 0) -> dict:

    device = torch.device(device_name)
    rows = []
    (mlp,) = _modules(folder / "a1_intro_nn", ["mlp"])
    data = make_circles()
    _, hist = a1.train_manual(mlp, data, seed=seed, **recipe(ROWS["circles MLP"]).settings)
    rows.append(row("circles MLP", hist, len(data.Xtrain), TARGETS["circles MLP"]))

    (mnist_mlp,) = _modules(folder / "a1_intro_nn", ["mnist_mlp"])
    _, hist = a1.train_mnist(mnist_mlp, device=device_name, seed=seed, **recipe(ROWS["MNIST MLP"]).settings)
    rows.append(row("MNIST MLP", hist, 60000, TARGETS["MNIST MLP"]))

    cnn, training = _modules(folder / "a2_cnn", ["cnn", "training"])
    if full:  # the full tier's recipe
        _, hist = a2.train(cnn, training, device=device_name, seed=seed, **a2.FULL_IMPROVED)
        n = 50000
    else:  # one epoch on a 10k subset: throughput only
        _, hist = a2.train(
            cnn,
            training,
            device=device_name,
            seed=seed,
            **{**a2.FULL_IMPROVED, "epochs": 1},
            limit_train=10000,
            limit_test=2000,
        )
        n = 10000
    rows.append(row("course CNN (CIFAR-10)", hist, n, TARGETS["course CNN (CIFAR-10)"]))
    speed = hist.speed  # what that training chose (kit.a2.train times one step of each precision and layout)

    (vit,) = _modules(folder / "a3_transformers", ["vit"])
    # the course ViT with the fast recipe is short enough to train to its target in every run
    _, hist = a3.train_vit(vit, device=device_name, seed=seed, **a3.FAST_TRAINING)
    rows.append(row("ViT (MNIST)", hist, 60000, TARGETS["ViT (MNIST)"]))
    if full:  # the full tier's bigger ViT
        _, hist = a3.train_vit(vit, device=device_name, seed=seed, **a3.FULL_TRAINING["mnist"])
        rows.append(row("ViT dim 64 (MNIST)", hist, 60000, TARGETS["ViT dim 64 (MNIST)"]))

    steps = {}
    for precision in ("fp32", "bf16"):
        flops, seconds = cnn_step_flops(cnn, device, precision=precision)
        peak = matmul_flops(device, dtype=torch.float32 if precision == "fp32" else torch.bfloat16)
        steps[precision] = {
            "flops": flops,
            "seconds": seconds,
            "flop_per_s": flops / seconds,
            "matmul_flop_per_s": peak,
            "fraction_of_matmul": flops / seconds / peak,
        }
    return {
        "device": device_name if device.type == "cpu" else torch.cuda.get_device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "full": full,
        "precision": speed.get("precision", "fp32"),
        "models": rows,
        "cnn_step": steps,
        "speed_decision": speed,
    }


def speed_decision(result: dict) -> dict:
    """The speed decision a bench result records: 'speed_decision' (precision and layout, from 2026-12-03) or the
    older 'precision_decision' (precision alone, its step times as fp32_step_s / bf16_step_s)."""
    d = result.get("speed_decision") or result.get("precision_decision") or {}
    if d and "step_s" not in d and "fp32_step_s" in d:
        d = {**d, "step_s": {"fp32 channels_last": d["fp32_step_s"], "bf16 channels_last": d["bf16_step_s"]}}
    return d


def describe_decision(d: dict) -> str:
    """'bf16, channels_last (probe: one step 160 ms in bf16 channels_last, ...)' from a speed decision."""
    chosen = d["precision"] + (
        ", channels_last" if d.get("channels_last") else ", contiguous" if "channels_last" in d else ""
    )
    times = ", ".join(
        f"{s * 1e3:.0f} ms in {label}" for label, s in sorted(d.get("step_s", {}).items(), key=lambda kv: kv[1])
    )
    text = f"{chosen} ({d.get('why', '')}" + (f": one training step {times})" if times else ")")
    if "eval_batch_size" in d:
        text += f"; evaluation in batches of {d['eval_batch_size']} ({d.get('eval_why', '')})"
    return text


def render(result: dict) -> str:
    lines = [
        f"device: {result['device']} ({result['threads']} threads, torch {result['torch']}, CNN in "
        f"{result.get('precision', 'fp32')}, "
        f"{'full' if result['full'] else 'short'} runs)",
        f"{'model':<24}{'epochs':>7}{'s/epoch':>9}{'img/s':>9}{'test acc':>10}{'target':>8}{'t->target':>12}",
    ]
    for r in result["models"]:
        t = f"{r['time_to_target_s']:.1f} s" if r["time_to_target_s"] is not None else "not reached"
        target = percent(r["target"])
        lines.append(
            f"{r['model']:<24}{r['epochs']:>7}{r['s_per_epoch']:>9.2f}{r['images_per_s']:>9.0f}"
            f"{r['test_acc']:>10.2%}{target:>8}{t:>12}"
        )
    for precision, c in result["cnn_step"].items():
        lines.append(
            f"course CNN training step (batch 128, {precision}): {c['flops'] / 1e9:.2f} GFLOP in "
            f"{c['seconds'] * 1e3:.0f} ms = {c['flop_per_s'] / 1e9:.1f} GFLOP/s, {c['fraction_of_matmul']:.0%} "
            f"of measured dense {precision} matmul ({c['matmul_flop_per_s'] / 1e9:.1f} GFLOP/s)"
        )
    if "quick_tier_s" in result:
        lines.append(
            f"quick tier, every assignment (python -m autograder grade --tier quick): {result['quick_tier_s']:.1f} s"
        )
    decision = speed_decision(result)
    if decision:
        lines.append(f"speed switches (auto): {describe_decision(decision)}")
    if "grading_cost" in result:
        lines.append("grading one submission (python -m autograder grade, per assignment and tier):")
        lines.append(render_cost(result["grading_cost"]))
    if result.get("grading_throughput"):
        lines.append(render_throughput(result["grading_throughput"]))
    if "engine_overhead" in result:
        lines.append(render_overhead(result["engine_overhead"]))
    if "sandbox" in result:
        sb = result["sandbox"]
        lines.append(
            f"sandbox ({sb['level']}): start {sb['start_s']:.2f} s per submission; per check "
            f"{sb['check_median_s'] * 1e3:.0f} ms median, {sb['check_max_s'] * 1e3:.0f} ms max over "
            f"{sb['checks']} round trips (fork, import, one call, end)"
        )
    return "\n".join(lines)


@entry_point
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.tools.bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="train every model to its target (long on CPU)")
    add_common_options(
        parser,
        str(ROOT / "solutions"),
        "the code to time, one folder per assignment (a1_intro_nn, a2_cnn, ...)",
        device="all",
        more_devices=("all",),
        device_help="all (the default: cpu, then cuda when there is one), auto, cpu, cuda or cuda:N",
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench" / "bench.json"))
    parser.add_argument(
        "--grading-only",
        action="store_true",
        help="only the grader's figures: the sandbox's overhead and the quick tier's wall time",
    )
    parser.add_argument(
        "--grading-cost",
        action="store_true",
        help="only the time and peak memory of grading one submission, per assignment and tier",
    )
    parser.add_argument(
        "--grading-throughput",
        action="store_true",
        help="only grade-many's submissions per hour at --jobs 1, 2 and twice the cores",
    )
    parser.add_argument(
        "--engine-overhead",
        action="store_true",
        help="only grade-many's time with --executor dask against --executor local, on all the cores",
    )
    parser.add_argument(
        "--copies", type=int, default=4, help="submissions graded by --grading-throughput and --engine-overhead"
    )
    args = parser.parse_args(argv)
    if args.grading_cost or args.grading_throughput or args.engine_overhead:
        result = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
        if args.grading_cost:
            result["grading_cost"] = grading_cost(Path(args.folder).resolve())
            print(render_cost(result["grading_cost"]))
        if args.grading_throughput:
            result["grading_throughput"] = grading_throughput(Path(args.folder).resolve(), copies=args.copies)
            print(render_throughput(result["grading_throughput"]))
        if args.engine_overhead:
            result["engine_overhead"] = engine_overhead(Path(args.folder).resolve(), copies=args.copies)
            print(render_overhead(result["engine_overhead"]))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([result], indent=2))
        return 0
    if args.grading_only:
        result = {"sandbox": sandbox_overhead(Path(args.folder).resolve()), "quick_tier_s": quick_tier_seconds()}
        print(
            f"sandbox ({result['sandbox']['level']}): start {result['sandbox']['start_s']:.2f} s; per check "
            f"{result['sandbox']['check_median_s'] * 1e3:.0f} ms median; quick tier of every assignment "
            f"{result['quick_tier_s']:.1f} s"
        )
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([result], indent=2))
        return 0
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [str(pick_device(args.device))]
    results = []
    for dev in devices:
        result = bench(dev, args.full, Path(args.folder).resolve(), seed=args.seed)
        if dev == "cpu":
            result["quick_tier_s"] = quick_tier_seconds()
            result["sandbox"] = sandbox_overhead(Path(args.folder).resolve())
            result["grading_cost"] = grading_cost(Path(args.folder).resolve())
            result["grading_throughput"] = grading_throughput(Path(args.folder).resolve())
            result["engine_overhead"] = engine_overhead(Path(args.folder).resolve())
        print(render(result), flush=True)
        results.append(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
