# The verbs a newcomer needs. `make test` is what CI runs (via .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GRACE := $(VENV)/bin/grace
PYTEST_ARGS ?=

.PHONY: help deps crds lint opa-test unit test bench demo image cluster-up cluster-down clean

help:
	@echo "make demo      bring up the local cluster and run GRACE's main scenario"
	@echo "make test      lint + types + opa test + unit + integration + e2e (real cluster)"
	@echo "make bench     every benchmark in bench/ (BENCH_ARGS=--quick for the short run)"
	@echo "make crds      regenerate crds/ and charts/grace/crds/ from the models"
	@echo "make lint      ruff + mypy --strict + import contracts (.importlinter)"
	@echo "make image     build the operator, OPA and shop images with buildah (imported into a running real node)"

# The operator and, beside it, the lab (lab/: local cluster, simulated shop, `grace demo` and
# `grace cluster`), which the operator's wheel and image do not contain.
$(VENV)/.installed: pyproject.toml lab/pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]" -e ./lab
	touch $@

deps: $(VENV)/.installed
	bash hack/system-deps.sh
	bash hack/realnode-deps.sh
	$(GRACE) cluster build >/dev/null

crds: $(VENV)/.installed
	$(GRACE) crds --write .
	$(PY) -m grace.api.docgen .

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check operator lab tests bench
	$(VENV)/bin/ruff format --check operator lab tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo --no-cache

opa-test: deps
	bash hack/opa-test.sh

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

# Unit tests are pure and CPU-bound: both cores at once. Then the tiers on the one real cluster,
# one test at a time (they share it, and timing claims live in bench/, not here).
test: deps lint opa-test
	$(PY) -m pytest tests/unit -q -n 2 $(PYTEST_ARGS)
	$(PY) -m pytest tests -q --ignore=tests/unit --durations=15 $(PYTEST_ARGS)

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,bench]" -e ./lab
	touch $@

bench: deps $(VENV)/.bench-installed
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b $(BENCH_ARGS) || exit 1; done

image: deps
	$(PY) -m grace_lab.localcluster.make_image

demo: deps
	$(GRACE) demo

cluster-up: deps
	$(GRACE) cluster up

cluster-down: $(VENV)/.installed
	$(GRACE) cluster down

clean: cluster-down
	rm -rf .grace $(VENV)
