# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv (Python 3.11 preferred) and install the pinned set into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tfvae-installed
RUN    ?= runs/demo

.PHONY: demo test test-fast install data clean bench bench-peers

install: $(STAMP)

$(STAMP): setup.py requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[test]"
	touch $(STAMP)

# The demo is a run configuration, trained and exported by the `tfvae` command. It owns
# $(RUN): --overwrite replaces the previous demo's files there, and only those.
# Quick run: make demo EPOCHS=1 DEMO_FLAGS="--max-train-examples 256"
TFVAE      ?= $(VENV)/bin/tfvae
EPOCHS     ?=
DEMO_FLAGS ?=
demo: $(STAMP)
	$(TFVAE) train --config examples/demo.yaml --out $(RUN) --overwrite \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(DEMO_FLAGS)
	$(TFVAE) export --model $(RUN)/model.keras --format savedmodel \
		--out $(RUN)/decoder_savedmodel --overwrite
	$(TFVAE) export --model $(RUN)/model.keras --format tflite \
		--out $(RUN)/decoder.tflite --overwrite
	$(TFVAE) export --model $(RUN)/model.keras --format tflite --quantize int8 \
		--out $(RUN)/decoder_int8.tflite --overwrite

test: $(STAMP)
	$(PY) -m pytest -q -ra --durations=10 tests

# The unit tests: no subprocess, TFLite conversion, XLA compile or multi-epoch
# training (those are marked `slow` in tests/); under a minute on 2 cores.
test-fast: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow" --durations=10 tests

# The speed benchmarks, short settings (the README gives the full commands).
# Uses Debian's Fashion-MNIST when installed (`make data`), else the embedded default.
FASHION := $(wildcard /usr/share/datasets/fashion-mnist)
bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py --quick $(if $(FASHION),--data $(FASHION))
	$(PY) benchmarks/layer_kernels.py
	$(PY) benchmarks/is_speed.py
	$(PY) benchmarks/export.py

# tfvae against its PyTorch twins (benchmarks/peers/run.py). torch is a benchmark-only
# dependency, in its own venv: the CPU build (PyTorch's default Linux wheel pulls GPU
# libraries). pip takes `torch==2.13.0+cpu` from a local wheel where one lies on disk;
# elsewhere pass TORCH_INDEX=<an index that serves the +cpu wheels>.
PEERS_VENV  := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.peers-installed
PEERS_DATA  ?=
PEERS_ARGS  ?=
TORCH_INDEX ?=

$(PEERS_STAMP): requirements.lock
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q -c requirements.lock \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "torch==2.13.0+cpu" numpy
	touch $(PEERS_STAMP)

bench-peers: $(STAMP) $(PEERS_STAMP)
	@test -n "$(PEERS_DATA)" || { echo "bench-peers: pass PEERS_DATA=path/to/binarized_mnist.npz" \
		"(keys train/valid/test, uint8 0/1)"; exit 2; }
	$(PY) benchmarks/peers/run.py --data $(PEERS_DATA) \
		--torch-python $(PEERS_VENV)/bin/python $(PEERS_ARGS)

# Optional: the full Fashion-MNIST from Debian (needs root and apt).
data:
	apt-get install -y dataset-fashion-mnist

clean:
	rm -rf runs .pytest_cache
