# The two commands of the README: `make test` and `make demo`.
# Each sets up everything it needs by itself: Debian packages (graphviz,
# Fashion-MNIST) through apt-get when missing, then a virtual environment
# in .venv with the package and its test tools.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test test-slow test-oldest-numpy demo bench lint setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,plot,progress]'
	touch $@

test: setup
	$(PY) -m pytest -q

# Tests marked `slow` (e.g. the sdist's own tests collected from the unpacked sdist); exit status 5 means none were collected.
test-slow: setup
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]

# The whole suite on the oldest numpy that pyproject.toml allows (numpy>=X installs numpy==X),
# in a second virtual environment, .venv-oldest-numpy.
OLDEST_NUMPY = $(shell grep -o '"numpy>=[0-9.]*"' pyproject.toml | tr -d '"' | sed 's/>=/==/')
test-oldest-numpy: setup
	$(PYTHON) -m venv .venv-oldest-numpy
	.venv-oldest-numpy/bin/python -m pip install --quiet --disable-pip-version-check '$(OLDEST_NUMPY)' '.[dev,plot,progress]'
	.venv-oldest-numpy/bin/python -c 'import numpy; print("numpy", numpy.__version__)'
	.venv-oldest-numpy/bin/python -m pytest -q -p no:cacheprovider

# The chain-rule and tiny-CNN tables, their drawings and step-through pages, the page of a filter
# learning a Sobel kernel, then the default CNN trained on Fashion-MNIST for five epochs (results,
# checkpoint and curves in runs/demo; its first 20 steps as a training page; its conv1 filters
# before and after training as a picture).
demo: setup
	$(PY) examples/chain_rule.py --out-dir runs/demo
	$(PY) -m tinygrad_cnn graph --example chain-rule --html -o runs/demo/chain_rule_steps.html
	$(PY) examples/tiny_cnn.py --out-dir runs/demo
	$(PY) examples/learn_a_filter.py --out-dir runs/demo
	$(PY) -m tinygrad_cnn train --epochs 5 --out runs/demo/fashion-mnist --overwrite \
		--watch runs/demo/fashion-mnist/first_steps.html
	$(PY) examples/conv1_filters.py --checkpoint runs/demo/fashion-mnist/checkpoint.npz \
		--out runs/demo/fashion-mnist/conv1_filters.png

# bench_summary prints the README's speed table (ours / PyTorch, one interleaved
# run; --epoch adds a Fashion-MNIST epoch of each); profile_step shows where a
# LeNet step's time goes, op by op; the others go into detail.
bench: setup
	$(PY) benchmarks/bench_summary.py --runs 3 --epoch
	$(PY) benchmarks/profile_step.py --chain
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_conv.py
	$(PY) benchmarks/bench_lenet.py

# ruff's style rules, then mypy's type checks of the package (settings in pyproject.toml).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .venv-oldest-numpy .pytest_cache .mypy_cache build *.egg-info
