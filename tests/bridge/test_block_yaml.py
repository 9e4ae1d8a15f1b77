"""The bridge's YAML emitter: whatever JSON-like data it writes, YAML reads back exactly (PyYAML here; the real
Backstage parser reads the same files in tests/backstage)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.bridge.formats.block_yaml import dump_all

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.floats(allow_nan=False)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(data, min_size=1, max_size=3))
def test_round_trip(documents: list[Any]) -> None:
    assert list(yaml.safe_load_all(dump_all(documents))) == documents


def test_tricky_strings_survive() -> None:
    tricky = [
        "yes", "No", "on", "null", "~", "", " ", "1.0", "0x1f", "1e3", "2024-01-01", "12:30", "- a", "a: b", "a #b",
        "#c", "&a", "*a", "!t", "|", ">", "@x", "`x", "'q'", '"q"', "%p", "[x]", "{x}", "a\nb", "\u2028", "\x85",
        "\ufeff", "\x7f", "tab\there", "é ünïcode", "😀", "v1.0", "http://x.example/a?b=c#d",
    ]  # fmt: skip
    document = {"strings": tricky, **{key: key for key in tricky}}
    assert yaml.safe_load(dump_all([document]).decode().removeprefix("---\n")) == document


def test_block_style_reads_like_hand_written_yaml() -> None:
    entity = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "mnist", "tags": ["onnx", "gpu-true"], "links": [{"url": "https://x.org", "title": "A"}]},
        "spec": {"type": "model-server", "dependsOn": [], "owner": "user:kube-admin"},
    }
    assert dump_all([entity]).decode() == (
        "---\n"
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: Component\n"
        "metadata:\n"
        "  name: mnist\n"
        "  tags:\n"
        "    - onnx\n"
        "    - gpu-true\n"
        "  links:\n"
        '    - url: "https://x.org"\n'
        "      title: A\n"
        "spec:\n"
        "  type: model-server\n"
        "  dependsOn: []\n"
        '  owner: "user:kube-admin"\n'
    )
