"""``pin_model_set``: rewrite branch and tag revisions in a model set file to commit ids.

The file is edited in place at the positions PyYAML reports for each ``revision`` value,
so comments, order and formatting survive and only the revision values change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from ..errors import ModelSetError
from ._hub import HubClient, RetryPolicy
from ._model_set import COMMIT_ID, load_model_set
from ._plan import resolve_endpoint
from ._share import write_atomic

logger = logging.getLogger("runbook_lib.models")


@dataclass(frozen=True)
class PinChange:
    """One repository's revision before and after pinning."""

    repo: str
    revision: str
    commit: str

    @property
    def changed(self) -> bool:
        """Whether the revision was a branch or tag that pinning replaced."""
        return self.revision != self.commit


def pin_model_set(
    path: str | Path,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    retry: RetryPolicy | None = None,
    dry_run: bool = False,
) -> list[PinChange]:
    """Resolve each branch or tag revision in a model set file and write the commit id in its place.

    A pinned entry reads ``revision: <commit>  # pinned from <old revision> on <date>``.
    Entries already at a commit id are left as they are. Entries without a ``revision``
    key get one after their ``repo`` line.

    Args:
        path (`str` or `Path`): the model set file to rewrite.
        endpoint (`str`, *optional*): Hub or mirror URL; ``HF_ENDPOINT`` or huggingface.co by default.
        token (`str`, *optional*): access token; ``HF_TOKEN`` by default.
        retry (`RetryPolicy`, *optional*): retries for transient failures.
        dry_run (`bool`): resolve and report, but leave the file unchanged.

    Returns:
        list[PinChange]: one entry per repository, in file order.

    Raises:
        ModelSetError: the file is invalid or written in a YAML style this function cannot edit.
        HubAuthError, HubNotFoundError, HubError, DownloadError: a revision could not be resolved.

    Example:
        >>> changes = pin_model_set("k8s/model-set.yaml", endpoint="http://127.0.0.1:8080")  # doctest: +SKIP
        >>> [(c.repo, c.revision, c.commit[:7]) for c in changes]  # doctest: +SKIP
        [('docling-project/docling-layout-heron', 'main', '3f1c2a9'), ('docling-project/docling-models', 'v2.3.0', '9ab20d4')]
    """
    path = Path(path)
    model_set = load_model_set(path)
    client = HubClient(resolve_endpoint(endpoint), token, retry or RetryPolicy())
    changes = [
        PinChange(spec.repo, spec.revision, client.resolve_revision(spec.repo, spec.revision))
        for spec in model_set.repositories
    ]

    text = path.read_text(encoding="utf-8")
    edited = _rewrite(text, changes, path)
    if dry_run or edited == text:
        return changes

    write_atomic(path, edited.encode("utf-8"))
    load_model_set(path)
    for change in changes:
        if change.changed:
            logger.info("Pinned %s from %s to %s in %s", change.repo, change.revision, change.commit, path)
    return changes


def _rewrite(text: str, changes: list[PinChange], path: Path) -> str:
    root = yaml.compose(text)
    entries = _repository_nodes(root, path)
    if len(entries) != len(changes):
        raise ModelSetError(f"Could not match the repositories of {path} to their YAML entries.")

    # Apply edits from the end of the file backwards so earlier offsets stay valid.
    edits: list[tuple[int, int, str]] = []
    today = date.today().isoformat()
    for node, change in zip(entries, changes):
        if not change.changed or COMMIT_ID.match(change.revision):
            continue
        if node.flow_style:
            raise ModelSetError(
                f"Cannot pin {change.repo} in {path}: its entry is written in flow style ({{...}}). "
                "Write it in block style, one key per line, and run pin again."
            )

        keys = {key.value: (key, value) for key, value in node.value}
        comment = f"  # pinned from {change.revision} on {today}"
        if "revision" in keys:
            value = keys["revision"][1]
            end = value.end_mark.index
            line_end = text.find("\n", end)
            line_end = len(text) if line_end == -1 else line_end
            has_comment = "#" in text[end:line_end]
            edits.append((value.start_mark.index, end, change.commit + ("" if has_comment else comment)))
        else:
            repo_value = keys["repo"][1]
            line_end = text.find("\n", repo_value.end_mark.index)
            line_end = len(text) if line_end == -1 else line_end
            indent = " " * keys["repo"][0].start_mark.column
            edits.append((line_end, line_end, f"\n{indent}revision: {change.commit}{comment}"))

    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _repository_nodes(root: yaml.Node | None, path: Path) -> list[yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        raise ModelSetError(f"Model set file {path} must be a mapping with a 'repositories' list.")
    for key, value in root.value:
        if key.value == "repositories" and isinstance(value, yaml.SequenceNode):
            nodes = [item for item in value.value if isinstance(item, yaml.MappingNode)]
            if len(nodes) != len(value.value):
                raise ModelSetError(f"Every entry of 'repositories' in {path} must be a mapping.")
            return nodes
    raise ModelSetError(f"Model set file {path} has no 'repositories' list.")
