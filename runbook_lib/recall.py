"""Word recall: how much of an expected document's text a conversion kept.

Used by the service tests and the smoke test to compare converted Markdown with
a reference Markdown file, ignoring formatting, order and layout.
"""

from __future__ import annotations

import re
from collections import Counter

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# A word is a run of letters and digits in any script. Underscores and punctuation separate words.
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> Counter[str]:
    """Count the lower-cased words of a text, HTML comments left out.

    Example:
        >>> words("Het <!-- image --> jaar, het JAAR 2025")
        Counter({'het': 2, 'jaar': 2, '2025': 1})
    """
    without_comments = _HTML_COMMENT.sub(" ", text)
    return Counter(_WORD.findall(without_comments.lower()))


def word_recall(expected_markdown: str, actual: str) -> float:
    """Return the share of the expected text's word occurrences that the actual text also contains.

    Words are counted with multiplicity: a word expected three times and found twice
    contributes two matches. Word order and Markdown syntax do not matter.

    Args:
        expected_markdown (`str`): the reference text, usually a ``.expected.md`` file.
        actual (`str`): the converted text.

    Returns:
        A value from 0.0 to 1.0, which is 1.0 when the expected text has no words.

    Example:
        >>> word_recall("the cat sat on the mat", "The cat sat.")
        0.5
    """
    expected = words(expected_markdown)
    total = sum(expected.values())
    if total == 0:
        return 1.0

    matched = sum((expected & words(actual)).values())
    return matched / total
