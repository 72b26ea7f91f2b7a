# coderag: `make demo` sets everything up and answers a question offline; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install system-deps demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU build, so nothing pulls CUDA wheels.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser tests (root only; otherwise those tests skip and say why).
system-deps:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

demo: install
	$(BIN)/coderag ask "Which 5 authors sold the most books in 2024?" --db bookshop

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: install system-deps
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: install
	$(BIN)/python benchmarks/bench_retrieval.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
