# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv (Python 3.11 preferred) and install the pinned set into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tfvae-installed
RUN    ?= runs/demo

.PHONY: demo test test-fast install data clean bench

install: $(STAMP)

$(STAMP): setup.py requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tfvae.demo --out $(RUN)

test: $(STAMP)
	$(PY) -m pytest -q -ra tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow" tests

# The speed benchmarks, short settings (the README gives the full commands).
# Uses Debian's Fashion-MNIST when installed (`make data`), else the embedded default.
FASHION := $(wildcard /usr/share/datasets/fashion-mnist)
bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py --quick $(if $(FASHION),--data $(FASHION))
	$(PY) benchmarks/layer_kernels.py
	$(PY) benchmarks/is_speed.py
	$(PY) benchmarks/export.py

# Optional: the full Fashion-MNIST from Debian (needs root and apt).
data:
	apt-get install -y dataset-fashion-mnist

clean:
	rm -rf runs .pytest_cache
