"""make bench's grade-many throughput: the class it builds and the rate it reports (grade-many itself faked)."""

import subprocess
from pathlib import Path

import pytest

from autograder.tools import bench


@pytest.mark.quick
def test_grading_throughput_grades_copies_at_each_jobs(tmp_path, monkeypatch):
    folder = tmp_path / "solutions"
    (folder / "a1_intro_nn" / "__pycache__").mkdir(parents=True)
    (folder / "a1_intro_nn" / "mlp.py").write_text("x = 1\n")
    (folder / "a1_intro_nn" / "a1_intro_nn.ipynb").write_text("{}")
    calls = []

    def fake_run(cmd, **kw):
        if "grade-many" not in cmd:  # the untimed warm-up pass
            return subprocess.CompletedProcess(cmd, 0, "", "")
        klass = Path(cmd[cmd.index("grade-many") + 1])
        students = sorted(p.name for p in klass.iterdir())
        calls.append(
            (
                int(cmd[cmd.index("--jobs") + 1]),
                students,
                sorted(p.name for p in (klass / students[0] / "a1_intro_nn").iterdir()),
            )
        )
        return subprocess.CompletedProcess(cmd, 0, "", "")

    clock = iter([0.0, 36.0, 100.0, 118.0])
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    rows = bench.grading_throughput(folder, jobs=[1, 2], copies=3)
    assert [c[0] for c in calls] == [1, 2]
    assert calls[0][1] == ["student00", "student01", "student02"]
    assert calls[0][2] == ["mlp.py"]  # no notebooks, no caches: only what grading reads
    assert [r["per_hour"] for r in rows] == [pytest.approx(300.0), pytest.approx(600.0)]
    assert "--jobs 2: 18 s, 600 submissions per hour" in bench.render_throughput(rows)
