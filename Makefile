# Two commands on a fresh clone: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format bench soak fuzz docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp per extras set, remade when pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[sidecar,postgres]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/prefcenter init
	$(BIN)/prefcenter serve

lint: $(VENV)/.dev-installed
	$(BIN)/ruff format --check src tests bench examples tools
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/mypy
	$(BIN)/mypy --explicit-package-bases tests bench examples tools
	$(BIN)/lint-imports

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests bench examples tools
	$(BIN)/ruff check --fix src tests bench examples tools

# Two workers, one test file each at a time (module fixtures stay in one process): most
# tests wait on sockets, servers and disks, so the suite takes about 7 minutes instead of 11.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

soak: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q -m soak --run-soak tests/reliability

fuzz: $(VENV)/.dev-installed
	$(BIN)/python -m pip install -q atheris
	$(BIN)/python bench/fuzz_inbound.py -max_total_time=120

docs: $(VENV)/.dev-installed
	$(BIN)/python -m tools.docs_config
	$(BIN)/python -m tools.docs_api

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
