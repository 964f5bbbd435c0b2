"""Runbook library behind the notebooks: model download, Kubernetes and Azure steps."""

__version__ = "0.1.0"
