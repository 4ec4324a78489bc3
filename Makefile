# Two commands on a fresh machine:
#   make demo   install, bake a project with the default answers, train it (fast profile)
#   make test   install, then run every template test (slow tier included)
# Everything lives in one virtual environment; research-rigor, the library every bake
# depends on, is installed from this checkout (editable) until it is released.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_DIR := build/demo

.PHONY: demo test lint refresh lock bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first (constraints.txt: the CPU build), then every other package at its pinned version
# (requirements-dev.lock, from requirements-dev.txt by `make lock`).
$(VENV)/.installed: $(BIN)/activate requirements-dev.lock constraints.txt research-rigor/pyproject.toml
	$(BIN)/python -m pip install --quiet -r constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e ./research-rigor
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	cd $(DEMO_DIR)/my-research && ../../../$(BIN)/python -m pip install --quiet -r requirements.lock -e ".[dev]" \
		&& ../../../$(BIN)/python train.py +profile=fast

test: $(VENV)/.installed lint
	$(BIN)/python -m pytest

# The project folder and hooks are Jinja: the bake tests lint the baked project.
LINTED := tests scripts benchmarks local_extensions.py research-rigor

lint: $(VENV)/.installed
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

refresh: $(VENV)/.installed  ## regenerate metric.lock, the config snapshots and the behaviour fingerprints
	$(BIN)/python scripts/refresh_baked_files.py

lock: $(VENV)/.installed  ## re-lock the bake's requirements.lock (PyPI) after changing its dependencies
	$(BIN)/python scripts/refresh_baked_files.py --lock

bench: $(VENV)/.installed  ## measure the speed claims on a fresh bake; writes docs/benchmarks.md
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build
