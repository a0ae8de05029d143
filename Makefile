# Two commands for users: `make run` (every figure) and `make test` (the suite).
# Both create .venv with the pinned dependencies the first time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= 4

.PHONY: run test lint docs bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

test: $(STAMP) lint
	$(BIN)/python -m pytest

# Refresh the README's rule graph and figure thumbnails from results/.
docs: $(STAMP)
	$(BIN)/snakemake --rulegraph | dot -Tsvg > docs/rulegraph.svg
	$(BIN)/python docs/thumbnails.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py exp3
	$(BIN)/python benchmarks/run.py all

clean:
	rm -rf results .snakemake
