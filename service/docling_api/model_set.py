"""Resolve ``--models-dir`` to docling's artifacts path and check the model folders in it.

Three layouts are accepted:

- a published share: ``DIR/current`` contains the active set id, and the artifacts
  path is ``DIR/sets/<set id>/``, which must contain ``manifest.json``;
- one set folder of a share (``DIR/sets/<set id>/`` itself), recognised by its
  ``manifest.json``, which pins that set whatever set ``current`` names;
- a plain artifacts folder, as ``runbook models demo --dest DIR`` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAYOUT_FOLDER = "docling-project--docling-layout-heron"
TABLEFORMER_FOLDER = "docling-project--docling-models/model_artifacts/tableformer"

# Folders docling's standard PDF pipeline loads, relative to the artifacts path.
# The layout model runs for every PDF and image. TableFormer loads the folder of
# the requested table mode.
REQUIRED_MODEL_FOLDERS = (
    LAYOUT_FOLDER,
    f"{TABLEFORMER_FOLDER}/accurate",
    f"{TABLEFORMER_FOLDER}/fast",
)

FILL_HINT = (
    "Fill it with 'runbook models download --dest DIR', or with 'runbook models demo --dest DIR' "
    "for the offline demo models, then pass that DIR as --models-dir."
)


class ModelSetError(Exception):
    """The models folder cannot be used. The message names the path and the fix."""


@dataclass(frozen=True)
class ModelSet:
    """The resolved model set that the workers load.

    Attributes:
        models_dir (`Path`): the folder given as ``--models-dir``.
        artifacts_path (`Path`): the folder passed to docling as ``artifacts_path``.
        set_id (`str`, *optional*): the set id from ``current`` or the manifest, or None for a plain folder.
        source (`str`): ``share`` (through ``current``), ``set`` (a set folder) or ``folder``.
        manifest (`dict`, *optional*): the parsed ``manifest.json``, when there is one.
        missing_folders (`list[str]`): required model folders not found under ``artifacts_path``.
    """

    models_dir: Path
    artifacts_path: Path
    set_id: str | None = None
    manifest: dict[str, Any] | None = None
    missing_folders: list[str] = field(default_factory=list)
    source: str = "folder"

    @property
    def complete(self) -> bool:
        """True when every required model folder exists."""
        return not self.missing_folders

    def missing_reason(self) -> str | None:
        """Return the message for ``/ready`` when a model folder is missing, else None."""
        if self.complete:
            return None

        first = self.artifacts_path / self.missing_folders[0]
        others = len(self.missing_folders) - 1
        also = f" (and {others} more: {', '.join(self.missing_folders[1:])})" if others else ""
        return f"Model folder {first} is missing{also}. {FILL_HINT}"

    def describe(self) -> dict[str, Any]:
        """Return the model set summary for ``GET /``: set id, repositories, revisions and commits."""
        repositories = []
        for repo in (self.manifest or {}).get("repositories", []):
            repositories.append(
                {
                    "repo": repo.get("repo"),
                    "revision": repo.get("revision"),
                    "commit": repo.get("commit"),
                    "folder": repo.get("folder"),
                }
            )

        return {
            "set_id": self.set_id,
            "artifacts_path": str(self.artifacts_path),
            "source": self.source,
            "created_at": (self.manifest or {}).get("created_at"),
            "repositories": repositories,
            "complete": self.complete,
            "missing_folders": list(self.missing_folders),
        }


def resolve_model_set(models_dir: Path) -> ModelSet:
    """Resolve a models folder to its artifacts path, set id and manifest.

    Args:
        models_dir (`Path`): the ``--models-dir`` folder.

    Raises:
        ModelSetError: ``current`` names a set that has no folder or no ``manifest.json``,
            or a manifest is not a valid JSON object.

    Example:
        >>> resolve_model_set(Path("/models")).artifacts_path  # doctest: +SKIP
        PosixPath('/models/sets/2026-12-04T20-00-00Z-3f2a')
    """
    models_dir = Path(models_dir)
    current_file = models_dir / "current"

    if not current_file.is_file():
        own_manifest = models_dir / "manifest.json"
        if own_manifest.is_file():
            manifest = _read_manifest(own_manifest, models_dir)
            return ModelSet(
                models_dir=models_dir,
                artifacts_path=models_dir,
                set_id=str(manifest.get("set_id") or models_dir.name),
                manifest=manifest,
                missing_folders=_missing_folders(models_dir),
                source="set",
            )
        return ModelSet(
            models_dir=models_dir,
            artifacts_path=models_dir,
            missing_folders=_missing_folders(models_dir),
        )

    set_id = current_file.read_text(encoding="utf-8").strip()
    if not set_id or "/" in set_id or set_id in {".", ".."}:
        raise ModelSetError(
            f"{current_file} must contain one model set id (a folder name under {models_dir / 'sets'}), "
            f"got {set_id!r}. Publish a model set with 'runbook models download --dest {models_dir}'."
        )

    artifacts_path = models_dir / "sets" / set_id
    manifest_file = artifacts_path / "manifest.json"
    if not manifest_file.is_file():
        raise ModelSetError(
            f"{current_file} names model set {set_id!r}, but {manifest_file} does not exist. "
            f"The set is incomplete or was removed: publish it again with "
            f"'runbook models download --dest {models_dir}'."
        )

    return ModelSet(
        models_dir=models_dir,
        artifacts_path=artifacts_path,
        set_id=set_id,
        manifest=_read_manifest(manifest_file, models_dir),
        missing_folders=_missing_folders(artifacts_path),
        source="share",
    )


def _read_manifest(manifest_file: Path, models_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelSetError(
            f"{manifest_file} is not valid JSON ({exc}). Publish the set again with "
            f"'runbook models download --dest {models_dir}'."
        ) from None

    if not isinstance(manifest, dict):
        raise ModelSetError(f"{manifest_file} must contain a JSON object, got {type(manifest).__name__}.")
    return manifest


def _missing_folders(artifacts_path: Path) -> list[str]:
    return [folder for folder in REQUIRED_MODEL_FOLDERS if not (artifacts_path / folder).is_dir()]
