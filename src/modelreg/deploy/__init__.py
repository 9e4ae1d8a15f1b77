"""One-click deployment to KServe (docs/deploy.md). No web imports; `api/deploy`, `ui` and `cli/deploy.py` call it.

- `targets.py`: hardware profiles, serving-runtime templates and data connections to deploy with (from the cluster,
  or modelreg's own definitions); `defaults.py` the platform's usual set that `modelreg seed` creates.
- `names.py`: Kubernetes names the way the OpenShift AI dashboard makes them.
- `objects.py`: a `DeployPlan` → the objects, in the dashboard's order, labels and annotations (pure).
- `render.py`: objects → multi-document YAML (secret values redacted unless asked); `gitops.py`: a kustomize-ready
  folder per deployment.
- `policy.py`: who may deploy what where (stage per namespace, verified digests, profile bounds).
- `store.py` + `history.py`: the deployments table and each deployment's persistent history.
- `service.py`: `DeployService`, deploy / edit / stop / start / undeploy in the three modes (apply, GitOps, dry run).
- `status.py`: an InferenceService (and its pods) → the status the dashboard shows (pure);
  `watcher.py`: watches the cluster, records status changes and the registry records the platform's controller
  writes (one process per cluster, by lease); `records.py`: those registry records.
"""
