"""In-process checks of the limit helpers: container memory, exit causes, API keys, stale spools and document guards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import hostile_documents as docs
from docling_api.auth import ApiKeyError, ApiKeys
from docling_api.errors import CorruptDocument, ImageTooLarge, TooManyPages
from docling_api.memory import _cgroup_headroom, available_memory_bytes, tree_rss_bytes
from docling_api.pdf_guard import check_image, check_pdf
from docling_api.pool import describe_exit
from docling_api.uploads import remove_stale_spools


def write(folder, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def test_cgroup_v2_headroom_counts_reclaimable_cache(tmp_path):
    write(tmp_path, "memory.max", "1000000\n")
    write(tmp_path, "memory.current", "900000\n")
    write(tmp_path, "memory.stat", "anon 800000\ninactive_file 50000\n")

    assert _cgroup_headroom(tmp_path) == 150000
    assert available_memory_bytes(tmp_path) == 150000


def test_cgroup_v2_without_limit(tmp_path):
    write(tmp_path, "memory.max", "max\n")

    assert _cgroup_headroom(tmp_path) is None
    assert available_memory_bytes(tmp_path) > 0


def test_cgroup_v1_limit(tmp_path):
    write(tmp_path, "memory/memory.limit_in_bytes", "2000000\n")
    write(tmp_path, "memory/memory.usage_in_bytes", "2100000\n")

    assert _cgroup_headroom(tmp_path) == 0


def test_tree_rss_includes_children():
    before = tree_rss_bytes()
    # The child fills 100 MB, so every page is resident, then prints 'ready' and waits.
    code = "import sys, time; b = bytes([1]) * 100_000_000; print('ready', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert tree_rss_bytes() - before > 90_000_000
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    ("exitcode", "words"),
    [(-11, "SIGSEGV"), (-6, "SIGABRT"), (-9, "out-of-memory"), (1, "exited with code 1"), (None, "ended")],
)
def test_exit_causes_in_words(exitcode, words):
    assert words in describe_exit(exitcode)


def test_api_keys_from_file_with_several_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text("old-key\n\nnew-key\n", encoding="utf-8")

    keys = ApiKeys(None, path)

    assert keys.enabled
    assert keys.matches("old-key")
    assert keys.matches("new-key")
    assert not keys.matches("other")
    assert not keys.matches("")
    assert not keys.matches(None)


def test_api_keys_disabled_without_key():
    keys = ApiKeys(None, None)

    assert not keys.enabled
    assert not keys.matches("anything")


def test_api_key_file_emptied_later_keeps_the_keys(tmp_path):
    path = tmp_path / "keys"
    path.write_text("the-key\n", encoding="utf-8")
    keys = ApiKeys(None, path)

    path.write_text("", encoding="utf-8")

    assert keys.matches("the-key")


def test_unreadable_api_key_file_is_an_error(tmp_path):
    with pytest.raises(ApiKeyError, match="Cannot read the API key file"):
        ApiKeys(None, tmp_path / "missing")


def test_stale_spools_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"docling-api-{dead.pid}-abc"
    stale_worker = tmp_path / f"docling-api-{dead.pid}-worker-0-def"
    own = tmp_path / f"docling-api-{os.getpid()}-ghi"
    live = tmp_path / f"docling-api-{os.getppid()}-jkl"
    unrelated = tmp_path / "someone-else"
    for folder in (stale, stale_worker, own, live, unrelated):
        folder.mkdir()
        (folder / "upload").write_bytes(b"x")

    removed = remove_stale_spools(tmp_path)

    assert removed == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([live.name, unrelated.name])


def test_pdf_page_limit_counts_the_page_range(tmp_path):
    path = tmp_path / "long.pdf"
    path.write_bytes(docs.text_pdf(12))

    with pytest.raises(TooManyPages) as caught:
        check_pdf(path, None, "long.pdf", max_pages=10)
    facts = check_pdf(path, None, "long.pdf", (3, 12), max_pages=10)

    assert caught.value.status_code == 413
    assert "long.pdf has 12 pages" in caught.value.message
    assert facts.pages == 12


def test_pdf_image_guard_reads_sizes_without_decoding(tmp_path):
    path = tmp_path / "bomb.pdf"
    path.write_bytes(docs.image_bomb_pdf(20_000, 10_000))

    with pytest.raises(ImageTooLarge) as caught:
        check_pdf(path, None, "bomb.pdf", max_image_pixels=100_000_000)
    facts = check_pdf(path, None, "bomb.pdf", max_image_pixels=300_000_000)

    assert "page 1 embeds an image of 20000 x 10000 pixels" in caught.value.message
    assert caught.value.details["pixels"] == 200_000_000
    assert facts.pages == 1


def test_page_size_guard_uses_the_render_scale(tmp_path):
    path = tmp_path / "poster.pdf"
    path.write_bytes(docs.huge_page_pdf(5000))

    with pytest.raises(ImageTooLarge, match="page 1 renders at 15000 x 15000 pixels"):
        check_pdf(path, None, "poster.pdf", max_image_pixels=100_000_000, render_scale=3.0)
    check_pdf(path, None, "poster.pdf", max_image_pixels=100_000_000, render_scale=1.0)


def test_image_guard(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(docs.png_bomb(20_000, 20_000))
    broken = tmp_path / "broken.png"
    broken.write_bytes(docs.png_bomb(100, 100)[:40])

    with pytest.raises(ImageTooLarge, match="the image is 20000 x 20000 pixels"):
        check_image(bomb, "bomb.png", 100_000_000)
    assert check_image(bomb, "bomb.png", 500_000_000) == 1
    with pytest.raises(CorruptDocument, match="broken.png"):
        check_image(broken, "broken.png", 100_000_000)
