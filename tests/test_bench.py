"""make bench's measuring pieces (the benchmark itself is a command, not a test: its figures go in the README)."""

import pytest
import torch

from autograder.tools import bench
from kit.loops import History

CPU = torch.device("cpu")


@pytest.mark.quick
def test_cnn_step_flops_match_the_layer_arithmetic():
    """Forward FLOPs of the course CNN per image (2 * multiply-adds): convolutions 4,915,200 + 26,214,400 +
    13,107,200, fully-connected 2,048,000 + 20,000. A training step is 3x the forward, less the input gradient
    of the first convolution, which nothing needs."""
    (cnn,) = bench._modules(bench.ROOT / "solutions" / "a2_cnn", ["cnn"])
    flops, seconds = bench.cnn_step_flops(cnn, CPU, batch=2)
    forward = 4_915_200 + 26_214_400 + 13_107_200 + 2_048_000 + 20_000
    assert flops == 2 * (3 * forward - 4_915_200)
    assert 0 < seconds < 5


@pytest.mark.quick
def test_time_to_target_is_the_first_epoch_reaching_it():
    hist = History()
    for i, acc in enumerate([0.90, 0.96, 0.94, 0.99]):
        hist.add((1.0, 0.5), (1.0, acc), 2.0 * (i + 1))
    assert bench.time_to(hist, 0.95) == 4.0
    assert bench.time_to(hist, 0.995) is None
    r = bench.row("circles MLP", hist, 200, 0.95)
    assert r["epochs"] == 4 and r["s_per_epoch"] == 2.0 and r["images_per_s"] == 100.0
    assert r["time_to_target_s"] == 4.0
    assert r["seconds"] == [2.0, 4.0, 6.0, 8.0] and r["test_acc_curve"] == [0.90, 0.96, 0.94, 0.99]


@pytest.mark.quick
def test_tree_memory_counts_the_children():
    import os
    import subprocess
    import sys

    alone = bench._tree_pss_mb(os.getpid())
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; x = bytearray(200 * 2**20); x[::4096] = b'x' * len(x[::4096]); time.sleep(30)",
        ]
    )
    try:
        import time

        deadline = time.monotonic() + 20
        while bench._tree_pss_mb(os.getpid()) < alone + 150 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert bench._tree_pss_mb(os.getpid()) >= alone + 150  # the child's 200 MB are counted
    finally:
        child.kill()
    rows = [{"assignment": "a1_intro_nn", "tier": "quick", "seconds": 20.04, "peak_mb": 873.2, "points": "20 / 20"}]
    assert "a1_intro_nn       quick       20.0      873  20 / 20" in bench.render_cost(rows)


@pytest.mark.quick
def test_the_speed_decision_is_printed_new_and_old_records_alike():
    """make bench prints what the speed switches chose, with the probe's step times fastest first; records from
    before the layout was probed (precision alone) still render."""
    from autograder.tools import bench

    new = {
        "precision": "bf16",
        "channels_last": True,
        "why": "probe",
        "step_s": {"fp32 contiguous": 0.41, "bf16 channels_last": 0.16, "fp32 channels_last": 0.36},
    }
    assert bench.describe_decision(bench.speed_decision({"speed_decision": new})) == (
        "bf16, channels_last (probe: one training step 160 ms in bf16 channels_last, 360 ms in fp32 "
        "channels_last, 410 ms in fp32 contiguous)"
    )
    old = {"precision": "fp32", "why": "probe", "fp32_step_s": 0.064, "bf16_step_s": 0.1}
    assert bench.describe_decision(bench.speed_decision({"precision_decision": old})) == (
        "fp32 (probe: one training step 64 ms in fp32 channels_last, 100 ms in bf16 channels_last)"
    )
    assert bench.speed_decision({}) == {}
    short = {"precision": "fp32", "channels_last": False, "why": "no bfloat16 hardware", "eval_batch_size": 1000}
    short["eval_why"] = "too little to evaluate for a probe"
    assert bench.describe_decision(short) == (
        "fp32, contiguous (no bfloat16 hardware); evaluation in batches of 1000 (too little to evaluate for a probe)"
    )
