"""Build an emulator store that serves the demo models as docling's two Hub repositories."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import EmulatorError
from ._store import RepositoryStore

logger = logging.getLogger("runbook_lib.hub_emulator")

# Repository id, folder in the artifacts layout, tags on the commit. The real
# docling-models repository is read at tag v2.3.0; the layout model at main.
DEMO_REPOSITORIES = (
    ("docling-project/docling-layout-heron", "docling-project--docling-layout-heron", ()),
    ("docling-project/docling-models", "docling-project--docling-models", ("v2.3.0",)),
)

_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def build_demo_store(models_dir: Path, root: Path) -> dict[str, str]:
    """Commit the demo models under ``models_dir`` to an emulator store and return the commit ids.

    ``models_dir`` is the output of ``write_demo_models``: one folder per repository in
    docling's artifacts layout. Each repository gets the files of its folder on branch
    ``main``, plus a README and a ``.gitattributes`` as a real Hub repository has.
    ``docling-project/docling-models`` also gets the tag ``v2.3.0``. Running it again with
    the same models makes no new commits.

    Args:
        models_dir (`Path`): folder written by ``write_demo_models``.
        root (`Path`): the store folder to create or update.

    Raises:
        EmulatorError: a repository folder is missing from ``models_dir``.

    Example:
        >>> models = write_demo_models(Path("/tmp/demo-models"))  # doctest: +SKIP
        >>> build_demo_store(models, Path("/tmp/hub"))  # doctest: +SKIP
        {'docling-project/docling-layout-heron': '3f1c...', 'docling-project/docling-models': '9ab2...'}
    """
    store = RepositoryStore(root)
    commits = {}

    for repo_id, folder, tags in DEMO_REPOSITORIES:
        source = Path(models_dir) / folder
        if not source.is_dir():
            raise EmulatorError(
                f"Demo model folder {source} not found. Write the demo models first: runbook models demo --dest {models_dir}"
            )

        readme = f"# {repo_id}\n\nTiny randomly initialised demo weights for offline tests; not a real model.\n"
        commits[repo_id] = store.add_commit(
            repo_id,
            source,
            tags=tags,
            message="Add demo weights",
            extra_files={"README.md": readme.encode(), ".gitattributes": _GITATTRIBUTES},
        )
        logger.info("Emulator repository %s at commit %s", repo_id, commits[repo_id])
    return commits
