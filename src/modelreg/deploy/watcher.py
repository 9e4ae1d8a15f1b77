"""`StatusWatcher`: watches the InferenceServices carrying the registry labels (and their predictor pods), maps
their status (deploy/status.py) and records each change on its deployment (row, history, audit) and in the registry
records (deploy/records.py). Every process keeps the watch (cheap when idle); one process per cluster, holding the
lease ``deploy-status``, writes."""

from __future__ import annotations
