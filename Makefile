# Two commands from a fresh clone: `make run` (the nightly job on the embedded data)
# and `make test` (the test suite). Both create or reuse ./.venv and install what they need.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.seqcast-installed
ARGS    ?=

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export TF_ENABLE_ONEDNN_OPTS ?= 0
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test install lint bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## run the nightly pipeline once on the embedded default data
	$(BIN)/seqcast run $(ARGS)

test: $(STAMP)  ## run the test suite
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check seqcast tasks flows tests benchmarks

bench: $(STAMP)  ## speed figures (minutes; never part of the tests)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-data:  ## remove everything the pipeline wrote under ./data (keeps data/README.md)
	find data -mindepth 1 -maxdepth 1 ! -name README.md ! -name mappings -exec rm -rf {} +
