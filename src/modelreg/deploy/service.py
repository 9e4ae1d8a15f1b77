"""`DeployService`: deploy, edit, stop, start and undeploy, in three modes that produce the same objects.

- ``apply``: to the cluster. The deployment's name is claimed in the database first (``deployments.active_key``,
  unique), so two deploys of one name refuse one of them before anything reaches the cluster; every object is
  validated against its schema before the first is sent; objects are written with server-side apply in the
  dashboard's order; a failed step deletes what this deploy created and releases the name.
- ``gitops``: the same objects as a kustomize-ready folder per deployment (no cluster needed).
- ``dry_run``: the objects as multi-document YAML, touching nothing (secret values redacted).
Every write is authorized (``deploy`` permission), checked against the deploy policy, recorded in the deployment's
history and in the audit trail.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db.database import Database
from modelreg.deploy import gitops, history, objects, records, render, store
from modelreg.deploy.cluster import delete_quietly, described, roll_out
from modelreg.deploy.cluster_errors import NO_CLUSTER, cluster_call
from modelreg.deploy.object_checks import ObjectChecks, make_validator
from modelreg.deploy.objects import DeployPlan
from modelreg.deploy.planner import TOKEN_NAME, PlanInfo, Planner
from modelreg.deploy.policy import DeployPolicy
from modelreg.deploy.requests import CatalogLookup, CatalogModelRef, DeployChanges, DeployRequest, changed_fields
from modelreg.deploy.status import STOP_ANNOTATION, status_of
from modelreg.deploy.store import Deployment
from modelreg.deploy.targets import TargetService
from modelreg.errors import Conflict, InvalidInput, NotFound, RegistryError
from modelreg.kube.client import Json, Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, SERVING_RUNTIME, kind_of
from modelreg.kube.schemas import Validator
from modelreg.kube.shapes import resource_version
from modelreg.services import audit, clock
from modelreg.services.registry import RegistryService
from modelreg.settings import DeploySettings

__all__ = [
    "CatalogLookup",
    "CatalogModelRef",
    "DeployChanges",
    "DeployRequest",
    "DeployResult",
    "DeployService",
    "Mode",
    "make_validator",
]

log = logging.getLogger(__name__)
Mode = Literal["apply", "gitops", "dry_run"]
AUDIT_KIND = "deployment"
MAX_PAGE_SIZE = 500
_GITOPS_KEYS = ("gitopsRoot", "gitopsDirectory")  # kept in a GitOps deployment's stored request
# (``DeployService.list`` hides the builtin inside the class, so its annotations use these)
Objects = list[Json]
Page = tuple[list[Deployment], str]
Events = list[history.Event]


@dataclass(frozen=True, slots=True)
class DeployResult:
    deployment: Deployment | None  # None for a dry run
    objects: list[dict[str, Any]]  # as sent / written; Secret values redacted
    yaml: str  # the objects as multi-document YAML (redacted)
    directory: Path | None = None  # gitops
    warnings: tuple[str, ...] = ()  # e.g. a kind whose schema is unknown, so it was not validated


class DeployService:
    """Built in ``create_app`` (and by the CLI) from the database, the registry, the targets, the Kubernetes client
    (None without a cluster), the schema validator and the deploy settings."""

    def __init__(
        self,
        db: Database,
        registry: RegistryService,
        targets: TargetService,
        kube: Kube | None,
        validator: Validator,
        settings: DeploySettings,
        *,
        catalog_lookup: CatalogLookup | None = None,
        policy: DeployPolicy | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.targets = targets
        self.kube = kube
        self.validator = validator
        self.settings = settings
        self.policy = policy if policy is not None else DeployPolicy.load(settings.policy_file)
        self.planner = Planner(db, targets, kube, settings, self.policy, catalog_lookup)
        self.checks = ObjectChecks(validator, kube)

    # --- deploying ---------------------------------------------------------------------------------------------

    def plan(self, req: DeployRequest, *, credentials: bool = False) -> tuple[DeployPlan, PlanInfo]:
        """What a deploy of ``req`` would build, after the policy (403 naming the rule that refuses); the data
        connection's credentials are decrypted into its Secret only with ``credentials`` (to apply it)."""
        context.require(Permission.DEPLOY, "deploy models")
        return self.planner.plan(req, credentials=credentials)

    def preview(self, req: DeployRequest) -> DeployResult:
        """A dry run: the objects, built and validated, as redacted YAML. Writes nothing anywhere."""
        plan, _ = self.plan(req)
        objs = objects.build(plan)
        return _result(None, objs, self.checks.validate(objs))

    def deploy(self, req: DeployRequest, mode: Mode = "apply") -> DeployResult:
        if mode == "dry_run":
            return self.preview(req)
        if mode == "gitops":
            context.require(Permission.DEPLOY, "deploy models")
            if self.settings.gitops_dir is None:
                raise Conflict("this server writes no GitOps output: deploy.gitops_dir is not set")
            return self.deploy_to_directory(req, self.settings.gitops_dir)
        if mode != "apply":
            raise InvalidInput(f"invalid mode {mode!r}: apply, gitops or dry_run")
        context.require(Permission.DEPLOY, "deploy models")
        kube = self._cluster()
        plan, info = self.plan(req, credentials=True)
        objs = objects.build(plan)
        warnings = self.checks.validate(objs)
        self.checks.require_served(kube, objs)
        if info.namespace_exists is False:
            raise NotFound(f"namespace {plan.namespace} does not exist in the cluster")
        message = f"applying {len(objs)} objects to namespace {plan.namespace}"
        deployment_id = self._claim(plan, info, "apply", info.request.to_wire(), message)
        try:
            isvc = roll_out(kube, plan, objs)
        except Exception as exc:
            self._release(deployment_id, info, exc.message if isinstance(exc, RegistryError) else "internal error")
            raise
        return _result(self.db.run_write(_applied, deployment_id, isvc), objs, warnings)

    def deploy_to_directory(self, req: DeployRequest, root: Path) -> DeployResult:
        """GitOps output under ``root`` (``<root>/<namespace>/<name>/``) and a deployment row in mode gitops,
        Pending until the status watcher sees the InferenceService appear in a cluster."""
        plan, info = self.plan(req)
        objs = objects.build(plan)
        warnings = self.checks.validate(objs)
        directory = root / plan.namespace / plan.name  # where gitops.write puts it
        request = {**info.request.to_wire(), "gitopsRoot": str(root), "gitopsDirectory": str(directory)}
        message = f"writing {len(objs)} objects to {directory}"
        deployment_id = self._claim(plan, info, "gitops", request, message)
        try:
            self._write_folder(root, plan, objs)
        except Exception as exc:
            self._release(deployment_id, info, exc.message if isinstance(exc, RegistryError) else "internal error")
            raise
        return _result(self.get(deployment_id), objs, warnings, directory)

    # --- changing a deployment ---------------------------------------------------------------------------------

    def edit(self, deployment_id: int, changes: DeployChanges) -> Deployment:
        """Replicas, profile and resources, runtime args and env, external route, token auth, display name and
        description. The InferenceService is applied again (its ServingRuntime is left alone, as the dashboard
        does), token objects added or deleted; the policy's stage and digest rules are not asked again (what is
        deployed where does not change), the profile's bounds are."""
        context.require(Permission.DEPLOY, "edit deployments")
        deployment = self._active(deployment_id)
        if deployment.adopted:
            raise Conflict(
                f"deployment {_label(deployment)} (id {deployment.id}) was adopted from the cluster: modelreg did not "
                "build its objects, so it does not edit them. Edit it where it was made (the OpenShift AI dashboard, "
                "or the GitOps repository), or undeploy it and deploy the model again from modelreg"
            )
        before = DeployRequest.from_wire(deployment.request)
        after = changes.apply_to(before)
        diff = changed_fields(before.to_wire(), after.to_wire())
        if not diff:
            return deployment
        plan, info = self.planner.plan(after, check_policy=False)
        stopped = deployment.desired_state == "stopped"
        fields: dict[str, Any] = {}
        if deployment.mode == "apply":
            fields = self._reapply(plan, stopped, had_tokens=before.token_auth)
        else:
            self._write_folder(Path(str(deployment.request["gitopsRoot"])), plan, objects.build(plan), stopped)
        kept = {k: deployment.request[k] for k in _GITOPS_KEYS if k in deployment.request}
        fields.update(
            request={**info.request.to_wire(), **kept},
            display_name=plan.display_name,
            hardware_profile=plan.profile.name,
        )
        return self._record(deployment, fields, "edit", history.describe_changes(diff))

    def stop(self, deployment_id: int) -> Deployment:
        """Annotation ``serving.kserve.io/stop: 'true'``: KServe scales the deployment to zero, keeping it."""
        return self._stop_or_start(deployment_id, stop=True)

    def start(self, deployment_id: int) -> Deployment:
        return self._stop_or_start(deployment_id, stop=False)

    def undeploy(self, deployment_id: int) -> Deployment:
        """Delete the InferenceService and its ServingRuntime (token objects go with the InferenceService, by owner
        reference; a saved connection Secret stays), or a GitOps deployment's folder. Undeploying an undeployed
        deployment changes nothing.

        The row is marked ``undeploying`` before the first delete, so the status watcher, which sees the
        InferenceService go, leaves the history to this call (one ``undeploy`` event, by the caller). A failed delete
        of the InferenceService puts the mark back as it was; once it is gone the deployment is undeployed, even
        when its ServingRuntime could not be deleted (the event says so). Undeploying one left ``undeploying`` (a
        process that stopped midway) finishes it."""
        context.require(Permission.DEPLOY, "undeploy deployments")
        with self.db.read() as conn:
            deployment = store.get(conn, deployment_id)
        if not deployment.active:
            return deployment
        if deployment.mode != "apply":
            _remove_folder(deployment)
            folder = deployment.request.get("gitopsDirectory")
            return self._undeployed(deployment, f"removed the GitOps folder {folder}")
        kube = self._cluster()
        before = self.db.run_write(store.mark_undeploying, deployment_id)
        if before is None:  # undeployed meanwhile, by another call or the watcher
            return self.get(deployment_id)
        try:
            delete_quietly(kube, INFERENCE_SERVICE, deployment.name, deployment.namespace)
        except Exception:
            self.db.run_write(store.unmark_undeploying, deployment_id, before.desired_state)
            raise
        message = f"removed from namespace {deployment.namespace}"
        runtime = deployment.runtime if deployment.adopted and deployment.runtime else deployment.name
        try:
            delete_quietly(kube, SERVING_RUNTIME, runtime, deployment.namespace)
        except RegistryError as exc:
            log.warning("undeploy %s: the ServingRuntime stays: %s", _label(deployment), exc.message)
            message += f"; its ServingRuntime {runtime} could not be deleted: {exc.message}"
        return self._undeployed(before, message)

    def _undeployed(self, before: Deployment, message: str) -> Deployment:
        fields = {
            "desired_state": "undeployed",
            "status": "Undeployed",
            "status_message": None,
            "internal_url": None,
            "external_url": None,
        }
        after = self._record(before, fields, "undeploy", message, once=True)
        if before.inference_service_id is not None:
            records.mark_undeployed(self.registry, before.inference_service_id)
        return after

    # --- reading -----------------------------------------------------------------------------------------------

    def get(self, deployment_id: int) -> Deployment:
        context.require(Permission.READ, "read deployments")
        with self.db.read() as conn:
            return store.get(conn, deployment_id)

    def list(
        self,
        model_version_id: int | None = None,
        registered_model_id: int | None = None,
        namespace: str | None = None,
        include_undeployed: bool = False,
        *,
        state: str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page:
        """Newest first, one page; the token ("" on the last page) continues it."""
        context.require(Permission.READ, "read deployments")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"invalid pageSize {page_size}: 1 to {MAX_PAGE_SIZE}")
        before_id = _parse_token(page_token)
        filters = store.Filters(model_version_id, registered_model_id, namespace, state, include_undeployed)
        with self.db.read() as conn:
            items = store.page(conn, filters, page_size, before_id)
        return items, (str(items[-1].id) if len(items) == page_size else "")

    def objects_of(self, deployment: Deployment) -> DeployResult:
        """A live deployment's objects, built again from its stored request (the policy is not asked again) with
        nothing decrypted, as redacted YAML: what anyone who may read the deployment may see of it. 409 for an
        undeployed one; a profile or runtime deleted since is the planner's error."""
        context.require(Permission.READ, "read deployments")
        if not deployment.active:
            raise Conflict(f"deployment {_label(deployment)} is undeployed: it has no objects")
        if deployment.adopted:
            raise Conflict(
                f"deployment {_label(deployment)} was adopted from the cluster: modelreg did not build its objects "
                f"(kubectl -n {deployment.namespace} get inferenceservice {deployment.name} -o yaml shows them)"
            )
        plan, _ = self.planner.plan(DeployRequest.from_wire(deployment.request), check_policy=False)
        return _result(deployment, objects.build(plan), ())

    def history(self, deployment_id: int | None = None, model_version_id: int | None = None) -> Events:
        """Newest first: every deploy, edit, stop, start, undeploy, failure and status change, with who and when."""
        context.require(Permission.READ, "read deployment history")
        with self.db.read() as conn:
            if deployment_id is not None:
                store.get(conn, deployment_id)  # 404 for an unknown deployment
            return history.events(conn, deployment_id=deployment_id, model_version_id=model_version_id)

    # --- internals: the cluster and the folder -----------------------------------------------------------------

    def _cluster(self) -> Kube:
        if self.kube is None:
            raise Conflict(NO_CLUSTER)
        return self.kube

    def _reapply(self, plan: DeployPlan, stopped: bool, *, had_tokens: bool) -> dict[str, Any]:
        """The InferenceService of ``plan`` applied again, token objects applied or deleted; the row's new fields."""
        kube = self._cluster()
        objs = objects.build(plan)
        self.checks.validate(objs)
        at = next(i for i, obj in enumerate(objs) if kind_of(obj) is INFERENCE_SERVICE)
        isvc_obj = _with_stop(objs[at], stopped)
        with cluster_call(kube, "apply", described(isvc_obj)):
            isvc = kube.apply(isvc_obj)
        tokens = objs[at + 1 :]
        if plan.token_names:
            for obj in tokens:
                owned = objects.with_owner(obj, isvc)
                with cluster_call(kube, "apply", described(owned)):
                    kube.apply(owned)
        elif had_tokens:
            with_tokens = objects.build(_with_token(plan))
            for obj in with_tokens[at + 1 :]:
                delete_quietly(kube, kind_of(obj), str(obj["metadata"]["name"]), plan.namespace)
        return _observed(isvc)

    def _stop_or_start(self, deployment_id: int, *, stop: bool) -> Deployment:
        verb = "stop" if stop else "start"
        context.require(Permission.DEPLOY, f"{verb} deployments")
        deployment = self._active(deployment_id)
        wanted = "stopped" if stop else "deployed"
        if deployment.desired_state == wanted:
            return deployment
        if deployment.mode == "apply":
            kube = self._cluster()
            patch = {"metadata": {"annotations": {STOP_ANNOTATION: "true" if stop else "false"}}}
            with cluster_call(kube, verb, f"InferenceService {deployment.namespace}/{deployment.name}"):
                fields = _observed(kube.patch(INFERENCE_SERVICE, deployment.name, deployment.namespace, patch))
        else:
            plan, _ = self.planner.plan(DeployRequest.from_wire(deployment.request), check_policy=False)
            self._write_folder(Path(str(deployment.request["gitopsRoot"])), plan, objects.build(plan), stop)
            fields = {"status": "Stopped" if stop else "Pending"}
        return self._record(deployment, {**fields, "desired_state": wanted}, verb)

    def _write_folder(self, root: Path, plan: DeployPlan, objs: Objects, stopped: bool = False) -> Path:
        if stopped:
            objs = [_with_stop(obj, True) if kind_of(obj) is INFERENCE_SERVICE else obj for obj in objs]
        try:
            return gitops.write(root, objs, namespace=plan.namespace, name=plan.name)
        except OSError as exc:
            raise Conflict(f"cannot write the GitOps folder under {root}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidInput(f"cannot write the GitOps folder under {root}: {exc}") from None

    # --- internals: the database -------------------------------------------------------------------------------

    def _active(self, deployment_id: int) -> Deployment:
        with self.db.read() as conn:
            deployment = store.get(conn, deployment_id)
        if not deployment.active:
            raise Conflict(f"deployment {_label(deployment)} (id {deployment_id}) is undeployed")
        if deployment.desired_state == store.UNDEPLOYING:
            raise Conflict(
                f"deployment {_label(deployment)} (id {deployment_id}) is being undeployed: undeploy it again to "
                "finish, should that not end"
            )
        return deployment

    def _claim(self, plan: DeployPlan, info: PlanInfo, mode: str, request: Mapping[str, Any], message: str) -> int:
        """The deployment's row, its ``deploy`` event and audit record, in one transaction, before anything is
        applied or written: so the event comes first in its history whatever the status watcher sees meanwhile, and
        the name is refused to a second deploy (409)."""
        model = info.model
        values = {
            "namespace": plan.namespace,
            "name": plan.name,
            "display_name": plan.display_name,
            "registered_model_id": model.registered_model_id,
            "model_version_id": model.version_id,
            "catalog_source": info.request.catalog_source,
            "catalog_model": info.request.catalog_model,
            "mode": mode,
            "hardware_profile": plan.profile.name,
            "connection": info.connection.name,
            "runtime": plan.runtime.name,
            "desired_state": "deployed",
            "status": "Pending",
            "created_by": context.current().principal.user[:255],
        }

        def run(conn: Connection) -> int:
            deployment_id = store.claim(conn, values, request)
            history.record(conn, deployment_id, model.version_id, "deploy", status="Pending", message=message)
            row = store.get(conn, deployment_id)
            audit.stage(conn, "deploy", AUDIT_KIND, deployment_id, _label(row), *store.audit_change(None, row))
            return deployment_id

        try:
            return self.db.run_write(run)
        except IntegrityError:
            with self.db.read() as conn:
                other = store.find_active(conn, plan.namespace, plan.name)
            by = "" if other is None else f" (by {other.created_by} at {audit.iso_time(other.create_time)})"
            raise Conflict(f"a deployment named {plan.name} already exists in namespace {plan.namespace}{by}") from None

    def _release(self, deployment_id: int, info: PlanInfo, cause: str) -> None:
        """A deploy that failed: the name is free again, the row says why (history event "failed")."""

        def run(conn: Connection) -> None:
            fields = {"desired_state": "undeployed", "status": "Undeployed", "status_message": cause}
            store.set_fields(conn, deployment_id, status_time=clock.now_ms(), **fields)
            history.record(conn, deployment_id, info.model.version_id, "failed", status="Undeployed", message=cause)
            name = f"{info.request.namespace}/{info.request.name}"
            audit.stage(conn, "deploy_failed", AUDIT_KIND, deployment_id, name, None, {"error": cause})

        self.db.run_write(run)

    def _record(
        self,
        deployment: Deployment | int,
        fields: Mapping[str, Any],
        event: str,
        message: str | None = None,
        *,
        once: bool = False,
    ) -> Deployment:
        """Update the row, append the history event and the audit record, in one transaction; with ``once``, none
        of it when the deployment is undeployed already (two undeploys at once record one)."""

        def run(conn: Connection) -> Deployment:
            before = store.get(conn, deployment) if isinstance(deployment, int) else deployment
            if once and not (current := store.get(conn, before.id, lock=True)).active:
                return current
            values = dict(fields)
            if "status" in values and values["status"] != before.status:
                values.setdefault("status_time", clock.now_ms())
            store.set_fields(conn, before.id, **values)
            after = store.get(conn, before.id)
            history.record(conn, before.id, before.model_version_id, event, status=after.status, message=message)
            audit.stage(conn, event, AUDIT_KIND, before.id, _label(after), *store.audit_change(before, after))
            return after

        return self.db.run_write(run)


def _result(
    deployment: Deployment | None, objs: list[Json], warnings: tuple[str, ...], directory: Path | None = None
) -> DeployResult:
    return DeployResult(deployment, [render.redact(o) for o in objs], render.to_yaml(objs), directory, warnings)


def _label(deployment: Deployment) -> str:
    return f"{deployment.namespace}/{deployment.name}"


def _applied(conn: Connection, deployment_id: int, isvc: Json) -> Deployment:
    """A deploy's objects are in the cluster: the InferenceService's uid on the row, and its status unless the status
    watcher recorded one already (it may have seen the object first; what it wrote is as new). No event: the
    deploy's was written with the claim."""
    row = store.get(conn, deployment_id, lock=True)
    fields = _observed(isvc)
    if row.isvc_uid is not None:
        fields = {"isvc_uid": fields["isvc_uid"]}
    elif fields["status"] != row.status:
        fields["status_time"] = clock.now_ms()
    store.set_fields(conn, deployment_id, **fields)
    return store.get(conn, deployment_id)


def _observed(isvc: Json) -> dict[str, Any]:
    """The row's status fields from an InferenceService as the API server returned it: Pending while KServe has
    not reported anything yet (the status watcher follows from there)."""
    seen = status_of(isvc)
    reported = bool(isvc.get("status")) or seen.stopped
    return {
        "status": seen.state if reported else "Pending",
        "status_message": seen.message if reported else None,  # as the watcher records it: no second event
        "internal_url": seen.internal_url,
        "external_url": seen.external_url,
        "isvc_uid": (isvc.get("metadata") or {}).get("uid"),
        "isvc_version": resource_version(isvc) or None,
    }


def _with_stop(isvc: Json, stopped: bool) -> Json:
    if not stopped:
        return isvc
    metadata = dict(isvc["metadata"])
    metadata["annotations"] = {**(metadata.get("annotations") or {}), STOP_ANNOTATION: "true"}
    return {**isvc, "metadata": metadata}


def _with_token(plan: DeployPlan) -> DeployPlan:
    return dataclasses.replace(plan, token_names=(TOKEN_NAME,), auth=True)


def _remove_folder(deployment: Deployment) -> None:
    directory = deployment.request.get("gitopsDirectory")
    if not directory:
        return
    path = Path(str(directory))
    if path.parts[-2:] != (deployment.namespace, deployment.name):  # only ever the folder this deployment wrote
        raise Conflict(f"refusing to remove {path}: not the GitOps folder of {deployment.namespace}/{deployment.name}")
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise Conflict(f"cannot remove the GitOps folder {path}: {exc.strerror or exc}") from None


def _parse_token(token: str | None) -> int | None:
    if not token:
        return None
    if not token.isdigit() or not 0 < int(token) < 2**63:
        raise InvalidInput(f"invalid nextPageToken {token[:40]!r}")
    return int(token)
