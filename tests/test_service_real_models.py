"""The conversion tests again, on real docling models from DOCLING_REAL_MODELS_DIR, plus checks only real models pass.

Run with ``DOCLING_REAL_MODELS_DIR=/path/to/models pytest -m real_models``. The folder is
a ``--models-dir`` as the service accepts it: a model share with ``current`` or an
artifacts folder. Without the variable the whole module is skipped.
"""

from __future__ import annotations

import os
import re

import pytest

if not os.environ.get("DOCLING_REAL_MODELS_DIR"):
    pytest.skip("DOCLING_REAL_MODELS_DIR is not set to a folder of real docling models", allow_module_level=True)

# Importing the test functions collects them here too, where conversion_service is the real-model server.
from test_service_convert import *  # noqa: E402,F401,F403
from test_service_convert import EXPECTATIONS, TESTDATA_DIR, collapse_whitespace, convert  # noqa: E402

pytestmark = [pytest.mark.real_models, pytest.mark.timeout(1800)]


@pytest.fixture
def conversion_service(real_models_service):
    return real_models_service


def test_scanned_phrases_verbatim(conversion_service):
    spec = EXPECTATIONS["scanned_nl_en.pdf"]

    response = convert(conversion_service, TESTDATA_DIR / "scanned_nl_en.pdf", data={"ocr_lang": "nld,eng"})

    assert response.status_code == 200, response.text
    markdown = collapse_whitespace(response.json()["markdown"])
    for phrase in spec["phrases"]:
        assert phrase in markdown


def test_dutch_table_becomes_markdown_table(conversion_service):
    response = convert(conversion_service, TESTDATA_DIR / "dutch_pdf.pdf", data={"do_ocr": "false"})

    assert response.status_code == 200, response.text
    table_rows = [line for line in response.json()["markdown"].splitlines() if re.match(r"^\|.*\|$", line)]
    assert any("Sport, cultuur en recreatie" in row for row in table_rows)
