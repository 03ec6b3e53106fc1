# Every target sets up what it needs; all are safe to run twice.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam
STAMP := $(VENV)/.installed
ENV ?= dev
PIPELINE ?= retail stedi weblogs

.PHONY: setup test test-fast lint demo up bench build generate validate deploy clean

$(STAMP): requirements-dev.txt pyproject.toml local/lakehouse_local/jars.py
	@command -v python3.11 >/dev/null || { echo "python3.11 is required (Lambda python3.11, Glue 5.0)"; exit 1; }
	test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -qq --disable-pip-version-check --no-deps --no-build-isolation -e .  # pinned setuptools; -qq: no backend notices
	$(PY) -m lakehouse_local.jars > /dev/null  # Iceberg and S3A jars for local Spark, from Maven Central, once
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned tools (AWS CLI and SAM CLI included), the lakehouse command and Spark's jars

test: setup lint ## every test: lint, unit, moto, state machines, Glue on local Spark, Athena steps, SAM build, Docker
	bash local/with-docker $(PY) -m pytest -n 2 --dist loadfile  # two workers, each test file on one of them

test-fast: setup ## the tests that need neither Spark, SAM build nor Docker
	$(PY) -m pytest -m "not spark and not docker and not slow"

lint: setup ## ruff and mypy over the library, the functions, the local emulation, the tests and the bench
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

demo: setup ## the example pipelines locally on their bundled samples, no AWS account (PIPELINE=stedi: one)
	$(VENV)/bin/lakehouse demo $(addprefix --pipeline ,$(PIPELINE))

up: setup ## keep a local stack running (moto server) for the lakehouse commands, aws --endpoint-url, sam local invoke
	$(VENV)/bin/lakehouse up

bench: build ## conversion benchmark (speed, CPU-seconds and Lambda $/TB, memory, cold start, bundle size); fails when a target is missed
	$(PY) bench/run.py

generate: setup ## statemachines/*.asl.json and template.yaml's generated blocks, from pipelines/
	$(VENV)/bin/lakehouse generate

build: generate ## sam build (functions and layers into .aws-sam/build)
	$(SAM) build --parallel

validate: setup ## sam validate --lint (runs cfn-lint)
	$(SAM) validate --lint --region us-east-1

deploy: build ## sam build && sam deploy --config-env $(ENV): the layers carry the pipelines to Lambda and Glue
	$(SAM) deploy --config-env $(ENV)

clean:
	rm -rf .aws-sam .lakehouse .pytest_cache .mypy_cache .ruff_cache
