# The two commands a newcomer needs: `make run` and `make test`.
# Both create the virtualenv and install the package with its dev extra first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run demo test docs bench lint install clean

## run: local broker + database, and the worker polling live Binance (Ctrl-C stops all)
run: $(STAMP)
	@echo "cryptoflow: dashboard at http://127.0.0.1:6066/ once the worker is ready"
	$(BIN)/python -m cryptoflow.devstack.localstack --data-dir .cryptoflow -- \
		$(BIN)/faust -A cryptoflow worker -l info

## demo: the same, but against the simulated exchange (no internet needed), with its
## own data (.cryptoflow-demo, database fx_demo) so simulated prices never mix with real ones;
## live statistics at http://127.0.0.1:6066/api/stats/
demo: $(STAMP)
	@echo "cryptoflow demo: dashboard at http://127.0.0.1:6066/ (JSON under /api/) once ready"
	$(BIN)/python -m cryptoflow.devstack.localstack --data-dir .cryptoflow-demo --simulated-exchange 8081 -- \
		$(BIN)/faust -A cryptoflow worker -l info

## test: ruff, mypy (setup.cfg [mypy]: cryptoflow with agents/ and tables/, and bench),
## the docs site built --strict (a broken link or page fails; into the ignored build/site),
## then the whole test suite (unit + integration on the local stack)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site
	$(BIN)/pytest

## docs: the documentation site at http://127.0.0.1:8000/, rebuilt on every change
## (mkdocs serve; the settings table is generated from cryptoflow/settings.py)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

## bench: the benchmarks (a few minutes; nothing else should run meanwhile), by hand only
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --out bench/RESULTS.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) .cryptoflow .cryptoflow-demo cryptoflow-data build dist site *.egg-info
