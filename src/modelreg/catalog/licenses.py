"""License identifiers (Hugging Face / SPDX style, as catalog files carry them) → the names people read.

The catalog shows, filters and registers the readable name, as the reference catalog does when it loads a file;
an identifier not in the table is kept as written.
"""

from __future__ import annotations

_NAMES: dict[str, str] = {
    "apache-2.0": "Apache 2.0",
    "mit": "MIT",
    "bsd-2-clause": "BSD 2-Clause",
    "bsd-3-clause": "BSD 3-Clause",
    "gpl-2.0": "GPL 2.0",
    "gpl-3.0": "GPL 3.0",
    "lgpl-2.1": "LGPL 2.1",
    "lgpl-3.0": "LGPL 3.0",
    "agpl-3.0": "AGPL 3.0",
    "mpl-2.0": "Mozilla Public License 2.0",
    "cc0-1.0": "CC0 1.0",
    "cc-by-4.0": "CC BY 4.0",
    "cc-by-sa-4.0": "CC BY-SA 4.0",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0",
    "unlicense": "The Unlicense",
    "llama2": "Llama 2 Community License",
    "llama3": "Llama 3 Community License",
    "llama3.1": "Llama 3.1 Community License",
    "llama3.2": "Llama 3.2 Community License",
    "llama3.3": "Llama 3.3 Community License",
    "llama4": "Llama 4 Community License",
    "gemma": "Gemma Terms of Use",
    "openrail": "OpenRAIL",
    "openrail++": "OpenRAIL++",
    "creativeml-openrail-m": "CreativeML OpenRAIL-M",
    "bigscience-openrail-m": "BigScience OpenRAIL-M",
}


def readable_license(value: str | None) -> str | None:
    """``apache-2.0`` → ``Apache 2.0``; unknown identifiers (``other``, a name already readable) unchanged."""
    if value is None:
        return None
    return _NAMES.get(value.strip().lower(), value)
