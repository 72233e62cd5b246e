# Two entry points (README): `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.netscale-installed

.PHONY: demo test test-avx2 lint docs clean

# torch and torchvision are pinned first so pip takes the builds this machine holds
# (see README, "Installing"); everything else comes from pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/netscale study run --example anynet-digits --out runs/anynet-digits --workers 2

test: $(STAMP)
	$(BIN)/ruff check netscale tests scripts benchmarks
	$(BIN)/ruff format --check netscale tests scripts benchmarks
	$(BIN)/python -m pytest -q -n 2

# The suite on torch's AVX2 code paths (what an AVX2-only CPU runs), for a CPU with bf16
# units; .ci/run runs it after `test` there.
test-avx2: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/python -m pytest -q -n 2

docs: $(STAMP)
	$(BIN)/python scripts/models_table.py > docs/models.md
	$(BIN)/python scripts/scaling_doc.py

clean:
	rm -rf $(VENV) build *.egg-info
