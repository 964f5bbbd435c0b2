# Newcomers run `make setup` once, then `make test` or `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-nld poppler-utils fonts-dejavu-core
KERNEL_NAME := docling-runbook

.PHONY: setup system-packages test demo lint clean

setup: system-packages $(VENV)/.installed

# Installs the Debian packages the service and tests need, and only when one is missing.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Reinstalls the project only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "Docling runbook (.venv)" >/dev/null
	touch $@

test: setup
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/runbook run --target local

clean:
	rm -rf .runbook runs .pytest_cache
