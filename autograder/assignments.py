"""The course's assignments, each listed once: every other part of the kit reads this list.

An assignment is one name (`a1_intro_nn`) used everywhere: its stubs in assignments/<name>/, its reference in
solutions/<name>/, its checks in autograder/checks/<name>.py, its experiments in kit/<short>.py and its page in
docs/course/<short>.md. The grader, `make release`, the student kit, the platforms' artefacts, the data each
environment fetches and the generated docs all take the list from here; tests/test_registry.py fails when it
disagrees with the folders.

This module imports nothing from the kit (the data layer's names are plain strings, checked by the test), so
anything may import it, including the student kit's grader.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assignment:
    folder: str  # a1_intro_nn: the folder under assignments/ and solutions/, the check module's name
    short: str  # a1: what `--assignment`, `make check A=` and the kit's modules use
    title: str
    # data_scripts names of the data sets its notebook and checks read: what a fresh environment fetches (the
    # notebooks' set-up cell, the PrairieLearn image, the Classroom workflow)
    datasets: tuple[str, ...] = ()
    notebooks: tuple[str, ...] = ()  # in solutions/<folder>/ (and, released, in assignments/<folder>/)

    @property
    def check_module(self) -> str:
        return f"autograder.checks.{self.folder}"

    @property
    def kit_module(self) -> str:
        return f"kit.{self.short}"

    @property
    def doc(self) -> str:
        """Its page, relative to the repository root."""
        return f"docs/course/{self.short}.md"


REGISTRY: tuple[Assignment, ...] = (
    Assignment(
        "a1_intro_nn", "a1", "Introduction to neural networks", datasets=("mnist",), notebooks=("a1_intro_nn.ipynb",)
    ),
    Assignment("a2_cnn", "a2", "Convolutional networks", datasets=("cifar10",), notebooks=("a2_cnn.ipynb",)),
    Assignment(
        "a3_transformers",
        "a3",
        "Attention, transformer blocks, vision transformers",
        datasets=("mnist", "fashion_mnist"),
        notebooks=("a3_transformers.ipynb",),
    ),
    # a4 fits a Gaussian to a blurred MNIST digit
    Assignment(
        "a4_gaussian_fit",
        "a4",
        "Fitting a Gaussian to an image by hand-derived backprop",
        datasets=("mnist",),
        notebooks=("a4_gaussian_fit.ipynb",),
    ),
)

ASSIGNMENTS: tuple[str, ...] = tuple(a.folder for a in REGISTRY)
BY_FOLDER: dict[str, Assignment] = {a.folder: a for a in REGISTRY}


def get(name: str) -> Assignment:
    """'a1' or 'a1_intro_nn' -> its entry; ValueError naming the known ones otherwise."""
    for a in REGISTRY:
        if name in (a.folder, a.short):
            return a
    raise ValueError(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}")


def resolve(name: str) -> str:
    """'a1', 'a1_intro_nn' -> 'a1_intro_nn'."""
    return get(name).folder


def datasets_for(name: str) -> list[str]:
    """The data sets (data_scripts names) an assignment's notebook and checks read; [] for an unknown name."""
    entry = BY_FOLDER.get(name)
    return list(entry.datasets) if entry else []
