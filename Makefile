# The two commands of the README: `make demo` and `make test`.
# Both create .venv and install the CPU torch wheel first, so no CUDA build is pulled.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: setup demo test lint format browser clean gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,export]"
	touch $@

demo: setup
	$(VENV)/bin/lstm-probe demo $(DEMO_ARGS)

# Chromium and its driver come from Debian (browser tests); skipped when not root.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped"; fi; }

test: setup browser
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

# On a CUDA machine (a CUDA build of torch: `make setup TORCH=torch`): every scale-up figure next
# to its goal, in under 8 minutes (`lstm-probe bench gpu`; --quick runs its CPU path in CI).
gpu-check: setup
	$(VENV)/bin/lstm-probe bench gpu --device cuda --out gpu-check.json $(GPU_ARGS)

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache
