# Two commands on a fresh machine: `make demo` (set up + run the main job) and `make test` (set up + pass the tests).
# Each target installs the extras it needs (pyproject.toml), once: `make demo` the local prototype, `make test` all.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAM    := $(VENV)/tools/sam

.PHONY: install sam demo test lab schedule bench clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; constraints.txt pins the versions this project was tested with.
	$(BIN)/pip install --quiet torch==2.13.0

# .venv/.installed-EXTRA: the package installed (editable) with that extra, e.g. .venv/.installed-local.
$(VENV)/.installed-%: pyproject.toml constraints.txt | $(BIN)/pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[$*]'
	touch $@

install: $(VENV)/.installed-dev

# aws-sam-cli pins boto3, click and pydantic exactly: its own virtualenv keeps the workbench's versions intact.
$(SAM)/bin/sam: tools/sam-requirements.txt
	$(PYTHON) -m venv $(SAM)
	$(SAM)/bin/pip install --quiet -r tools/sam-requirements.txt

sam: $(SAM)/bin/sam

demo: $(VENV)/.installed-local
	$(BIN)/workbench demo

test: $(VENV)/.installed-dev $(SAM)/bin/sam
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2

lab: $(VENV)/.installed-notebooks
	$(BIN)/python -m ipykernel install --user --name agent-workbench --display-name "Agent Workbench"
	$(BIN)/jupyter lab notebooks/

# The nightly evaluation: notebooks/02_evaluate.ipynb through papermill, attached to its MLflow run.
schedule: $(VENV)/.installed-notebooks
	$(BIN)/workbench schedule

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/ingest_throughput.py
	$(BIN)/python benchmarks/sweep_vs_single.py

clean:
	rm -rf .workbench mlruns
