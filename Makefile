# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first, pinned: this machine holds the 2.13.0 CPU wheel; an unpinned torch pulls gigabytes of CUDA.
TORCH := torch==2.13.0

.PHONY: demo test bench install install-test clean pretrained

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/aekit demo

test: $(VENV)/.installed-test
	$(PY) -m pytest -n 2 -q tests

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py

# the shipped image codecs in aekit/pretrained/: 8 codecs, about 7 min each on one busy CPU thread (~1 h in all)
pretrained: $(VENV)/.installed-test
	$(PY) -m aekit.compression.pretrain --out aekit/pretrained

clean:
	rm -rf $(VENV) runs .pytest_cache
