"""Conversion options of ``POST /convert``, parsed from form fields and query parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from .errors import InvalidOption, UnknownOption

OUTPUT_FORMATS = ("md", "json", "html", "text")
TABLE_MODES = ("fast", "accurate")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")

# Form and query fields of POST /convert other than the file itself.
OPTION_NAMES = (
    "to_formats",
    "do_ocr",
    "force_ocr",
    "ocr_lang",
    "table_mode",
    "do_table_structure",
    "page_range",
    "password",
    # Parsed by the request handler, not here: it bounds the conversion, it does not shape it.
    "timeout",
)


@dataclass(frozen=True)
class ConvertOptions:
    """Options of one conversion.

    Attributes:
        to_formats (`tuple[str, ...]`): output formats, from ``md``, ``json``, ``html``, ``text``.
        do_ocr (`bool`): run Tesseract where the PDF has no text: on layout regions without text
            cells, and on whole pages when the document has no text layer at all (scans, images).
        force_ocr (`bool`): run Tesseract on every whole page and drop the PDF's own text cells.
        ocr_lang (`tuple[str, ...]`): Tesseract language codes, in preference order.
        table_mode (`str`): TableFormer mode, ``fast`` or ``accurate``.
        do_table_structure (`bool`): run TableFormer on detected tables.
        page_range (`tuple[int, int]`, *optional*): first and last page, 1-based and inclusive.
        password (`str`, *optional*): password of an encrypted PDF. Never logged.
    """

    to_formats: tuple[str, ...] = ("md",)
    do_ocr: bool = True
    force_ocr: bool = False
    ocr_lang: tuple[str, ...] = ("eng", "nld")
    table_mode: str = "accurate"
    do_table_structure: bool = True
    page_range: tuple[int, int] | None = None
    password: str | None = field(default=None, repr=False)

    def pipeline_key(self) -> tuple:
        """Return the options that shape docling's pipeline, the cache key of a converter (without OCR mode)."""
        return (self.do_ocr, self.ocr_lang, self.table_mode, self.do_table_structure)

    def to_job(self) -> dict:
        """Return the options as a plain dict for a worker job, password included."""
        return asdict(self)

    def to_public(self) -> dict:
        """Return the options as reported back to the client and the log, without the password."""
        public = asdict(self)
        public["password"] = "***" if self.password else None
        return public


def parse_convert_options(
    values: Mapping[str, Sequence[str]],
    default_ocr_lang: Sequence[str],
    installed_ocr_lang: Iterable[str] | None = None,
) -> ConvertOptions:
    """Parse and validate conversion options.

    Args:
        values (`Mapping[str, Sequence[str]]`): option names to their raw values; list options
            accept repeated fields and comma-separated values.
        default_ocr_lang (`Sequence[str]`): languages used when ``ocr_lang`` is not given.
        installed_ocr_lang (`Iterable[str]`, *optional*): Tesseract languages installed on the
            machine; when given, other ``ocr_lang`` values are rejected.

    Raises:
        UnknownOption: a name is not one of ``OPTION_NAMES``.
        InvalidOption: a value is not allowed; the message names the option and the allowed values.

    Example:
        >>> parse_convert_options({"to_formats": ["md,json"], "page_range": ["2-3"]}, ["eng"]).page_range
        (2, 3)
    """
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise UnknownOption(
            f"Unknown option {unknown[0]!r}. Allowed options: {', '.join(OPTION_NAMES)}.",
            option=unknown[0],
            allowed=list(OPTION_NAMES),
        )

    to_formats = _parse_choices(values, "to_formats", OUTPUT_FORMATS, default=("md",))
    do_ocr = _parse_bool(values, "do_ocr", default=True)
    force_ocr = _parse_bool(values, "force_ocr", default=False)
    do_table_structure = _parse_bool(values, "do_table_structure", default=True)
    table_mode = _parse_choice(values, "table_mode", TABLE_MODES, default="accurate")
    page_range = _parse_page_range(values)

    installed = sorted(installed_ocr_lang) if installed_ocr_lang is not None else None
    ocr_lang = _split_list(values.get("ocr_lang", ())) or tuple(default_ocr_lang)
    if installed is not None:
        for lang in ocr_lang:
            if lang not in installed:
                raise InvalidOption(
                    f"Invalid value {lang!r} for option 'ocr_lang'. Installed Tesseract languages: "
                    f"{', '.join(installed)}.",
                    option="ocr_lang",
                    value=lang,
                    allowed=installed,
                )

    password = _last(values, "password")

    return ConvertOptions(
        to_formats=to_formats,
        do_ocr=do_ocr or force_ocr,
        force_ocr=force_ocr,
        ocr_lang=ocr_lang,
        table_mode=table_mode,
        do_table_structure=do_table_structure,
        page_range=page_range,
        password=password or None,
    )


def _split_list(raw_values: Sequence[str]) -> tuple[str, ...]:
    items: list[str] = []
    for raw in raw_values:
        for part in raw.split(","):
            part = part.strip()
            if part and part not in items:
                items.append(part)
    return tuple(items)


def _last(values: Mapping[str, Sequence[str]], name: str) -> str | None:
    raw_values = values.get(name)
    if not raw_values:
        return None
    return raw_values[-1]


def _parse_choices(
    values: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str], default: tuple[str, ...]
) -> tuple[str, ...]:
    items = tuple(item.lower() for item in _split_list(values.get(name, ())))
    if not items:
        return default

    for item in items:
        if item not in allowed:
            raise InvalidOption(
                f"Invalid value {item!r} for option {name!r}. Allowed values: {', '.join(allowed)}.",
                option=name,
                value=item,
                allowed=list(allowed),
            )
    return items


def _parse_choice(values: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str], default: str) -> str:
    raw = _last(values, name)
    if raw is None or not raw.strip():
        return default

    value = raw.strip().lower()
    if value not in allowed:
        raise InvalidOption(
            f"Invalid value {raw!r} for option {name!r}. Allowed values: {', '.join(allowed)}.",
            option=name,
            value=raw,
            allowed=list(allowed),
        )
    return value


def _parse_bool(values: Mapping[str, Sequence[str]], name: str, default: bool) -> bool:
    raw = _last(values, name)
    if raw is None or not raw.strip():
        return default

    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise InvalidOption(
        f"Invalid value {raw!r} for option {name!r}. Allowed values: true, false (also 1/0, yes/no, on/off).",
        option=name,
        value=raw,
        allowed=["true", "false"],
    )


def _parse_page_range(values: Mapping[str, Sequence[str]]) -> tuple[int, int] | None:
    raw = _last(values, "page_range")
    if raw is None or not raw.strip():
        return None

    text = raw.strip()
    first_text, dash, last_text = text.partition("-")
    try:
        first = int(first_text)
        last = int(last_text) if dash else first
    except ValueError:
        first = last = 0

    if first < 1 or last < first:
        raise InvalidOption(
            f"Invalid value {raw!r} for option 'page_range'. Use one page like '2' or a range of "
            f"1-based pages like '1-3', with the first page not after the last.",
            option="page_range",
            value=raw,
            allowed=["N", "N-M"],
        )
    return (first, last)
