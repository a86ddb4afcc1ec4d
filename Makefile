# Thin wrapper: set-up plus one CLI verb per target. `make serve` and `make test` are the two commands.
#
# Set-up by need: the Python part (a venv and pip) is all that `notebooks`, `lab` and `check` need;
# the Node part (npm ci: KaTeX and reveal.js from the npm registry) is added only for targets that
# build the site (site, serve, test, test-fast, slides-pdf, bench).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
LAB_STAMP  := $(VENV)/.installed-lab
# PyPI's Linux torch wheel is the CUDA build (several GB): on Linux, install the pinned torch from the CPU
# index first, as the Pages workflow does. `make TORCH_INDEX=` skips that (PyPI's build then); another URL
# picks another index. An index that cannot be reached is reported and PyPI's build installed instead.
TORCH_PIN   := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml | head -n 1)
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),https://download.pytorch.org/whl/cpu,)

.PHONY: install site serve test test-fast check sweep notebooks lab slides-pdf bench bench-tv clean

# Python only: the venv, the pinned packages and paperclub itself
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet --timeout 20 --retries 0 '$(TORCH_PIN)' --index-url '$(TORCH_INDEX)' \
	  || echo "make: $(TORCH_INDEX) cannot be reached: torch comes from the default index (on Linux, the CUDA build)" >&2)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Node only, for the site: front-end files copied into it at build time (never loaded from a CDN)
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: building the site needs Node.js and npm (for KaTeX and reveal.js);" \
	  "running the notebooks does not: 'make notebooks' or 'make lab'" >&2; exit 1; }
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

# JupyterLab, an optional extra (not needed to build the site)
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,lab]'
	touch $(LAB_STAMP)

install: $(STAMP) $(NODE_STAMP)

site: $(STAMP) $(NODE_STAMP)
	$(BIN)/paperclub build

# serves site/ and rebuilds on every saved edit (the open page reloads); --no-watch serves it as it is
serve: site
	$(BIN)/paperclub serve --port 8000

# every notebook at seeds 0..4 (cached; seed 0 is the page's run), then the site with the seed ranges
sweep: $(STAMP) $(NODE_STAMP)
	$(BIN)/paperclub sweep
	$(BIN)/paperclub build

# fast tests in two workers (one thread each), then the slow tier in two workers: one builds the site
# once and runs the end-to-end and browser tests on it, the other runs the self-contained notebooks and
# the notebook-sized claim tests
test: $(STAMP) $(NODE_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow" -n 2 -q
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m slow -n 2 --dist loadgroup -q

test-fast: $(STAMP) $(NODE_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow" -n 2 -q

check: $(STAMP)
	$(BIN)/paperclub check

# paired notebooks/<slug>.ipynb for Jupyter or VS Code: Python only, no Node.js
notebooks: $(STAMP)
	$(BIN)/paperclub notebooks

# JupyterLab on notebooks/ (installs the `lab` extra once): Python only, no Node.js
lab: $(LAB_STAMP)
	$(BIN)/paperclub notebooks
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks

slides-pdf: site
	$(BIN)/paperclub slides-pdf

# budgets and side-by-side comparisons; writes docs/performance.md (run on a quiet machine)
bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/loop.py

# optional second environment for the timm / open_clip comparisons (torchvision cannot sit beside torch 2.13)
bench-tv:
	test -x .venv-bench-tv/bin/python || $(PYTHON) -m venv .venv-bench-tv
	.venv-bench-tv/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1 timm==1.0.31 open-clip-torch==3.3.0 numpy==2.4.6

clean:
	rm -rf build site
