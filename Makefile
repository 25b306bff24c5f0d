# swast-bench: `make table1` builds the paper's Table 1 (smoke scale by default), `make test` runs the tests.
# Both create .venv and install the project into it first (once; again when pyproject.toml changes).
#
#   make table1                                                   smoke scale: digits, a 2-core CPU, offline
#   make table1 SCALE=paper EXECUTOR=slurm CLUSTER=slurm/example.gin   the paper's grid, 5 seeds, on a cluster

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

SCALE    ?= smoke
EXECUTOR ?= local
CLUSTER  ?=
# the CIFAR-10 JPEG copy that SCALE=cpu trains on, extracted once into data/cifar10-jpg
CIFAR10_JPG ?= ../shared/data/cifar10-jpg.tar.gz
SUITES   := table1 table2 table3 table4 table5 preservation readings fig4 fig5 fig6 fig7
SUITE_FLAGS = --scale $(SCALE) --executor $(EXECUTOR) $(if $(CLUSTER),--cluster $(CLUSTER),)

.PHONY: install smoke test test-fast lint bench bench-gpu bench-pruners bench-selectors clean slurm-up slurm-down slurm-status tables \
	figures fig1 wandb-sync $(SUITES)

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

smoke: install  ## one SWaST-cut run on scikit-learn's digits, seconds on a CPU, offline
	$(PY) -m harness.run gin/digits/swast_cut.gin

$(SUITES): install $(if $(filter cpu,$(SCALE)),data/cifar10-jpg)  ## run a suite's missing runs, wait, write results/tables/<suite>.{md,tex} or results/figures/<suite>.*
	$(PY) -m benchmarks run $@ $(SUITE_FLAGS) --wait
	$(PY) -m benchmarks collect $@ --scale $(SCALE)

data/cifar10-jpg:  ## the class-per-folder CIFAR-10 copy that SCALE=cpu reads (from $(CIFAR10_JPG))
	@test -f $(CIFAR10_JPG) || { echo "no CIFAR-10 copy at $(CIFAR10_JPG): set CIFAR10_JPG=path/to/cifar10-jpg.tar.gz"; exit 2; }
	rm -rf $@.partial && mkdir -p $@.partial && tar -xzf $(CIFAR10_JPG) -C $@.partial && mv $@.partial $@

tables: table1 table2 table3 table4 table5  ## the paper's five tables

fig1: install  ## the polynomial-interpolation study (computed, no runs): results/figures/fig1.{png,pdf,csv}
	$(PY) -m benchmarks.fig1

figures: fig1 fig4 fig5 fig6 fig7  ## the paper's figures, in results/figures/

wandb-sync: install  ## upload the offline W&B runs under results/runs (after `wandb login`)
	@runs="$$(ls -d results/runs/*/wandb/offline-run-* 2>/dev/null)"; \
	if [ -z "$$runs" ]; then echo "no offline W&B runs under results/runs"; else $(VENV)/bin/wandb sync $$runs; fi

test: install  ## every test, the slow end-to-end ones included, one worker process per CPU core
	$(PY) -m pytest -m "slow or not slow" -n auto

test-fast: install  ## the fast tests only (seconds)
	$(PY) -m pytest

slurm-up:  ## as root on Debian: install, configure and start a one-node SLURM cluster on this machine (idempotent)
	bash slurm/local-cluster.sh up

slurm-down:  ## stop the one-node SLURM cluster's daemons
	bash slurm/local-cluster.sh down

slurm-status:  ## what the one-node SLURM cluster runs; fails when it is not ready
	bash slurm/local-cluster.sh status

lint: install
	$(PY) -m ruff check .

bench: install  ## the training loop, probe pass and launching against bare PyTorch: results/bench/speed.json
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(PY) -m benchmarks speed

bench-gpu: install  ## the paper's Table 2 run (ResNet-101, 300 epochs) timed on this machine's GPU: results/bench/table2_time.json
	$(PY) -m benchmarks speed --table2

bench-pruners: install  ## CPU time per training step of each pruner relative to no pruning (minutes)
	$(PY) -m benchmarks.pruner_speed

bench-selectors: install  ## selection time of every selector on CIFAR-shaped probes, and the probe pass
	$(PY) -m benchmarks.selector_speed

clean:
	rm -rf $(VENV) results/runs results/tables results/figures results/bench
