"""One-click deployment to KServe (docs/deploy.md). No web imports; `api/deploy`, `ui` and `cli/deploy.py` call it.

- `targets.py`: hardware profiles, serving-runtime templates and data connections to deploy with (from the cluster,
  `cluster_reads.py`, or modelreg's own definitions, `target_rows.py`), as the shapes of `target_shapes.py`;
  `defaults.py` the platform's usual set that `modelreg seed` creates.
- `names.py`: Kubernetes names the way the OpenShift AI dashboard makes them.
- `requests.py`: what a deploy or an edit asks for; `planner.py`: a request → a `DeployPlan` (model, profile,
  connection, runtime, names), after `policy.py` (who may deploy what where: stage per namespace, verified
  digests; the profile's bounds are the planner's).
- `objects.py`: a `DeployPlan` → the objects, in the dashboard's order, labels and annotations (pure);
  `object_checks.py`: each checked against its schema before the first is sent.
- `render.py`: objects → multi-document YAML (secret values redacted unless asked); `gitops.py`: a kustomize-ready
  folder per deployment.
- `cluster.py`: applying the objects in order, removing what a failed deploy created; `cluster_errors.py`: every
  Kubernetes error as a `modelreg.errors` one.
- `store.py` + `history.py`: the deployments table and each deployment's persistent history.
- `service.py`: `DeployService`, deploy / edit / stop / start / undeploy in the three modes (apply, GitOps, dry run).
- `status.py`: an InferenceService (and its pods) → the status the dashboard shows (pure);
  `watcher.py`: watches the cluster (one process per cluster writes, by lease) and records status changes
  (`status_rows.py`) and the registry records the platform's controller writes (`records.py`).
"""
