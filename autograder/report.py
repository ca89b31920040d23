"""One results model, four renderings: terminal table, JSON, Gradescope results.json, JUnit XML."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from xml.etree import ElementTree as ET


STATUS_LABEL = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "not_implemented": "TODO"}


@dataclass
class CheckResult:
    assignment: str
    name: str
    tier: str
    score: float
    max_score: float
    status: str  # passed | failed | error | timeout | not_implemented
    message: str
    output: str
    duration: float
    isolation: str = ""  # how the submission's code was isolated (autograder/judge.py LEVELS)
    hidden: bool = False  # a hidden check: shown to students once grades are published
    # what the check measured, as data: [{"name": "accuracy", "value": 0.9832, "threshold": 0.98}, ...]: what the
    # check recorded (api.record_metric), handed over by runner.run_one
    metrics: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.assignment}/{self.name}"


def totals(results):
    return sum(r.score for r in results), sum(r.max_score for r in results)


def isolation_text(results) -> str:
    """One line saying how the submission's code was isolated (every report carries it)."""
    from .judge import LEVEL_TEXT

    levels = list(dict.fromkeys(r.isolation for r in results if r.isolation))
    if not levels:
        return "Isolation: no student code ran"
    return "Isolation: " + "; ".join(f"{lv}: {LEVEL_TEXT.get(lv, lv)}" for lv in levels)


def _fmt(x: float) -> str:
    return f"{x:g}"


def render_table(results, submission: str = "") -> str:
    lines = []
    if submission:
        lines.append(f"Submission: {submission}")
    width = max([len(r.id) + 9 * r.hidden for r in results] + [10])
    for assignment in dict.fromkeys(r.assignment for r in results):
        rows = [r for r in results if r.assignment == assignment]
        got, out_of = totals(rows)
        lines.append("")
        lines.append(f"{assignment}: {_fmt(got)} / {_fmt(out_of)}")
        for r in rows:
            name = f"{r.name} (hidden)" if r.hidden else r.name
            lines.append(
                f"  {STATUS_LABEL.get(r.status, r.status):<7} {name:<{width - len(assignment)}} "
                f"{_fmt(r.score):>4} / {_fmt(r.max_score):<3} {r.tier:<5} {r.duration:5.1f}s"
            )
            if r.message:
                lines.append(f"          -> {r.message}")
    got, out_of = totals(results)
    lines.append("")
    lines.append(isolation_text(results))
    lines.append(
        f"TOTAL: {_fmt(got)} / {_fmt(out_of)} points "
        f"({sum(r.status == 'passed' for r in results)} of {len(results)} checks passed)"
    )
    return "\n".join(lines)


def _test_output(r: CheckResult) -> str:
    text = r.message or "passed"
    if r.output.strip():
        text += "\n--- output ---\n" + r.output
    return text


def to_gradescope(results, leaderboard: bool = False) -> dict:
    """Gradescope's results.json: score, max_score and one entry per check (a hidden check is shown once the
    grades are published); leaderboard=True adds each training's test accuracy and time."""
    got, out_of = totals(results)
    data = {
        "score": got,
        "max_score": out_of,
        "execution_time": round(sum(r.duration for r in results), 1),
        "visibility": "visible",
        "output": isolation_text(results),
        "tests": [
            {
                "name": r.id,
                "score": r.score,
                "max_score": r.max_score,
                "status": "passed" if r.status == "passed" else "failed",
                "visibility": "after_published" if r.hidden else "visible",
                "output": _test_output(r),
            }
            for r in results
        ],
    }
    if leaderboard:
        data["leaderboard"] = leaderboard_rows(results)
    return data


def leaderboard_rows(results) -> list[dict]:
    """For each check that trained a model: its test accuracy (higher first) and its time (lower first)."""
    rows = []
    for r in results:
        found = [m["value"] for m in r.metrics if m["name"] == "accuracy"] if r.status == "passed" else []
        if found:
            rows.append({"name": f"{r.name}: test accuracy (%)", "value": round(100 * min(found), 2), "order": "desc"})
            rows.append({"name": f"{r.name}: time (s)", "value": round(r.duration, 1), "order": "asc"})
    return rows


