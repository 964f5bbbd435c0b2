"""Generated repository contents for tests and benchmarks: random bytes that a seed reproduces."""

from __future__ import annotations

import json
import random
from pathlib import Path

_CHUNK = 16 * 1024 * 1024


def write_synthetic_files(folder: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """Write files of the given sizes under ``folder`` and return the folder.

    Files ending in ``.json`` get a small valid JSON document padded to the size. All others
    get pseudo-random bytes, which neither compress nor deduplicate, so transfers move every byte.

    Args:
        folder (`Path`): where to write; created when missing.
        sizes (`dict[str, int]`): file sizes in bytes by relative path.
        seed (`int`): the same seed and sizes write the same bytes.

    Example:
        >>> write_synthetic_files(Path("/tmp/repo"), {"config.json": 64, "model.safetensors": 2_000_000})  # doctest: +SKIP
        PosixPath('/tmp/repo')
    """
    folder = Path(folder)
    for index, (relative, size) in enumerate(sorted(sizes.items())):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        generator = random.Random(f"{seed}:{index}:{relative}")

        if relative.endswith(".json"):
            empty = json.dumps({"name": relative, "seed": seed, "padding": ""})
            if size < len(empty):
                raise ValueError(f"JSON file {relative} needs at least {len(empty)} bytes, got {size}.")
            document = json.dumps({"name": relative, "seed": seed, "padding": "x" * (size - len(empty))})
            path.write_text(document, encoding="utf-8")
            continue

        with open(path, "wb") as handle:
            remaining = size
            while remaining > 0:
                count = min(remaining, _CHUNK)
                handle.write(generator.randbytes(count))
                remaining -= count
    return folder
