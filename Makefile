# Two commands on a fresh machine:
#   make demo   install, bake a project with the default answers, train it (fast profile)
#   make test   install (Debian's slurm-wlm and munge too), then run every template test
# Everything lives in one virtual environment; research-rigor, the library every bake
# depends on, is installed from this checkout (editable) until it is released.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_DIR := build/demo

.PHONY: demo test lint system-packages refresh lock bench clean

# tests/test_slurm.py runs a one-node SLURM cluster: Debian's slurm-wlm and munge, installed
# once per machine with apt-get (through sudo when not root). Without apt-get, install SLURM
# and munge yourself; the SLURM tests fail in one line while they are missing.
SLURM_DAEMONS := /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged
SYSTEM_PACKAGES := slurm-wlm munge
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

# Two workers, one test module each at a time (its fixtures are built once): one module's
# downloads, daemons and waits overlap another's training. CI has two cores.
TEST_WORKERS ?= 2

test: $(VENV)/.installed lint system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

system-packages:
	@if ! ls $(SLURM_DAEMONS) >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null; then \
			echo "Installing $(SYSTEM_PACKAGES) for tests/test_slurm.py: $(strip $(SUDO) apt-get) install"; \
			$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			echo "warning: no apt-get: install SLURM and munge, or tests/test_slurm.py fails" >&2; \
		fi; \
	fi

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
