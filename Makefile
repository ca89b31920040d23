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

.PHONY: help setup data grade check release test test-all bench clean gradescope mutants

help:
	@echo "make grade        set up, fetch data, grade assignments/ (tier $(TIER))"
	@echo "make test         the kit's own test suite (quick + train tiers)"
	@echo "make check A=a1   fast public checks of one assignment"
	@echo "make release      regenerate assignments/ from solutions/"
	@echo "make data         fetch / verify the data sets"
	@echo "make bench        time-to-accuracy table (FULL=1: train every model to its target)"

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m data_scripts fetch all

grade: data
	$(PY) -m autograder grade --submission $(SUBMISSION) --tier $(TIER)

check: setup
	$(PY) -m autograder grade --submission $(SUBMISSION) --assignment $(A) --tier quick

release: setup
	$(PY) -m autograder.release

bench: data
	$(PY) -m kit.bench $(if $(FULL),--full)

mutants: setup
	$(PY) -m autograder.mutants

gradescope: setup
	$(PY) -m autograder.gradescope $(A)

test: data
	$(PY) -m pytest -m "quick or train" -n $(JOBS)

test-all: setup data
	$(PY) -m pytest -n $(JOBS)

clean:
	rm -rf runs .pytest_cache
