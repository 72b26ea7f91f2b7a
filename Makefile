# coderag: `make demo` sets everything up and answers a question offline; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install system-deps demo test test-fast bench model docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU build, so nothing pulls CUDA wheels.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test,postgres,mysql,duckdb]"
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser tests, PostgreSQL and MariaDB for the engine tests (the tests
# start their own servers on a private port; root only; otherwise those tests skip and say why).
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: install
	$(BIN)/coderag ask "Which 5 authors sold the most books in 2024?" --db bookshop

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: install system-deps
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

# The docs site (MkDocs Material, mkdocs.yml): --strict fails on a broken link or anchor.
docs: install
	$(BIN)/mkdocs build --strict --site-dir build/site

# The fast lane: every test that needs no model, index, LLM runtime, database server or browser
# (markers slow, server, browser; tests/conftest.py marks tests by the fixtures they use), on every core.
test-fast: install
	$(BIN)/python -m pytest -m "not slow and not server and not browser" -q -n auto

bench: install
	$(BIN)/python benchmarks/bench_retrieval.py

# The shipped retriever, rag/data/model/ (README "Embedder"): every synthetic triplet of the bundled
# train split (hard negatives mined with all-MiniLM-L6-v2), one epoch of fine-tuning from it, the
# per-token int8 export, then the pack with its record (these commands, data fingerprint, metrics).
# About an hour on 2 CPU cores. Work files go to $(MODEL_WORK); your own models and indexes are untouched.
MODEL_WORK ?= build/model
MODEL_ENV = CODERAG_HOME=$(MODEL_WORK)/home CODERAG_EMBEDDER__MODEL=bundled CODERAG_EMBEDDER__BACKEND=torch
MODEL_SYNTH = coderag synth --all --quiet --out $(MODEL_WORK)/all_triplets.csv
MODEL_TRAIN = coderag embedder finetune --base bundled --data $(MODEL_WORK)/all_triplets.csv --epochs 1 --save-steps 50 --out $(MODEL_WORK)/finetuned --overwrite
MODEL_EXPORT = coderag embedder export-onnx --model $(MODEL_WORK)/finetuned --quantize int8
model: install
	$(MODEL_ENV) $(BIN)/$(MODEL_SYNTH)
	$(MODEL_ENV) $(BIN)/$(MODEL_TRAIN)
	$(MODEL_ENV) $(BIN)/$(MODEL_EXPORT)
	$(MODEL_ENV) $(BIN)/coderag embedder pack --model $(MODEL_WORK)/finetuned --out rag/data/model \
		--command "$(MODEL_ENV) $(MODEL_SYNTH)" --command "$(MODEL_ENV) $(MODEL_TRAIN)" --command "$(MODEL_ENV) $(MODEL_EXPORT)"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
