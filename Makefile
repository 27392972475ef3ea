# broadway_py — the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lint unit dist image-test bench bench-smoke brokers-start brokers-stop clean

$(INSTALLED): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade "pip>=25.1"
	$(PYTHON) -m pip install --quiet --editable . --group dev
	touch $(INSTALLED)

## install: a virtualenv in .venv with the package and its development tools
install: $(INSTALLED)

## demo: run config/demo.yaml on the embedded in-memory broker, with progress lines
demo: install
	$(VENV)/bin/broadway-py run config/demo.yaml --progress 1

## lint: ruff, ruff format, mypy --strict and the layering contracts
lint: install
	$(VENV)/bin/ruff check broadway_py tests bench examples deploy config
	$(VENV)/bin/ruff format --check broadway_py tests bench examples deploy config
	$(VENV)/bin/mypy --strict broadway_py
	$(VENV)/bin/lint-imports

## test: everything — lint, brokers started on 127.0.0.1 and stopped after, all tests, bench smoke
test: install
	scripts/test.sh

## dist: the sdist, and a wheel built from it, in $(DIST)/ (pip install $(DIST)/broadway_py-*.whl elsewhere)
DIST ?= dist
dist: install
	rm -rf $(DIST)
	$(PYTHON) -m build --outdir $(DIST) .

## image-test: build the image with podman (a stand-in base when no registry answers) and run it: probes, drain, the chart's pod
image-test: install
	scripts/image-test.sh check

## unit: the tests that need no broker and no external tool
unit: install
	$(PYTHON) -m pytest tests/unit tests/property tests/contract -m "not kafka and not rabbitmq and not sqs"

## bench: the benchmarks, each printing a ratio against its baseline (brokers started for it)
bench: install
	scripts/bench.sh

bench-smoke: install
	scripts/bench.sh --smoke

brokers-start: install
	scripts/brokers/all.sh install
	scripts/brokers/all.sh start

brokers-stop:
	scripts/brokers/all.sh stop

clean:
	rm -rf $(VENV) dist .brokers .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis
