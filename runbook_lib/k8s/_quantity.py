"""Checks of Kubernetes resource quantities given as runbook parameters."""

from __future__ import annotations

from decimal import Decimal

from kubernetes.utils import parse_quantity

from ..errors import ParameterError


def parse_quantity_param(name: str, value: str) -> Decimal:
    """Parse a quantity parameter such as ``cpu_limit="4"`` or ``memory_limit="8Gi"``.

    Raises:
        ParameterError: the value is not a positive Kubernetes quantity.

    Example:
        >>> parse_quantity_param("memory_limit", "1Ki")
        Decimal('1024')
    """
    try:
        quantity = parse_quantity(value)
    except (ValueError, TypeError):
        raise ParameterError(
            f"{name} {value!r} is not a Kubernetes quantity: use for example '500m' or '2' for CPU, '4Gi' for memory."
        ) from None
    if quantity <= 0:
        raise ParameterError(f"{name} {value!r} must be greater than zero.")
    return quantity


def check_request_within_limit(request_name: str, request: str, limit_name: str | None = None, limit: str | None = None) -> None:
    """Check a request quantity and, when given, that it does not exceed its limit.

    Raises:
        ParameterError: a value is invalid, or the request exceeds the limit.
    """
    requested = parse_quantity_param(request_name, request)
    if limit_name is None:
        return

    allowed = parse_quantity_param(limit_name, limit)
    if requested > allowed:
        raise ParameterError(f"{request_name} {request!r} exceeds {limit_name} {limit!r}: raise the limit or lower the request.")
