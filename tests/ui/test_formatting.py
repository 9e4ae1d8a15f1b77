"""How pages show times, sizes and digests (ui/formatting.py), and the macros built on them."""

from __future__ import annotations

import pytest

from modelreg.ui import web
from modelreg.ui.formatting import ago, iso_time, short_digest, size

NOW = 1_800_000_000.0  # seconds
MS = int(NOW * 1000)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (MS - 5_000, "just now"),
        (MS - 60_000, "1 minute ago"),
        (MS - 3 * 3600_000 - 5_000, "3 hours ago"),
        (MS - 86400_000, "1 day ago"),
        (MS - 40 * 86400_000, "1 month ago"),
        (MS + 2 * 86400_000 + 5_000, "in 2 days"),
        (None, ""),
        ("not a time", ""),
    ],
)
def test_ago(ms: object, text: str) -> None:
    assert ago(ms, now=NOW) == text


def test_iso_time() -> None:
    assert iso_time(0) == "1970-01-01 00:00:00 UTC"
    assert iso_time(str(MS)) == "2027-01-15 08:00:00 UTC"


@pytest.mark.parametrize(
    ("num", "text"),
    [(0, "0 B"), (999, "999 B"), (1500, "1.50 kB"), (12_500_000, "12.5 MB"), (3_200_000_000, "3.20 GB"), (None, "")],
)
def test_size(num: object, text: str) -> None:
    assert size(num) == text


def test_short_digest() -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    assert short_digest(digest) == "sha256:0123456789ab…"
    assert short_digest("0123456789abcdef") == "0123456789ab…"
    assert short_digest("sha256:abc") == "sha256:abc"
    assert short_digest(None) == ""


def test_macros_render_people_readable_values() -> None:
    macros = web.templates.env.get_template("_macros.html").module  # type: ignore[attr-defined]
    assert 'title="2027-01-15 08:00:00 UTC"' in str(macros.reltime(MS))
    assert "stage-production" in str(macros.stage_label("production"))
    assert "stage-development" in str(macros.stage_label(None))
    assert "stage-other" in str(macros.stage_label("<script>"))  # an unknown stage gets no class of its own
    assert "&lt;script&gt;" in str(macros.stage_label("<script>"))
    assert 'data-copy="s3://b/k?x=&#34;y&#34;"' in str(macros.copy_button('s3://b/k?x="y"'))
    assert str(macros.size(3_200_000_000)) == "3.20 GB"
    assert 'rel="next"' in str(macros.pager("/catalog?page_token=abc"))
    assert str(macros.pager(None)).strip() == ""
