"""`python -m exporter` runs the command-line interface."""

from __future__ import annotations

from exporter.cli import main

raise SystemExit(main())
