# The two commands of the README. Each sets up what it needs on a fresh Debian/Ubuntu machine:
#   make book   the Python environment (.venv from requirements.txt), then the book into _build/html
#   make test   the same environment and Debian's Chromium (for the site tests), then every test
# The data sets are read from $RESNET_COURSE_DATA, or from ../shared/data beside the checkout.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.requirements-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: book test chromium clean

book: $(READY)
	$(BIN)/jupyter-book build -W -n --keep-going .

test: $(READY) chromium
	$(BIN)/python -m pytest

# (Re)install whenever requirements.txt or the package's metadata changes.
$(READY): requirements.txt pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# The site tests drive Debian's Chromium through Playwright; a browser is never downloaded.
chromium:
	@test -x /usr/bin/chromium || { \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf _build
