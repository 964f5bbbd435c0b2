"""Logging for the runbook: one named logger, one line per record."""

from __future__ import annotations

import logging
import sys
import time

logger = logging.getLogger("runbook_lib")


def configure_logging(verbose: bool = False) -> None:
    """Send ``runbook_lib`` records to stderr as single lines with a UTC timestamp."""
    if logger.handlers:
        return

    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
