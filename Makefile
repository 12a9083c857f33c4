# Quick start:  make run   (the main job)      make test   (the test suite)
# Both bootstrap .venv from the pinned requirements when it is missing (fast when it is there) and
# fetch the offline Fashion-MNIST files (Debian package dataset-fashion-mnist) when they are missing.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST_DIR ?= $(if $(RTL_FASHION_MNIST_DIR),$(RTL_FASHION_MNIST_DIR),/usr/share/datasets/fashion-mnist)
RUN_ARGS ?=
TEST_ARGS ?=

export JAX_PLATFORMS ?= cpu

.PHONY: run test venv data lint bench clean-runs help

help:
	@echo "make run    - the main job (see README)"
	@echo "make test   - the test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (writes docs/benchmarks.md)"

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $(STAMP)

data:
	@if [ -f "$(FMNIST_DIR)/train-images-idx3-ubyte.gz" ]; then \
	  true; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "Fetching Fashion-MNIST: apt-get install dataset-fashion-mnist"; \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null)) || \
	  { echo "apt-get could not install dataset-fashion-mnist"; exit 1; }; \
	else \
	  echo "Fashion-MNIST is missing ($(FMNIST_DIR)/train-images-idx3-ubyte.gz)."; \
	  echo "Provide it in one of two ways:"; \
	  echo "  1. as root on Debian/Ubuntu:  apt-get install dataset-fashion-mnist"; \
	  echo "  2. put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and"; \
	  echo "     t10k-labels-idx1-ubyte.gz (from github.com/zalandoresearch/fashion-mnist, data/fashion/)"; \
	  echo "     in a folder and run: RTL_FASHION_MNIST_DIR=/that/folder make ..."; \
	  exit 1; \
	fi

run: venv data
	$(PY) -m experiments.rtl $(RUN_ARGS)

test: venv data
	$(PY) -m ruff check rtl_jax experiments tests benchmarks
	$(PY) -m pytest -q $(TEST_ARGS)

lint: venv
	$(PY) -m ruff check rtl_jax experiments tests benchmarks

bench: venv data
	$(PY) -m benchmarks.run

clean-runs:
	rm -rf runs
