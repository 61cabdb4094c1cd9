"""`python -m redis_ha_exporter` runs the command-line interface."""

from __future__ import annotations

from redis_ha_exporter.cli import main

raise SystemExit(main())
