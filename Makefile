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

# the shipped image codecs in aekit/pretrained/: linear block codecs at 5 quality levels, grayscale and RGB side
# by side on one thread each (scikit-image's bundled photos are the training data, hence the bench extra)
pretrained: $(VENV)/.installed-bench
	$(PY) -m aekit.compression.pretrain --out aekit/pretrained --colors grayscale & gray=$$!; \
	$(PY) -m aekit.compression.pretrain --out aekit/pretrained --colors rgb; rgb=$$?; \
	wait $$gray && test $$rgb -eq 0

clean:
	rm -rf $(VENV) runs .pytest_cache
