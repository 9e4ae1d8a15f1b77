"""Imports from other registries (docs/import.md): ``modelreg import mlflow|kubeflow``.

A source (`mlflow.py`, `kubeflow.py`) reads the other registry over its REST API and yields `model.SourceEntity`s
in dependency order (a parent before its children), each already in modelreg's own terms. `runner.py` applies
them with `writer.py` (through `services/imports.py`, one transaction per entity, audited as the importing user
naming the source), consulting `ledger.py` (table ``import_records``): an entity brought in before is skipped when
the source says the same (same fingerprint) or updated when it changed, so a re-run is a no-op and an interrupted
run resumes. ``--dry-run`` plans without writing; the runner shows progress and ends with a summary."""
