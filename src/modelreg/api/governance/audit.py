"""Placeholder: the audit endpoints of the governance API."""

from __future__ import annotations

from modelreg.api.registry.common import ERRORS, RegistryRouter

router = RegistryRouter(responses=ERRORS)
