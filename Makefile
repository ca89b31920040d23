# Deep learning for vision: the commands a student, an instructor and CI type.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Offline mirror of the data sets: used when present (this project's machines), else torchvision downloads.
DATA_MIRROR ?= $(wildcard ../shared/datasets)
export DATA_MIRROR
A ?= a1
TIER ?= train
SUBMISSION ?= assignments
JOBS ?= 2

.PHONY: help setup data grade check release test test-all lint format bench clean gradescope mutants student-kit classroom prairielearn reference-notebooks docs

help:
	@echo "make grade        set up, fetch data, grade assignments/ (tier $(TIER))"
	@echo "make test         the kit's own test suite (quick + train tiers, ruff and shellcheck among them)"
	@echo "make lint         ruff's rules and format check on the kit's code (make format rewrites it)"
	@echo "make check A=a1   fast public checks of one assignment"
	@echo "make release      regenerate assignments/ from solutions/"
	@echo "make data         fetch / verify the data sets"
	@echo "make bench        time-to-accuracy table (FULL=1: train every model to its target)"
	@echo "make reference-notebooks  executed instructor notebooks + cell times in dist/reference-notebooks/"
	@echo "make docs         docs/measurements.md and the docs' generated counts, from the code and docs/data/"
	@echo "make student-kit  dist/student-kit/ and .zip: what a class receives (public checks only)"
	@echo "make gradescope A=a1 / classroom A=a1 / prairielearn A=a1   one platform's artefact in dist/"

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-build-isolation -e '.[instructor]' -c constraints.txt
	@touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m data_scripts fetch all

grade: data
	$(PY) -m autograder grade --submission $(SUBMISSION) --tier $(TIER)

check: setup
	$(PY) -m autograder grade --submission $(SUBMISSION) --assignment $(A) --tier quick

release: setup
	$(PY) -m autograder.platforms.release

bench: data
	$(PY) -m autograder.tools.bench $(if $(FULL),--full)

# Executed instructor notebooks (answer keys, figures) and per-cell times; BUDGET=small for a short run.
reference-notebooks: data
	$(PY) -m autograder.tools.reference_notebooks --budget $(or $(BUDGET),full)

# Counts from the code, measured figures from docs/data/*.json (tests/test_docs.py fails when they are stale).
docs: setup
	$(PY) -m autograder.tools.docs

mutants: setup
	$(PY) -m autograder.tools.mutants

gradescope: setup
	$(PY) -m autograder.platforms.gradescope $(A)

student-kit: setup
	$(PY) -m autograder.platforms.student_kit

classroom: setup
	$(PY) -m autograder.platforms.classroom $(A)

prairielearn: setup
	$(PY) -m autograder.platforms.prairielearn $(A)

test: data
	$(PY) -m pytest -m "quick or train" -n $(JOBS) --dist worksteal

# ruff: the kit's code (not solutions/, written for students); make test runs the same through tests/test_lint.py
lint: setup
	$(PY) -m ruff check autograder kit data_scripts tests
	$(PY) -m ruff format --check autograder kit data_scripts tests

format: setup
	$(PY) -m ruff format autograder kit data_scripts tests

test-all: setup data
	$(PY) -m pytest -n $(JOBS)

clean:
	rm -rf runs .pytest_cache
