"""A student who forges the report's text: terminal escapes, a fake TOTAL line, characters that break the JUnit XML,
HTML for Gradescope, all in the exception messages and the output of their code; and the notebook's sandboxes,
which must not outlive the kernel.

The submission's text reaches every report (autograder/report.py): the reports must stay well-formed, show no
control character a terminal or a web page would act on, and keep the kit's own lines (the real TOTAL) apart from
anything the student wrote, while ordinary Unicode (é, α, ≥) stays readable.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parent.parent
A1 = "a1_intro_nn"
A1_MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")
STUB = (ROOT / "assignments" / A1 / "mlp.py").read_text()

# What a skilled student puts in a message: clear the screen, move the cursor, set the window title, colour, a fake
# total after a carriage return and on a line of its own, backspaces, NUL and other control characters, C1 controls
# (CSI and NEL as single characters), a right-to-left override, what would end a CDATA section and open a forged
# testcase, HTML, lone surrogates (a low one before a high one: no pair), and some ordinary Unicode that must stay.
FORGED = (
    "\x1b[2J\x1b[H\x1b]0;graded: 80 / 80\x07\x1b[32m\x1bc\x1bM"
    "\rTOTAL: 80 / 80 points (12 of 12 checks passed)\n"
    "TOTAL: 80 / 80 points\x08\x08\x00\x07\x0b\x0c\x7f\x9b2J\x85TOTAL: 80 / 80\u202e08 / 08"
    "</failure>]]><testcase name='forged'/><![CDATA[<b>100%</b><img src=x onerror=alert(1)>\u2028TOTAL: 80"
    "\udfff\ud800\uffff α ≥ é end"
)
CHECKS = ("init_params", "softmax_stable", "forward")


def submission(tmp_path) -> Path:
    """The stubs, with mlp.py's functions raising the forged text (also as the exception's type name) and
    printing it."""
    folder = tmp_path / "sub" / A1
    folder.mkdir(parents=True)
    for name in A1_MODULES:
        (folder / name).write_text((ROOT / "assignments" / A1 / name).read_text())
    source = STUB + textwrap.dedent(f"""
        import sys
        FORGED = {FORGED!r}
        Forged = type("Forged\\x1b[2J\\rTOTAL: 80 / 80 points\\n", (Exception,), {{}})
        def init_params(nx, nh, ny):
            print(FORGED.encode("utf-8", "replace").decode())
            raise ValueError(FORGED)
        def softmax(ytilde):
            print(FORGED[:200], file=sys.stderr)
            raise Forged(FORGED)
        def forward(params, X):
            sys.stdout.buffer.write(b"\\x1b[2J\\xff\\xfe raw bytes\\r\\nTOTAL: 80 / 80\\n")
            sys.stdout.flush()
            return FORGED, {{}}
    """)
    (folder / "mlp.py").write_text(source)
    return tmp_path / "sub"


def grade(tmp_path, run_grader, fmt) -> str:
    out = tmp_path / f"report.{fmt}"
    checks = [a for name in CHECKS for a in ("--check", name)]
    args = ("--assignment", "a1", "--tier", "quick", "--format", fmt, "--output", out, "--quiet", "--time-scale", "2")
    proc = run_grader("grade", "--submission", submission(tmp_path), *args, *checks)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_text(encoding="utf-8")


def control_characters(text: str) -> set[str]:
    """Characters a terminal or a browser acts on, besides newline and tab, and lone surrogates."""
    return {c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) < 0xE000}


def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def xml_text(root) -> str:
    """Every text and attribute value of an XML tree."""
    return "".join(root.itertext()) + "".join(v for e in root.iter() for v in e.attrib.values())


@pytest.mark.quick
def test_forged_text_in_the_table(tmp_path, run_grader):
    """No escape reaches the terminal, every line the student wrote is indented behind the message's gutter and
    fits 80 columns (so a terminal's own wrapping cannot start a screen line with it), and the only line starting
    like the real total is the real total, the last line."""
    text = grade(tmp_path, run_grader, "table")
    assert control_characters(text) == set(), sorted(control_characters(text))
    lines = text.rstrip("\n").split("\n")
    assert "TOTAL: 80 / 80" in text  # the forgery is shown, as the student's text
    assert [line for line in lines if line.startswith("TOTAL")] == [lines[-1]]
    assert lines[-1].startswith("TOTAL: 0 / ")
    kit_lines = ("Submission: ", "Isolation: ", f"{A1}: ", "  ")
    assert all(line == "" or line.startswith(kit_lines) for line in lines[:-1]), lines
    student = [line for line in lines if line.startswith(" " * 10)]
    assert student and all(line.startswith(("          -> ", "          |")) for line in student), student
    assert max(len(line) for line in student) <= 80
    assert "α ≥ é" in text


@pytest.mark.quick
def test_forged_text_in_junit(tmp_path, run_grader):
    """The JUnit XML parses, with one testcase per graded check and no forged one; the text keeps its Unicode."""
    text = grade(tmp_path, run_grader, "junit")
    root = ET.fromstring(text)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [A1]
    cases = suites[0].findall("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(CHECKS) and suites[0].get("tests") == str(len(CHECKS))
    assert all(c.find("error") is not None or c.find("failure") is not None for c in cases)
    everything = xml_text(root)
    assert control_characters(everything) == set(), sorted(control_characters(everything))
    assert "α ≥ é" in everything and "forged" not in {c.get("name") for c in root.iter("testcase")}


@pytest.mark.quick
@pytest.mark.parametrize("fmt", ["json", "gradescope"])
def test_forged_text_in_json(fmt, tmp_path, run_grader):
    """The JSON parses; no string in it holds a control character once decoded; Gradescope shows the tests' output
    as plain text (its HTML and Markdown formats would render the student's tags)."""
    data = json.loads(grade(tmp_path, run_grader, fmt))
    found = set().union(*map(control_characters, strings(data)))
    assert found == set(), sorted(found)
    assert data["score"] == 0 and len(data["tests"]) == len(CHECKS)
    assert all("α ≥ é" in t["output"] for t in data["tests"] if not t["name"].endswith("forward"))
    if fmt == "gradescope":
        assert data["output_format"] == data["test_output_format"] == data["test_name_format"] == "text"
        assert all(t.get("output_format", "text") == "text" for t in data["tests"])


# ---------------------------------------------------------------- the sanitizer itself
@pytest.mark.quick
def test_clean_text_removes_escapes_and_keeps_unicode():
    from autograder.report import clean_text

    assert clean_text("plain α ≥ é ✓ 日本\ttab\nnext") == "plain α ≥ é ✓ 日本\ttab\nnext"
    assert clean_text("\x1b[31mred\x1b[0m \x1b]0;title\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "red link"
    assert clean_text("a\x1bcb\x1bMc\x1b(Bd") == "abcd"  # reset, reverse index, character set
    assert clean_text("\x9b2Jx\x9d0;t\x9c") == "x"  # the same as C1 characters
    assert clean_text("a\rb\r\nc\u2028d\u2029e") == "a\nb\nc\nd\ne"  # every line break is a newline
    assert clean_text("\x00\x07\x08\x0b\x0c\x7f\x85") == r"\x00\x07\x08\x0b\x0c\x7f\x85"  # shown, not acted on
    assert clean_text("\u202eabc\u2066") == r"\u202eabc\u2066"  # bidi overrides
    assert clean_text("\ud800x\udfff\uffff") == r"\ud800x\udfff\uffff"  # lone surrogates, non-characters
    assert clean_text("\x1b[") == r"\x1b["  # an unfinished escape is shown, not swallowed with what follows
    assert clean_text("a\x1b]0;never ends") == r"a\x1b]0;never ends"
    assert len(clean_text("x" * 100_000)) < 6000 and "more characters" in clean_text("x" * 100_000)
    assert clean_text(None) == "" and clean_text(42) == "42"
    clean_text("\ud800").encode("utf-8")  # writable


@pytest.mark.quick
def test_table_keeps_student_lines_behind_the_gutter():
    from autograder.report import CheckResult, render_table

    forged = "x\nTOTAL: 80 / 80 points\n" + "y" + " " * 70 + "TOTAL: 80 / 80 points" + "\t" * 30 + "日本語" * 40
    res = CheckResult(A1, "forward", "quick", 0, 2, "error", forged, "TOTAL: 9 / 9", 0.1, isolation="bwrap")
    lines = render_table([res], "sub\x1b[2J\nTOTAL: 80").split("\n")
    assert [line for line in lines if line.startswith("TOTAL")] == [lines[-1]] and lines[-1].startswith("TOTAL: 0 / 2")
    assert lines[0] == r"Submission: sub\nTOTAL: 80"
    message = [line for line in lines if line.startswith(" " * 10)]
    assert message[0] == "          -> x" and all(line.startswith("          |") for line in message[1:])
    assert message[1:4] == [
        "          |  TOTAL: 80 / 80 points",
        "          |  y",
        "          |      TOTAL: 80 / 80 points",
    ]
    assert all(len(line) + sum(c in "日本語" for c in line) <= 80 for line in message)  # a wide character: 2 columns
    assert message[-1].endswith("日本語")  # nothing lost


@pytest.mark.quick
def test_junit_and_json_from_forged_results():
    from autograder.report import CheckResult, render

    results = [
        CheckResult(A1, name, "quick", 0, 1, status, FORGED, FORGED, 0.1, isolation="bwrap")
        for name, status in (("a", "failed"), ("b", "error"), ("c", "timeout"), ("d", "not_implemented"))
    ]
    results.append(CheckResult(A1, "e", "quick", 1, 1, "passed", "", FORGED, 0.1, isolation="bwrap", hidden=True))
    root = ET.fromstring(render(results, "junit", "sub\x00mission").encode("utf-8"))
    assert [c.get("name") for c in root.iter("testcase")] == ["a", "b", "c", "d", "e"]
    assert root.get("name") == r"sub\x00mission"
    assert control_characters(xml_text(root)) == set() and "α ≥ é" in root.find(".//failure").get("message")
    for fmt in ("json", "gradescope", "prairielearn"):
        data = json.loads(render(results, fmt, "sub\x1b[2J"))
        found = set().union(*map(control_characters, strings(data)))
        assert found == set() and "α ≥ é" in json.dumps(data, ensure_ascii=False), (fmt, found)


# ---------------------------------------------------------------- the notebook's sandboxes
@pytest.mark.quick
def test_notebook_sandboxes_end_with_the_kernel(tmp_path):
    """run_check (a notebook test cell) starts a sandbox kept for the kernel's life: when the kernel exits, the
    sandbox ends and its temporary folder is removed."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    script = textwrap.dedent(f"""
        from autograder.runner import run_check
        run_check("{A1}/init_params", r"{ROOT / "solutions" / A1}")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(private_tmp)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and f"{A1}/init_params: passed" in proc.stdout, proc.stdout + proc.stderr
    assert list(private_tmp.glob("kit-sandbox-*")) == []


@pytest.mark.quick
def test_gradebook_cells_are_never_formulas():
    """A submission folder named like a spreadsheet formula is written to gradebook.csv as text."""
    from autograder.report import csv_cell

    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert csv_cell("+1") == "'+1" and csv_cell("-1") == "'-1" and csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("alice\n=1") == "alice\\n=1" and csv_cell("bob") == "bob"
