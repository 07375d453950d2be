# imagekit — the two quick-start commands are `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast man lint bench clean

setup:
	@scripts/setup.sh

# The main job on its embedded default (see README "Quick start").
demo: setup
	@scripts/demo.sh

# The whole test suite, slow and appliance tests included (what CI runs).
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Only the tests that need neither the appliance nor DIB nor the devcloud.
test-fast: setup
	$(PY) -m pytest -m "not guestfs and not slow" $(PYTEST_ARGS)

man: setup
	$(PY) -m imagekit.cli.manpage man

lint: setup
	$(PY) -m ruff check imagekit tests bench

bench: setup
	$(PY) bench/retarget.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
