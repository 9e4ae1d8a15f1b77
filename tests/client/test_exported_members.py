"""``__all__`` lists exactly the public names, sorted (as httpx checks its own)."""

from __future__ import annotations

import modelreg.client


def test_all_is_complete_and_sorted() -> None:
    public = {name for name in vars(modelreg.client) if not name.startswith("_")}
    assert set(modelreg.client.__all__) == public
    assert modelreg.client.__all__ == sorted(modelreg.client.__all__)
