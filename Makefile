# slife: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
# CPU machines take the local CPU wheel; GPU users override, e.g. make demo TORCH_SPEC="torch==2.5.1"
TORCH_SPEC ?= torch==2.13.0
DEMO_ARGS ?=
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.slife-installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/slife study configs/study_demo.yaml --out demo_out $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/concurrent_train.py
	$(BIN)/python bench/dataloader.py
	$(BIN)/python bench/align_cas.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/diagnose_shift.py

clean:
	rm -rf $(VENV) demo_out
