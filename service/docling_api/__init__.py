"""Docling conversion API: a FastAPI service that converts documents with docling in worker processes.

Start it with ``docling-api --models-dir DIR``; see ``docs/service.md``. This
package module stays light: worker processes import it before docling.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docling-aks-runbook")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
