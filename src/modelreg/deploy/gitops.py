"""GitOps output: one kustomize-ready folder per deployment (``<root>/<namespace>/<name>/``) with one file per
object and a ``kustomization.yaml``. Credentials never land in it: the connection Secret comes from a
``secretGenerator`` reading an env file the operator provides (an example with the keys, no values, is written)."""

from __future__ import annotations