def to_json(results, submission: str = "") -> dict:
    """Gradescope's fields plus the kit's own (status detail, tier, duration) for course staff."""
    data = to_gradescope(results)
    data["submission"] = submission
    data["isolation"] = list(dict.fromkeys(r.isolation for r in results if r.isolation))
    data["assignments"] = {
        a: dict(zip(("score", "max_score"), totals([r for r in results if r.assignment == a])))
        for a in dict.fromkeys(r.assignment for r in results)
    }
    for test, r in zip(data["tests"], results):
        test.update(
            kit_status=r.status,
            tier=r.tier,
            hidden=r.hidden,
            isolation=r.isolation,
            duration=round(r.duration, 3),
            message=r.message,
            metrics=r.metrics,
        )
    return data


def to_prairielearn(results) -> dict:
    """PrairieLearn's external-grader results.json: score in [0, 1] and one test per check.

    Not gradable (`gradable: false`, no attempt used, `format_errors` naming the problem) when no check reached
    the student's code: there is no result at all, or every result is an error saying that a module is missing,
    has a syntax error or raised on import, that the assignment folder is missing, or that the grader failed.
    PrairieLearn shows every test at once (it has no "after published"), so a hidden check is listed without its
    name, description, message or output: only its points."""
    import re

    from .runner import load_checks

    # how a check says the code could not be loaded at all (autograder/sandbox.py, autograder/runner.py)
    unimportable = re.compile(
        r"\.py has a syntax error|\.py not found in the submission|importing \S+\.py raised|"
        r"^folder \S+/ not found in|^grader error:"
    )
    descriptions = {}
    for assignment in dict.fromkeys(r.assignment for r in results):
        try:
            descriptions.update({c.id: c.description for c in load_checks(assignment)})
        except Exception:  # a description is a nicety: never let it cost the report
            pass
    got, out_of = totals(results)
    passed = sum(r.status == "passed" for r in results)
    single = len({r.assignment for r in results}) == 1
    tests, n_hidden = [], 0
    for r in results:
        if r.hidden:
            n_hidden += 1
            tests.append(
                {
                    "name": f"hidden check {n_hidden}",
                    "description": "",
                    "points": r.score,
                    "max_points": r.max_score,
                    "message": "passed" if r.status == "passed" else "not passed",
                    "output": "",
                }
            )
        else:
            tests.append(
                {
                    "name": r.name if single else r.id,
                    "description": descriptions.get(r.id, ""),
                    "points": r.score,
                    "max_points": r.max_score,
                    "message": r.message or "passed",
                    "output": r.output,
                }
            )
    data = {
        "gradable": True,
        "score": got / out_of if out_of > 0 else 0.0,
        "message": f"{_fmt(got)} / {_fmt(out_of)} points ({passed} of {len(results)} checks passed)",
        "output": isolation_text(results),
        "tests": tests,
    }
    if not results or all(r.status == "error" and unimportable.search(r.message) for r in results):
        errors = list(dict.fromkeys(r.message for r in results if not r.hidden)) or ["nothing was graded: no check ran"]
        data.update(
            gradable=False,
            score=0.0,
            format_errors=errors,
            message="The submission could not be graded: " + "; ".join(errors[:3]),
        )
    return data


def to_junit(results, submission: str = "") -> str:
    suites = ET.Element("testsuites", name=submission or "submission")
    for assignment in dict.fromkeys(r.assignment for r in results):
        rows = [r for r in results if r.assignment == assignment]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=assignment,
            tests=str(len(rows)),
            failures=str(sum(r.status in ("failed", "not_implemented") for r in rows)),
            errors=str(sum(r.status in ("error", "timeout") for r in rows)),
            time=f"{sum(r.duration for r in rows):.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="isolation", value=isolation_text(rows))
        for r in rows:
            case = ET.SubElement(suite, "testcase", classname=assignment, name=r.name, time=f"{r.duration:.3f}")
            if r.status in ("failed", "not_implemented"):
                ET.SubElement(case, "failure", message=r.message).text = r.message
            elif r.status in ("error", "timeout"):
                ET.SubElement(case, "error", message=r.message, type=r.status).text = r.message
            if r.output:
                ET.SubElement(case, "system-out").text = r.output
    return ET.tostring(suites, encoding="unicode")


def render(results, fmt: str, submission: str = "", leaderboard: bool = False) -> str:
    if fmt == "table":
        return render_table(results, submission)
    if fmt == "json":
        return json.dumps(to_json(results, submission), indent=2)
    if fmt == "gradescope":
        return json.dumps(to_gradescope(results, leaderboard), indent=2)
    if fmt == "junit":
        return to_junit(results, submission)
    if fmt == "prairielearn":
        return json.dumps(to_prairielearn(results), indent=2)
    raise ValueError(f"unknown format {fmt}")


def result_dicts(results):
    return [asdict(r) for r in results]
