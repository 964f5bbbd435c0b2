"""Model set files: which Hub repositories, at which revisions, go into docling's artifacts path."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ModelSetError

DEFAULT_MODEL_SET_NAME = "default_model_set.yaml"

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_FOLDER = re.compile(r"^[A-Za-z0-9][\w.+-]*$")
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


class RepositorySpec(BaseModel):
    """One repository of a model set.

    Attributes:
        repo: Hub repository id, ``owner/name``.
        revision: branch, tag or 40-character commit id.
        folder: folder name in the artifacts path; ``owner--name`` by default, as docling expects.
        include: fnmatch patterns of the files to download; all files when empty.
        exclude: fnmatch patterns of files to leave out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str
    revision: str = "main"
    folder: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @field_validator("repo")
    @classmethod
    def _check_repo(cls, value: str) -> str:
        if not _REPO_ID.match(value):
            raise ValueError("expected a Hub repository id such as docling-project/docling-models")
        return value

    @field_validator("revision")
    @classmethod
    def _check_revision(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError("expected a branch, tag or commit id without surrounding spaces")
        return value

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _check_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.strip():
                raise ValueError("patterns must not be empty")
        return value

    @model_validator(mode="after")
    def _default_folder(self) -> "RepositorySpec":
        if not self.folder:
            object.__setattr__(self, "folder", self.repo.replace("/", "--"))
        if not _FOLDER.match(self.folder) or self.folder in ("sets", "current"):
            raise ValueError(f"invalid folder {self.folder!r}: expected one path segment such as owner--name")
        return self

    @property
    def is_pinned(self) -> bool:
        """Whether the revision is a commit id rather than a branch or tag."""
        return bool(COMMIT_ID.match(self.revision))


class ModelSet(BaseModel):
    """A list of repositories that together form docling's artifacts path.

    Attributes:
        name: a label for logs and manifests.
        repositories: the repositories, each in its own folder.
        source: the file the set was read from, if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    name: str = "model-set"
    repositories: tuple[RepositorySpec, ...] = Field(min_length=1)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only version 1 is supported")
        return value

    @model_validator(mode="after")
    def _unique_folders(self) -> "ModelSet":
        seen: set[str] = set()
        for spec in self.repositories:
            if spec.folder in seen:
                raise ValueError(f"folder {spec.folder!r} is used by more than one repository")
            seen.add(spec.folder)
        return self


def default_model_set_path() -> Path:
    """Return the path of the committed default model set."""
    return Path(str(resources.files(__package__).joinpath(DEFAULT_MODEL_SET_NAME)))


def load_model_set(path: str | Path | None = None) -> ModelSet:
    """Read and validate a model set file; without a path, the committed default set.

    Args:
        path (`str` or `Path`, *optional*): a model set YAML file.

    Raises:
        ModelSetError: the file is missing, not YAML, or has an invalid entry.

    Example:
        >>> [spec.repo for spec in load_model_set().repositories]
        ['docling-project/docling-layout-heron', 'docling-project/docling-models']
    """
    path = Path(path) if path is not None else default_model_set_path()

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelSetError(f"Model set file {path} not found. Pass an existing YAML file to --model-set.") from None
    except yaml.YAMLError as exc:
        raise ModelSetError(f"Model set file {path} is not valid YAML: {exc}") from None

    if not isinstance(data, dict):
        raise ModelSetError(
            f"Model set file {path} must be a mapping with a 'repositories' list, got {type(data).__name__}."
        )
    return parse_model_set(data, source=path)


def parse_model_set(data: dict[str, Any], source: Path | None = None) -> ModelSet:
    """Validate a model set given as a mapping, as read from YAML.

    Raises:
        ModelSetError: a field is missing or invalid; the message names the entry and the value.
    """
    try:
        return ModelSet(**data, source=source)
    except ValidationError as exc:
        where = f" in {source}" if source else ""
        problems = "; ".join(_describe(error, data) for error in exc.errors())
        raise ModelSetError(f"Invalid model set{where}: {problems}.") from None
    except TypeError as exc:
        raise ModelSetError(f"Invalid model set{' in ' + str(source) if source else ''}: {exc}.") from None


def compute_set_id(resolved: Iterable[tuple[RepositorySpec, str]]) -> str:
    """Derive the set id from each repository's resolved commit, folder and file patterns.

    The same inputs always give the same id, whatever the order of the repositories,
    the order of the patterns, or the revision names that resolved to the commits.

    Example:
        >>> spec = RepositorySpec(repo="acme/tiny", revision="main")
        >>> compute_set_id([(spec, "0" * 40)])
        'ms-b6d146f0a719b052'
    """
    entries = sorted(
        (
            {
                "repo": spec.repo,
                "commit": commit,
                "folder": spec.folder,
                "include": sorted(spec.include),
                "exclude": sorted(spec.exclude),
            }
            for spec, commit in resolved
        ),
        key=lambda entry: entry["folder"],
    )
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    return f"ms-{digest[:16]}"


def _describe(error: dict[str, Any], data: dict[str, Any]) -> str:
    location = list(error["loc"])
    label = ".".join(str(part) for part in location) or "model set"

    if location[:1] == ["repositories"] and len(location) >= 2 and isinstance(location[1], int):
        entries = data.get("repositories") or []
        index = location[1]
        if index < len(entries) and isinstance(entries[index], dict) and entries[index].get("repo"):
            label = f"repositories[{index}] ({entries[index]['repo']})" + "".join(f".{p}" for p in location[2:])

    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{label}: missing"
    if error["type"] == "extra_forbidden":
        return f"{label}: unknown field (expected repo, revision, folder, include, exclude)"
    return f"{label}: {message} (got {error.get('input')!r})"
