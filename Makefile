# Two commands for users: `make run` (every figure) and `make test` (the suite).
# Both create .venv with the pinned dependencies the first time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all
# Optional package index for torch alone, e.g. PyTorch's CPU-only wheels on a
# Linux x86_64 machine without a GPU: make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Empty (the default): torch comes from PyPI with everything else.
TORCH_INDEX ?=
TORCH_PIN := $(shell grep -m1 '^torch==' requirements.txt)

.PHONY: run test lint slurm-deps report-deps docs bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet --no-compile --index-url $(TORCH_INDEX) "$(TORCH_PIN)")
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@# pip compiles one file at a time (about 20 s here); compileall on every core takes 3 s.
	@# A few of torch's test files are Python 3.12 syntax and do not compile: pip skips them too.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

# pytest on one worker a core (pytest-xdist), a test file to a worker at a time, in
# the order tests/conftest.py gives (the longest first).
test: $(STAMP) lint slurm-deps report-deps
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

# The Slurm test needs Debian's slurm-wlm. CI (CI=true, root) installs it when
# missing; elsewhere the test is skipped with a message saying what to install.
slurm-deps:
	@if [ "$$CI" = true ] && ! command -v slurmctld >/dev/null && ! test -x /usr/sbin/slurmctld; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null; \
	fi

# The report test opens the Snakemake report in headless Chromium (Debian's chromium),
# installed the same way: by CI when missing, else the test is skipped with a message.
report-deps:
	@if [ "$$CI" = true ] && ! command -v chromium >/dev/null && ! test -x /usr/bin/chromium; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# Refresh the README's rule graph, figure thumbnails and result tables from results/.
docs: $(STAMP)
	$(BIN)/snakemake --rulegraph | dot -Tsvg > docs/rulegraph.svg
	$(BIN)/python docs/thumbnails.py
	$(BIN)/python docs/readme_tables.py

# Cold-run wall and CPU time of the whole workflow (two cold runs), and the CPU per
# rule, recorded in benchmarks/cost.json (make docs prints it in README.md and docs/results.md).
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py all --cores 2 --runs 2 --record benchmarks/cost.json

clean:
	rm -rf results .snakemake
