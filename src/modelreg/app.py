"""``create_app(settings)``: one process serves every surface (registry, governance, storage, bridge, catalog, web
UI). Later ones (deploy) mount here beside them and call the same services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelreg import __version__, ui, wire
from modelreg.api import bridge as bridge_api
from modelreg.api import catalog as catalog_api
from modelreg.api import deploy as deploy_api
from modelreg.api import docs, errors, governance, health, storage
from modelreg.api import events as events_api
from modelreg.api import metrics as metrics_api
from modelreg.api.auth import Authentication
from modelreg.api.middleware import BodyLimit, DefaultJsonContentType
from modelreg.api.registry import V1, V1ALPHA3, build_router
from modelreg.api.routes import include_flat
from modelreg.auth.authenticator import Authenticator
from modelreg.bridge import outputs as bridge_outputs
from modelreg.catalog.service import CatalogService
from modelreg.db.database import Database
from modelreg.deploy.service import CatalogModelRef, DeployService, make_validator
from modelreg.deploy.targets import TargetService
from modelreg.deploy.watcher import StatusWatcher
from modelreg.errors import NotFound
from modelreg.events.feed import EventFeed
from modelreg.events.webhooks import WebhookService
from modelreg.events.worker import EventWorker
from modelreg.kube.client import Kube
from modelreg.services.access import AccessService
from modelreg.services.archive import ArchiveService
from modelreg.services.artifact_files import ArtifactFiles
from modelreg.services.audit import AuditService
from modelreg.services.connections import ConnectionService
from modelreg.services.experiments import ExperimentService
from modelreg.services.lifecycle import LifecycleService, Policy
from modelreg.services.registry import RegistryService
from modelreg.services.secrets import SecretBox
from modelreg.services.transfers import TransferService
from modelreg.services.uploads import UploadService
from modelreg.settings import Settings
from modelreg.telemetry.metrics import Telemetry
from modelreg.telemetry.middleware import RequestTelemetry, RouteCapture
from modelreg.transfers.kube_job import KubernetesRunner
from modelreg.transfers.worker import TransferWorker


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    db = db or Database(settings.resolved_database_url(), settings.database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _app.state.uploads.start_sweep()  # partial writes of uploads a killed process left behind
        bridge_api.start(_app)
        _app.state.catalog.start()
        _app.state.transfer_worker.start()
        _app.state.event_worker.start()
        if _app.state.deploy_watcher is not None:
            _app.state.deploy_watcher.start()
        if _app.state.bridge_outputs is not None:
            _app.state.bridge_outputs.start()
        restore_signals = health.drain_on_signals(_app)  # readiness fails from SIGTERM on, while requests drain
        yield
        restore_signals()
        if _app.state.bridge_outputs is not None:
            _app.state.bridge_outputs.stop()
        _app.state.catalog.stop()
        _app.state.transfer_worker.stop()
        _app.state.event_worker.stop()
        bridge_api.stop(_app)
        if _app.state.deploy_watcher is not None:
            _app.state.deploy_watcher.stop()
        if _app.state.kube is not None:
            _app.state.kube.close()
        db.dispose()

    app = FastAPI(
        title="modelreg",
        version=__version__,
        description="Model registry with governance; speaks the Kubeflow Model Registry REST API.",
        lifespan=lifespan,
        docs_url=None,  # docs.install: Swagger UI from the package, not a CDN
        redoc_url=None,
        redirect_slashes=False,  # as the reference: /registered_models/ is a 404, not a redirect
    )
    registry = RegistryService(db, settings.limits)
    app.state.settings = settings
    app.state.db = db
    app.state.registry = registry
    app.state.experiments = ExperimentService(registry)
    app.state.access = access = AccessService(db)
    app.state.audit = AuditService(db)
    app.state.lifecycle = LifecycleService(registry, Policy.load(settings.governance.policy_file))
    app.state.connections = connections = ConnectionService(
        db,
        SecretBox(settings.storage, settings.data_dir),
        settings.data_dir / "artifacts",
        sign_s3_payloads=settings.storage.sign_s3_payloads,
        modelcar_base_image=settings.storage.modelcar_base_image,
    )
    app.state.uploads = UploadService(
        db, connections, settings.storage.default_connection, settings.storage.upload_ttl_seconds
    )
    app.state.artifact_files = ArtifactFiles(db, connections)
    app.state.archive = ArchiveService(registry, app.state.uploads)
    app.state.authenticator = authenticator = Authenticator(settings.auth, access)
    app.state.catalog = CatalogService(settings, db)
    app.state.kube = kube = Kube.from_settings(settings.kubernetes, field_manager=settings.deploy.field_manager)
    # transfer jobs (issue 18): the server runner's worker (one process per cluster runs them, by lease) and, with
    # a cluster and the executor's settings, Kubernetes Jobs
    can_run_jobs = kube is not None and settings.storage.transfer_server_url is not None
    app.state.transfers = transfers = TransferService(
        db,
        connections,
        connections.secrets,
        kubernetes=can_run_jobs,
        default_runner=settings.storage.transfer_runner,
        default_namespace=kube.default_namespace if kube is not None else None,
        properties=lambda props: wire.properties_to_db(props, settings.limits),
    )
    kube_runner = KubernetesRunner(kube, transfers, connections, access, settings) if can_run_jobs and kube else None
    app.state.transfer_worker = TransferWorker(
        transfers,
        connections,
        workers=settings.storage.transfer_workers,
        base_image=settings.storage.modelcar_base_image,
        kubernetes=kube_runner,
    )
    # events (issue 16): the relay and webhook deliveries (one process per cluster, by lease), the SSE feed
    app.state.event_feed = feed = EventFeed(db, settings.events)
    app.state.event_worker = EventWorker(db, connections.secrets, settings.events, on_relayed=feed.notify)
    app.state.webhooks = WebhookService(db, connections.secrets, settings.events)
    app.state.deploy_targets = targets = TargetService(db, connections, kube, settings.deploy)
    # the deploy feature (issue 12); the UI shows Deploy actions only when it is set
    app.state.deploy = None
    # deployment status from the cluster (one writer per cluster, by lease); None without a cluster
    app.state.deploy_watcher = None
    if settings.deploy.enabled and kube is not None:
        app.state.deploy_watcher = StatusWatcher(db, kube, registry, settings.deploy)
    if settings.deploy.enabled:
        app.state.deploy = DeployService(
            db,
            registry,
            targets,
            kube,
            make_validator(settings.deploy),
            settings.deploy,
            catalog_lookup=_catalog_lookup(app.state.catalog),
        )

    errors.install(app)
    app.state.telemetry = telemetry = Telemetry(db, enabled=settings.metrics.enabled)
    if settings.metrics.enabled or settings.access_log:
        app.add_middleware(RouteCapture)  # innermost: the matched route, for the metrics and the access log
    app.add_middleware(DefaultJsonContentType)
    app.add_middleware(BodyLimit, limit=settings.limits.max_json_body_bytes)
    app.state.auth_inline = db.inline and not authenticator.may_block  # api/auth.py principal_of
    app.add_middleware(Authentication, authenticator=authenticator, inline=app.state.auth_inline)
    app.add_middleware(  # outermost: the request id and the metrics of every response, refusals included
        RequestTelemetry,
        metrics=telemetry.http,
        access=settings.access_log,
        failure=errors.error_response(500, "internal server error"),
    )
    docs.install(app)
    include_flat(app, health.router)  # flat: see api/routes.py
    include_flat(app, build_router(experiments_api=True), prefix=V1ALPHA3)
    include_flat(app, build_router(experiments_api=False), prefix=V1)
    app.include_router(governance.build_router(), prefix=governance.PREFIX)
    app.include_router(storage.build_router(), prefix=storage.PREFIX)
    app.include_router(catalog_api.build_router(), prefix=catalog_api.PREFIX)
    if settings.deploy.enabled:
        app.include_router(deploy_api.build_router(), prefix=deploy_api.PREFIX)
    if settings.events.enabled:
        app.include_router(events_api.build_router(), prefix=events_api.PREFIX)
    bridge_api.install(app, settings, db)
    app.state.bridge_outputs = bridge_outputs.attach(app.state.bridge_sync, db, settings.bridge, kube)
    metrics_api.install(app, telemetry, settings.metrics)  # after the API routes, which it would slow otherwise
    if settings.ui.enabled:
        ui.install(app)
    return app


def _catalog_lookup(catalog: CatalogService) -> Callable[[str, str], CatalogModelRef | None]:
    """How the deploy finds a catalog model (deploy sits beside the catalog and cannot import it)."""

    def lookup(source_id: str, name: str) -> CatalogModelRef | None:
        try:
            model = catalog.get_model(source_id, name)
        except NotFound:
            return None
        return CatalogModelRef(model.source_id, model.name, model.description, model.model_uri)

    return lookup
