"""Recorded answers (DESIGN.md decision 12, autograder/api.py "oracles"): the kit keeps an oracle's signature, not
its body; its grader answers from the recorded calls of the running check, and only for the inputs recorded."""

import textwrap

import pytest
import torch

from autograder import api
from autograder.api import NotRecorded, oracle
from autograder.runner import check_seed
from autograder.platforms.student_kit import public_source

pytestmark = pytest.mark.quick


@pytest.fixture
def face():
    """Switch the grader's face for one test, with a fake recording; always back to the instructor's after."""
    saved = dict(api._ORACLES)

    def switch(name, book=None, check="a9_demo/demo"):
        api.set_face(name)
        api._ORACLES["book"] = {"a9_demo": book or {}}
        api.begin_check(check)

    yield switch
    api._ORACLES.clear()
    api._ORACLES.update(saved)


@oracle
def double(x, scale=1.0):
    return 2 * scale * x


@oracle
def size_of(layer):
    return layer.weight.shape[0]


def test_the_kit_keeps_an_oracles_signature_not_its_body():
    source = textwrap.dedent(
        '''
        from autograder.api import check, oracle


        def only_the_oracle_uses_me(x):
            return x * 2


        def shared(x):
            return x


        @oracle
        def expected(x):
            """The answer, computed."""
            return only_the_oracle_uses_me(shared(x))


        @check()
        def demo(sub):
            return expected(shared(1))
        '''
    )
    text, hidden = public_source(source)
    assert hidden == []
    assert "def expected(x):" in text and "@oracle" in text
    assert "The answer, computed" not in text and "only_the_oracle_uses_me" not in text
    assert "def shared(x):" in text  # a check still uses it
    compile(text, "kit.py", "exec")


def test_the_record_face_keeps_each_call_and_refuses_what_is_not_plain_data(face):
    face("record")
    x = torch.arange(3.0)
    assert torch.equal(double(x, scale=2.0), 4 * x)
    [(name, args, kwargs, value)] = api.recorded_calls()
    assert name == "double" and torch.equal(args[0], x) and kwargs == {"scale": 2.0} and torch.equal(value, 4 * x)
    with pytest.raises(TypeError, match="plain data"):
        size_of(torch.nn.Linear(2, 2))  # a module: its recorded inputs could not be compared


def test_the_student_face_answers_recorded_inputs_only(face):
    x = torch.randn(4, dtype=torch.float64)
    book = {"demo": [("double", (x,), {}, torch.full((4,), 7.0))]}
    face("student", book)
    assert torch.equal(double(x + 1e-12), torch.full((4,), 7.0))  # the last bit drawn differently: still the case
    with pytest.raises(NotRecorded, match="no recorded answer"):
        double(x + 1.0)
    with pytest.raises(NotRecorded):
        double(x, scale=3.0)
    face("student", book, check="a9_demo/other")  # another check's recording does not answer
    with pytest.raises(NotRecorded):
        double(x)


def test_the_kits_quick_checks_draw_other_inputs_than_the_instructors(face):
    quick = api.Check("a9_demo", "demo", 1.0, "quick", 1.0, lambda sub: None)
    train = api.Check("a9_demo", "fit", 1.0, "train", 1.0, lambda sub: None)
    teacher = check_seed(quick), check_seed(train)
    face("student")
    assert check_seed(quick) != teacher[0]
    assert check_seed(train) == teacher[1]  # a training's thresholds were measured with its own seed
