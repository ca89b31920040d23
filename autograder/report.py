"""One results model, five renderings: terminal table, JSON, Gradescope results.json, PrairieLearn results.json,
JUnit XML. The submission's text in them (messages, output) goes through clean_text first."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET


STATUS_LABEL = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "not_implemented": "TODO"}

# What became of a check, finer than its status: each kind has one status (what the tables and the platforms
# count), and the kind says whose problem an error is: the submission's (its answer could not be used, it was
# killed, its modules do not import) or the grader's (never the student's score: grade again).
STATUS_OF_KIND = {
    "passed": "passed",
    "failed": "failed",
    "not_implemented": "not_implemented",
    "timeout": "timeout",
    "submission_error": "error",
    "killed": "error",
    "not_importable": "error",
    "grader_error": "error",
}
KINDS = tuple(STATUS_OF_KIND)
# kinds where no check reached the student's code: the submission cannot be graded at all (PrairieLearn)
NOT_GRADED = ("not_importable", "grader_error")


@dataclass
class CheckResult:
    """Everything any report needs about one check, built once by the runner from the check's context."""

    assignment: str
    name: str
    tier: str
    score: float
    max_score: float
    status: str  # passed | failed | error | timeout | not_implemented (STATUS_OF_KIND[kind])
    message: str
    output: str  # what the submission printed
    duration: float
    isolation: str = (
        ""  # how the submission's code was isolated: the level's name (autograder/sandbox/client.py LEVELS)
    )
    isolation_text: str = ""  # the same in words, as the judge found it on the machine that graded (judge.LEVEL_TEXT)
    hidden: bool = False  # a hidden check: shown to students once grades are published
    # what the check measured, as data: [{"name": "accuracy", "value": 0.9832, "threshold": 0.98}, ...]
    # (api.Context.record)
    metrics: list = field(default_factory=list)
    # the student's functions and classes the check asked for ("mlp.forward"): a failure is traced through the
    # student's own calls to a helper whose check failed (autograder/callgraph.py)
    called: list = field(default_factory=list)
    kind: str = ""  # one of KINDS; from the status when not given (an error is then the submission's)
    description: str = ""  # the check's declaration (its docstring's first line)
    notes: list = field(default_factory=list)  # what the check told the student (api.Context.note)
    # the most memory the check's processes added at once, sampled by the sandbox (None where none was measured)
    peak_memory_mb: float | None = None

    def __post_init__(self):
        if not self.kind:
            self.kind = "submission_error" if self.status == "error" else self.status
        if STATUS_OF_KIND.get(self.kind) != self.status:
            raise ValueError(f"a {self.kind!r} result cannot have the status {self.status!r}")

    @property
    def id(self) -> str:
        return f"{self.assignment}/{self.name}"


def details(r: CheckResult) -> list[str]:
    """The lines a report shows under a check's message: what it measured (with the threshold: the student's
    margin, even when it passed), then its notes."""
    lines = []
    for m in r.metrics:
        value = f"{m['value']:.4f}" if m["name"] == "accuracy" else f"{m['value']:g}"
        threshold = f" (threshold {m['threshold']:.4f})" if "threshold" in m else ""
        lines.append(f"measured {m['name']}: {value}{threshold}")
    return lines + [f"note: {clean_text(n)}" for n in r.notes]


def cell_text(r: CheckResult, quiet: bool = False) -> str:
    """What a notebook test cell shows for a check (run_check in the student's kernel, JudgeGrades at autograde
    time): "passed (N points)" with the details, or the message; a hidden test (quiet) is never named."""
    if r.status == "passed":
        return "\n".join([f"{r.id}: passed ({_fmt(r.max_score)} points)", *details(r)])
    message = clean_text(r.message)
    if r.kind == "grader_error":
        return message if message.startswith("grader error") else f"grader error: {message}"
    if quiet:
        return f"a hidden test failed: {message}"
    return "\n".join([f"{r.id}: {message}", *details(r)])


def totals(results):
    return sum(r.score for r in results), sum(r.max_score for r in results)


def isolation_text(results) -> str:
    """One line saying how the submission's code was isolated (every report carries it)."""
    levels = {r.isolation: r.isolation_text or r.isolation for r in results if r.isolation}
    if not levels:
        return "Isolation: no student code ran"
    return "Isolation: " + "; ".join(f"{level}: {text}" for level, text in levels.items())


def _fmt(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------- text from the submission
# Messages and output carry the submission's own text (exception messages and type names, what it printed, reprs
# of what it returned): every report shows it through clean_text, so that it can neither drive a terminal (escape
# sequences, carriage returns, backspaces), nor break a report's syntax (XML allows no C0 control character, lone
# surrogate or U+FFFE/U+FFFF, and UTF-8 cannot even write a lone surrogate), nor pass for the report's own lines.
# Escape sequences: CSI, OSC/DCS/SOS/PM/APC strings (with their terminator), and the other ESC sequences, in their
# 7-bit (ESC x) and 8-bit (C1 character) forms.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-Z\\`-~]"
)
_LINE_BREAK = re.compile("\r\n?|[\u2028\u2029]")
# shown as Python escapes (\x1b, \u202e): the other control characters, the bidirectional overrides (they reorder
# what a line shows), lone surrogates and the two non-characters XML refuses
_SHOWN_ESCAPED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
TEXT_LIMIT = 5000  # characters of one message or output in a report (the judge trims output to fewer already)


def clean_text(text) -> str:
    """Text from the submission, as every report shows it: escape sequences removed, line breaks made newlines,
    other control characters shown as escapes; ordinary Unicode (é, α, ≥, 日本) stays as it is."""
    text = "" if text is None else str(text)
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT] + f"... [{len(text) - TEXT_LIMIT} more characters not shown]"
    text = _LINE_BREAK.sub("\n", _ESCAPE_SEQUENCE.sub("", text))
    return _SHOWN_ESCAPED.sub(_escaped, text)


