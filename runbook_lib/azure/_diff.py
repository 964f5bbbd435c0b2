"""Field-by-field comparison of a desired resource body with the current one.

Only the fields the runbook sets are compared: properties Azure fills in,
tags someone else added and agent pools other than the system pool are
left alone. Lists of objects with a ``name`` are matched by name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    """One field whose current value differs from the desired one."""

    path: str
    current: Any
    desired: Any

    def render(self) -> str:
        return f"{self.path}: {_show(self.current)} -> {_show(self.desired)}"


def _show(value: Any) -> str:
    return "(not set)" if value is None else repr(value)


def _same(current: Any, desired: Any, path: str) -> bool:
    if path.endswith("location") and isinstance(current, str) and isinstance(desired, str):
        return current.replace(" ", "").lower() == desired.replace(" ", "").lower()
    if isinstance(current, str) and isinstance(desired, str) and path.endswith(("sku.name", "vmSize")):
        return current.lower() == desired.lower()
    return current == desired


def diff(current: dict[str, Any] | None, desired: dict[str, Any], prefix: str = "") -> list[FieldChange]:
    """List the desired fields whose current value differs.

    Example:
        >>> diff({"sku": {"name": "Basic"}, "id": "x"}, {"sku": {"name": "Standard"}})
        [FieldChange(path='sku.name', current='Basic', desired='Standard')]
    """
    current = current or {}
    changes: list[FieldChange] = []

    for key, desired_value in desired.items():
        path = f"{prefix}{key}"
        have = current.get(key) if isinstance(current, dict) else None

        if isinstance(desired_value, dict):
            changes.extend(diff(have if isinstance(have, dict) else {}, desired_value, f"{path}."))
        elif _is_named_list(desired_value):
            changes.extend(_diff_named_list(have, desired_value, path))
        elif not _same(have, desired_value, path):
            changes.append(FieldChange(path, have, desired_value))

    return changes


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) and "name" in item for item in value)


def _diff_named_list(current: Any, desired: list[dict[str, Any]], path: str) -> list[FieldChange]:
    by_name = {item.get("name"): item for item in current or [] if isinstance(item, dict)}
    changes: list[FieldChange] = []

    for desired_value in desired:
        changes.extend(diff(by_name.get(desired_value["name"]), desired_value, f"{path}[{desired_value['name']}]."))
    return changes


def merge(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Overlay the desired fields on a copy of the current body, matching named list items by name.

    Example:
        >>> merge({"tags": {"a": "1"}, "sku": {"name": "Basic"}}, {"tags": {"b": "2"}})
        {'tags': {'a': '1', 'b': '2'}, 'sku': {'name': 'Basic'}}
    """
    merged = copy.deepcopy(current)

    for key, desired_value in desired.items():
        have = merged.get(key)

        if isinstance(desired_value, dict) and isinstance(have, dict):
            merged[key] = merge(have, desired_value)
        elif _is_named_list(desired_value) and isinstance(have, list):
            merged[key] = _merge_named_list(have, desired_value)
        else:
            merged[key] = copy.deepcopy(desired_value)

    return merged


def _merge_named_list(current: list[Any], desired: list[dict[str, Any]]) -> list[Any]:
    result = [copy.deepcopy(item) for item in current]
    index = {item.get("name"): position for position, item in enumerate(result) if isinstance(item, dict)}

    for desired_value in desired:
        if desired_value["name"] in index:
            position = index[desired_value["name"]]
            result[position] = merge(result[position], desired_value)
        else:
            result.append(copy.deepcopy(desired_value))
    return result
