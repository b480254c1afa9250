# Two commands on a fresh machine: `make demo` (set up + run the main job) and `make test` (set up + pass the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAM    := $(VENV)/tools/sam

.PHONY: install sam demo test lab schedule bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; constraints.txt pins the versions this project was tested with.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# aws-sam-cli pins boto3, click and pydantic exactly: its own virtualenv keeps the workbench's versions intact.
$(SAM)/bin/sam: tools/sam-requirements.txt
	$(PYTHON) -m venv $(SAM)
	$(SAM)/bin/pip install --quiet -r tools/sam-requirements.txt

sam: $(SAM)/bin/sam

demo: $(STAMP)
	$(BIN)/workbench demo

test: $(STAMP) $(SAM)/bin/sam
	$(BIN)/pytest -n 2

lab: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name agent-workbench --display-name "Agent Workbench"
	$(BIN)/jupyter lab notebooks/

# The nightly evaluation: notebooks/02_evaluate.ipynb through papermill, attached to its MLflow run.
schedule: $(STAMP)
	$(BIN)/workbench schedule

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_throughput.py
	$(BIN)/python benchmarks/sweep_vs_single.py

clean:
	rm -rf .workbench mlruns
