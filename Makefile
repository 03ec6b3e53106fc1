# Every target sets up what it needs; all are safe to run twice.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam
STAMP := $(VENV)/.installed
ENV ?= dev
PIPELINE ?= stedi

.PHONY: setup test test-fast demo up bench build validate deploy sync-pipelines asl clean

$(STAMP): requirements-dev.txt pyproject.toml
	@command -v python3.11 >/dev/null || { echo "python3.11 is required (Lambda python3.11, Glue 5.0)"; exit 1; }
	test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned tools and the lakehouse command

test: setup ## every test: unit, moto, ASL on moto, Glue on local Spark, SAM build, end-to-end (Docker too)
	bash local/with-docker $(PY) -m pytest

test-fast: setup ## the tests that need neither Spark, SAM build nor Docker
	$(PY) -m pytest -m "not spark and not docker and not slow"

demo: setup ## the whole pipeline locally on the bundled samples, no AWS account
	$(VENV)/bin/lakehouse demo --pipeline $(PIPELINE)

up: setup ## keep a local stack running (moto server) for aws --endpoint-url and sam local invoke
	$(VENV)/bin/lakehouse up

bench: build ## conversion benchmark (throughput, memory, cold start, bundle size) of the `sam build` output
	$(PY) bench/run.py

build: setup ## sam build (functions and layers into .aws-sam/build)
	$(SAM) build --parallel

validate: setup ## sam validate --lint (runs cfn-lint)
	$(SAM) validate --lint --region us-east-1

asl: setup ## regenerate statemachines/*.asl.json from pipelines/*/pipeline.yaml
	$(PY) -m lakehouse_local.asl

deploy: build ## sam deploy --config-env $(ENV), then upload pipelines/ for the Glue job
	$(SAM) deploy --config-env $(ENV)
	$(MAKE) sync-pipelines ENV=$(ENV)

sync-pipelines: ## upload pipelines/ (contracts, steps) to the stack's artifacts bucket
	@stack=$$(sed -n "/^\[$(ENV).deploy.parameters\]/,/^\[/s/^stack_name *= *\"\(.*\)\"/\1/p" samconfig.toml); \
	bucket=$$(aws cloudformation describe-stacks --stack-name $$stack \
	  --query "Stacks[0].Outputs[?OutputKey=='ArtifactsBucketName'].OutputValue" --output text); \
	aws s3 sync pipelines "s3://$$bucket/pipelines/" --delete --exclude "*/samples/*"

clean:
	rm -rf .aws-sam .lakehouse .pytest_cache
