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

.PHONY: run test install lint bench clean-data server pools deploy worker worker-gpu automations docs test-jax gpu-carry

# A local Prefect server for the deployments (UI on http://$(PREFECT_HOST):$(PREFECT_PORT)).
PREFECT_HOST ?= 127.0.0.1
PREFECT_PORT ?= 4200
API_URL := http://$(PREFECT_HOST):$(PREFECT_PORT)/api
PREFECT := PREFECT_API_URL=$(API_URL) $(BIN)/prefect

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

# Keras' JAX backend on CPU: the neural models, the training recipe, and .keras files
# saved under TensorFlow loaded under JAX and back (issue 16). Installs the jax extra once.
JAX_STAMP := $(VENV)/.seqcast-jax-installed
JAX_TESTS ?= tests/test_neural_models.py tests/test_training.py tests/test_backend_portability.py \
	tests/test_model_conformance.py
JAX_SELECT ?= not slow and not (test_model_conformance and not fit_returns_self and not save_load) \
	and not sarima and not ets and not naive
$(JAX_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,jax]'
	touch $(JAX_STAMP)

test-jax: $(JAX_STAMP)  ## the neural tests under KERAS_BACKEND=jax on CPU (~5 min)
	KERAS_BACKEND=jax JAX_PLATFORMS=cpu $(BIN)/python -m pytest -p no:cacheprovider \
		-k '$(JAX_SELECT)' $(JAX_TESTS) $(ARGS)

gpu-carry: $(STAMP)  ## wheels and CTA data for benchmarks/gpu_check.sh on a GPU machine
	$(BIN)/python benchmarks/gpu_carry.py

lint: $(STAMP)
	$(BIN)/ruff check seqcast tasks flows tests benchmarks

bench: $(STAMP)  ## speed figures (minutes; never part of the tests)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-data:  ## remove everything the pipeline wrote under ./data (keeps data/README.md)
	find data -mindepth 1 -maxdepth 1 ! -name README.md ! -name mappings -exec rm -rf {} +

DOCS_PORT ?= 8765
docs: $(STAMP)  ## serve the Great Expectations Data Docs of ./data on http://127.0.0.1:$(DOCS_PORT) (works offline)
	$(BIN)/seqcast docs serve --data-dir data --port $(DOCS_PORT)

server: $(STAMP)  ## start a local Prefect server; UI on http://127.0.0.1:4200 (keep it running)
	PREFECT_UI_API_URL=$(API_URL) $(BIN)/prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT)

pools: $(STAMP)  ## create the cpu and gpu process work pools (idempotent)
	$(PREFECT) work-pool create cpu --type process --overwrite
	$(PREFECT) work-pool create gpu --type process --overwrite

deploy: $(STAMP)  ## register every deployment of deployments/prefect.yaml, with schedules
	$(PREFECT) --no-prompt deploy --all --prefect-file deployments/prefect.yaml

automations: $(STAMP)  ## create/update the automations (retrain on drift) after make deploy
	PREFECT_API_URL=$(API_URL) $(BIN)/python deployments/automations.py

worker: $(STAMP)  ## a worker for the cpu pool
	$(PREFECT) worker start --pool cpu

worker-gpu: $(STAMP)  ## a worker for the gpu pool (on a host with a GPU)
	$(PREFECT) worker start --pool gpu