def _escaped(match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _one_line(text) -> str:
    """clean_text for a field that must stay on one line (the submission's name)."""
    return clean_text(text).replace("\n", "\\n").replace("\t", "\\t")


def csv_cell(text) -> str:
    """A submission's name as a gradebook cell: one line, and never read as a formula by a spreadsheet (a leading
    =, +, -, @ is kept as text behind an apostrophe, as OWASP advises for CSV exports)."""
    text = _one_line(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# The table shows the submission's lines behind a gutter ("-> " then "|  "), wrapped by the kit within this many
# columns: a terminal that wrapped a long line itself could start a screen line with the student's own "TOTAL".
TABLE_WIDTH = 80
_MESSAGE_INDENT = " " * 10


def _columns(ch: str) -> int:
    """Terminal columns of one character: two for East Asian wide ones, else one (never fewer than shown)."""
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _wrap(line: str, width: int) -> list[str]:
    """`line` in pieces of at most `width` columns, broken after a space where the piece has one."""
    pieces, start, used, after_space = [], 0, 0, 0
    for i, ch in enumerate(line):
        if used + _columns(ch) > width:
            end = after_space if after_space > start else i
            pieces.append(line[start:end].rstrip(" "))
            start, used = end, sum(map(_columns, line[end:i]))
        used += _columns(ch)
        if ch == " ":
            after_space = i + 1
    return pieces + [line[start:].rstrip(" ")]


def _message_lines(text: str) -> list[str]:
    """A check's message for the table: its first line after "-> ", every other line (its own, or a piece of a
    long one) after "|  ", all indented: none can start at the margin where the report's own lines are."""
    width = TABLE_WIDTH - len(_MESSAGE_INDENT) - 3
    pieces = [p for line in clean_text(text).expandtabs(4).split("\n") for p in _wrap(line, width)]
    return [f"{_MESSAGE_INDENT}{'-> ' if i == 0 else '|  '}{p}".rstrip(" ") for i, p in enumerate(pieces)]


def render_table(results, submission: str = "") -> str:
    lines = []
    if submission:
        lines.append(f"Submission: {_one_line(submission)}")
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
            for text in ([r.message] if r.message else []) + details(r):
                lines += _message_lines(text)
    got, out_of = totals(results)
    lines.append("")
    lines.append(isolation_text(results))
    lines.append(
        f"TOTAL: {_fmt(got)} / {_fmt(out_of)} points "
        f"({sum(r.status == 'passed' for r in results)} of {len(results)} checks passed)"
    )
    return "\n".join(lines)


def _test_output(r: CheckResult) -> str:
    text = "\n".join([clean_text(r.message) or "passed", *details(r)])
    if r.output.strip():
        text += "\n--- output ---\n" + clean_text(r.output)
    return text


# The keys Gradescope's results.json specification knows, at the top and for each test
# (https://gradescope-autograders.readthedocs.io/en/latest/specs/): nothing else is written.
GRADESCOPE_KEYS = {
    "score", "execution_time", "output", "output_format", "test_output_format", "test_name_format", "visibility",
    "stdout_visibility", "extra_data", "tests", "leaderboard",
}  # fmt: skip
GRADESCOPE_TEST_KEYS = {
    "score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags", "visibility",
    "extra_data",
}  # fmt: skip


def to_gradescope(results, leaderboard: bool = False, wall_time: float | None = None) -> dict:
    """Gradescope's results.json: the score and one entry per check (a hidden check is shown once the grades are
    published; the total out of is the sum of the tests' max_score, which Gradescope adds up itself);
    leaderboard=True adds each training's test accuracy and time. execution_time: the run's wall time (whole
    seconds), or the checks' summed durations when the caller did not measure it."""
    got, _ = totals(results)
    data = {
        "score": got,
        "execution_time": round(wall_time if wall_time is not None else sum(r.duration for r in results)),
        "visibility": "visible",
        "output": isolation_text(results),
        # plain text everywhere: Gradescope's default for the top-level output renders HTML ("simple_format"), and
        # its html and md formats would render the tags a student prints
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "tests": [
            {
                "name": r.id,
                "score": r.score,
                "max_score": r.max_score,
                "status": "passed" if r.status == "passed" else "failed",
                "visibility": "after_published" if r.hidden else "visible",
                "output": _test_output(r),
                "output_format": "text",
                "extra_data": {"kind": r.kind},  # not shown to students: run_autograder tells a grader error by it
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
    data["max_score"] = totals(results)[1]
    data["submission"] = clean_text(submission)
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
            peak_memory_mb=r.peak_memory_mb,
            message=clean_text(r.message),
            kind=r.kind,
            description=r.description,
            metrics=r.metrics,
            notes=[clean_text(n) for n in r.notes],
        )
    return data


def to_prairielearn(results) -> dict:
    """PrairieLearn's external-grader results.json: score in [0, 1] and one test per check.

    Not gradable (`gradable: false`, no attempt used, `format_errors` naming the problem) when no check reached
    the student's code: there is no result at all, or every result is an error saying that a module is missing,
    has a syntax error or raised on import, that the assignment folder is missing, or that the grader failed.
    PrairieLearn shows every test at once (it has no "after published"), so a hidden check is listed without its
    name, description, message or output: only its points."""
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
                    "description": r.description,
                    "points": r.score,
                    "max_points": r.max_score,
                    "message": "\n".join([clean_text(r.message) or "passed", *details(r)]),
                    "output": clean_text(r.output),
                }
            )
    data = {
        "gradable": True,
        "score": got / out_of if out_of > 0 else 0.0,
        "message": f"{_fmt(got)} / {_fmt(out_of)} points ({passed} of {len(results)} checks passed)",
        "output": isolation_text(results),
        "tests": tests,
    }
    if not results or all(r.kind in NOT_GRADED for r in results):
        errors = list(dict.fromkeys(clean_text(r.message) for r in results if not r.hidden))
        errors = errors or ["nothing was graded: no check ran"]
        data.update(
            gradable=False,
            score=0.0,
            format_errors=errors,
            message="The submission could not be graded: " + "; ".join(errors[:3]),
        )
    return data


def to_junit(results, submission: str = "") -> str:
    suites = ET.Element("testsuites", name=clean_text(submission) or "submission")
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
            message = clean_text(r.message)  # XML-legal: no control character, lone surrogate or U+FFFE/U+FFFF
            if r.status in ("failed", "not_implemented"):
                ET.SubElement(case, "failure", message=message).text = message
            elif r.status in ("error", "timeout"):
                ET.SubElement(case, "error", message=message, type=r.status).text = message
            out = "\n".join([*details(r), clean_text(r.output)] if r.output else details(r))
            if out:
                ET.SubElement(case, "system-out").text = out
    return ET.tostring(suites, encoding="unicode")


def render(results, fmt: str, submission: str = "", leaderboard: bool = False, wall_time: float | None = None) -> str:
    if fmt == "table":
        return render_table(results, submission)
    if fmt == "json":
        return json.dumps(to_json(results, submission), indent=2)
    if fmt == "gradescope":
        return json.dumps(to_gradescope(results, leaderboard, wall_time), indent=2)
    if fmt == "junit":
        return to_junit(results, submission)
    if fmt == "prairielearn":
        return json.dumps(to_prairielearn(results), indent=2)
    raise ValueError(f"unknown format {fmt}")
