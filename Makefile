# The two commands of the README: `make demo` and `make test`.
# Both create .venv and install the CPU torch wheel first, so no CUDA build is pulled.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: setup demo test test-teacher lint format browser clean gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,export]"
	touch $@

demo: setup
	$(VENV)/bin/lstm-probe demo $(DEMO_ARGS)

# Chromium and its driver (browser tests) and poppler-utils (pdftotext/pdffonts: the PDF export
# test) come from Debian; skipped when not root.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  command -v pdftotext >/dev/null && command -v pdffonts >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium chromium-driver poppler-utils >/dev/null; \
	  else echo "chromium or poppler-utils missing: browser and PDF tests will be skipped"; fi; }

test: setup browser
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The teacher tests (docs/real-footage.md) in their own virtualenv: the teacher extra pulls
# MediaPipe, JAX and a second OpenCV wheel, which `make test`'s .venv does without (there these
# tests skip and say why). The real clip is fetched once into ~/.cache/lstm-probe.
VENV_TEACHER := .venv-teacher

$(VENV_TEACHER)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_TEACHER)
	$(VENV_TEACHER)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_TEACHER)/bin/python -m pip install --quiet "$(TORCH)"
	$(VENV_TEACHER)/bin/python -m pip install --quiet -e ".[dev,teacher]"
	touch $@

test-teacher: $(VENV_TEACHER)/.installed
	$(VENV_TEACHER)/bin/python -m pytest -q -rs tests/test_teacher.py tests/test_domain.py $(PYTEST_ARGS)

# On a CUDA machine (a CUDA build of torch: `make setup TORCH=torch`): every scale-up figure next
# to its goal, in under 8 minutes (`lstm-probe bench gpu`; --quick runs its CPU path in CI).
gpu-check: setup
	$(VENV)/bin/lstm-probe bench gpu --device cuda --out gpu-check.json $(GPU_ARGS)

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(VENV_TEACHER) demo_output .pytest_cache .ruff_cache
