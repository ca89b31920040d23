"""The named recipes of kit/recipes.py are the one place for each training's settings and threshold: every recipe
fits its trainer, every check that trains names one and states its threshold from it, and the kit's constants,
autograder.tools.bench and the docs follow it."""

import inspect
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.runner import load_checks
from kit.recipes import RECIPES, recipe, settings

ROOT = Path(__file__).resolve().parents[1]


def trainer(name):
    """The kit function a recipe's settings are keyword arguments of."""
    from kit import a1, a2, a3

    if name == "a1.circles":
        return a1.circles_predictions
    if name == "a1.mnist":
        return a1.train_mnist
    if name.startswith("a2."):
        return a2.train
    if name.startswith("a3."):
        return a3.train_vit
    return None


@pytest.mark.quick
@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_fits_its_trainer(name):
    found = recipe(name)
    assert found.name == name and found.assignment in {"a1", "a2", "a3", "a4"}
    assert all(0 < v < 1 for v in found.threshold.values()), found.threshold
    assert set(found.threshold) <= {"any", "original", "jpeg-q75"}, found.threshold
    fn = trainer(name)
    if fn is None:
        assert not found.settings, f"{name} has settings but no trainer in this test"
        return
    try:
        inspect.signature(fn).bind_partial(**found.settings)
    except TypeError as err:
        pytest.fail(f"{name}'s settings do not fit {fn.__module__}.{fn.__name__}: {err}")


@pytest.mark.quick
def test_training_checks_name_a_recipe_and_state_its_threshold():
    """Checks of the train and full tiers that threshold an accuracy (a1-a3) name a known recipe, and every recipe
    with a threshold is graded by a check; the descriptions carry the recipe's values, no placeholder left."""
    from autograder.assignments import REGISTRY

    graded = set()
    for entry in REGISTRY:
        for c in load_checks(entry.folder):
            assert "{" not in c.description, (c.id, c.description)
            if c.recipe:
                assert c.recipe in RECIPES, f"{c.id} names an unknown recipe {c.recipe!r}"
                graded.add(c.recipe)
            elif c.tier != "quick" and entry.short != "a4":  # a4's fits have no accuracy to reach
                pytest.fail(f"{c.id} trains ({c.tier} tier) but names no recipe")
    assert graded == {n for n, r in RECIPES.items() if r.threshold}, "a recipe with a threshold that nothing grades"


@pytest.mark.quick
def test_the_kit_reads_its_settings_from_the_recipes():
    """Change the recipes (before the kit is imported, in a process of its own) and the kit's trainings and bench
    change with them: no setting is typed a second time in kit/."""
    import json
    import subprocess
    import sys

    changed = ["a1.mnist", "a2.small", "a2.full_vanilla", "a2.full_improved", "a3.fast", "a3.full_fashion_mnist"]
    code = f"""
import json
from dataclasses import replace
from kit import recipes
for name in {changed!r}:
    r = recipes.RECIPES[name]
    recipes.RECIPES[name] = replace(r, settings={{**r.settings, "epochs": 97}}, target=r.target and 0.123)
from autograder.tools import bench
from kit import a1, a2, a3
print(json.dumps([a1.MNIST_EPOCHS, a2.SMALL["epochs"], a2.FULL_VANILLA["epochs"], a2.FULL_IMPROVED["epochs"],
                  a3.FAST_TRAINING["epochs"], a3.FULL_TRAINING["fashion_mnist"]["epochs"],
                  sorted(set(bench.TARGETS[row] for row, name in bench.ROWS.items() if name in {changed!r}))]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    *epochs, targets = json.loads(out)
    assert epochs == [97] * 6 and targets == [0.123], out  # bench rows of a1.mnist, a2.full_improved, a3.fast
    mine = settings("a2.full_improved")
    mine["epochs"] = 1  # a caller's change stays the caller's
    assert recipe("a2.full_improved").settings["epochs"] != 1


@pytest.mark.quick
def test_threshold_by_data_source():
    improved = recipe("a2.full_improved")
    assert improved.threshold_for("original") == 0.85
    assert improved.threshold_for("jpeg-q75") <= improved.threshold_for("original")
    assert recipe("a1.mnist").threshold_for("jpeg-q75") == recipe("a1.mnist").threshold_for()  # "any" holds
    with pytest.raises(KeyError, match="no threshold for data source"):
        replace(improved, threshold={"original": 0.85}).threshold_for("jpeg-q75")
    with pytest.raises(KeyError, match="known: a1.circles"):
        recipe("a9.nothing")


@pytest.mark.quick
def test_a_threshold_changed_in_the_recipe_is_what_the_check_asks(monkeypatch):
    """One line in kit/recipes.py changes what is graded: the SVM check, run on a submission's numbers, fails once
    its recipe asks for more than they reach."""
    from types import SimpleNamespace

    from sklearn.svm import SVC

    import autograder.checks.a1_intro_nn as checks
    from autograder.api import CheckFailed

    def svm_handle(kernel, C):  # the judge's handle on the student's SVC: fit in the sandbox, attributes as data
        return SimpleNamespace(fit=SimpleNamespace(call_kept=lambda X, y: SVC(kernel=kernel, C=C).fit(X, y)))

    class Module:  # the reference's numbers (the judge checks them against scikit-learn's)
        make_svm = SimpleNamespace(call_kept=svm_handle)

        @staticmethod
        def svm_accuracies(Xfit, yfit, Xval, yval, kernels=("rbf", "linear"), C_values=(1.0,)):
            return {
                (k, C): (1.0, SVC(kernel=k, C=C).fit(Xfit, yfit).score(Xval, yval)) for k in kernels for C in C_values
            }

    from autograder.api import REGISTRY, Context

    class Sub(Context):  # the context the runner hands the check: its declaration names the recipe
        def __init__(self):
            super().__init__(next(c for c in REGISTRY["a1_intro_nn"] if c.name == "train_svm_circles"), None)

        def module(self, name):
            return Module

    checks.train_svm_circles(Sub())  # about 99 % >= 95 %
    monkeypatch.setitem(RECIPES, "a1.svm", replace(recipe("a1.svm"), threshold={"any": 0.999}))
    with pytest.raises(CheckFailed, match="expected at least 99.9%"):
        checks.train_svm_circles(Sub())
