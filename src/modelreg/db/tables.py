"""The registry's relational schema.

Designed for this service, not a copy of MLMD: every well-known field is a real, indexable column,
each entity kind has its own table and id sequence, and only user-defined custom properties live in
the key/value table ``properties``. Names and external ids compare case-sensitively on every
database (MariaDB gets a binary collation for them), see ``docs/decisions.md``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.mysql import LONGTEXT

NAME_LENGTH = 255

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _name() -> String:
    return String(NAME_LENGTH)


_short = _name


def _long_text() -> Text:
    return Text().with_variant(LONGTEXT(), "mysql", "mariadb")


def _table(name: str, *items: Column[Any] | Index | UniqueConstraint) -> Table:
    """A table whose strings compare byte-wise on MariaDB, as on SQLite and PostgreSQL: case-sensitive, and
    without PAD SPACE ("m" and "m " are different names)."""
    return Table(
        name, metadata, *items, mysql_charset="utf8mb4", mysql_collate="utf8mb4_nopad_bin", mysql_engine="InnoDB"
    )


def _id() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


def _common() -> list[Column[Any]]:
    """Columns every registry entity has: name, externalId, description and the two timestamps."""
    return [
        Column("name", _name(), nullable=False),
        Column("external_id", _name(), nullable=True, unique=True),
        Column("description", Text, nullable=True),
        Column("create_time", BigInteger, nullable=False, index=True),
        Column("last_update_time", BigInteger, nullable=False, index=True),
    ]


registered_models = _table(
    "registered_models",
    _id(),
    *_common(),
    Column("owner", _short()),
    Column("state", String(16), nullable=False, index=True),
    Column("readme", Text),
    Column("maturity", _short()),
    Column("language", Text),  # JSON array
    Column("tasks", Text),  # JSON array
    Column("provider", _short()),
    Column("logo", Text),
    Column("license", _short()),
    Column("license_link", Text),
    Column("library_name", _short()),
    UniqueConstraint("name"),
)

model_versions = _table(
    "model_versions",
    _id(),
    Column("registered_model_id", BigInteger, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    *_common(),
    Column("author", _short()),
    Column("state", String(16), nullable=False, index=True),
    # Archived together with its model (not on its own): restoring the model restores it too.
    Column("archived_with_model", Boolean, nullable=True),
    # The lifecycle stage (services/lifecycle.py); clients see it as the custom property "Lifecycle". NULL: never
    # set, the first stage (development), shown as no property at all so clients read back what they wrote.
    Column("stage", String(16), nullable=True),
    UniqueConstraint("registered_model_id", "name"),
    Index(None, "name"),
)

serving_environments = _table(
    "serving_environments",
    _id(),
    *_common(),
    UniqueConstraint("name"),
)

inference_services = _table(
    "inference_services",
    _id(),
    Column(
        "serving_environment_id",
        BigInteger,
        ForeignKey("serving_environments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    *_common(),
    Column("registered_model_id", BigInteger, nullable=False, index=True),
    Column("model_version_id", BigInteger, nullable=True, index=True),
    Column("runtime", _short()),
    Column("desired_state", String(16), nullable=False),
    UniqueConstraint("serving_environment_id", "name"),
)

serve_models = _table(
    "serve_models",
    _id(),
    Column(
        "inference_service_id",
        BigInteger,
        ForeignKey("inference_services.id", ondelete="CASCADE"),
        nullable=False,
    ),
    *_common(),
    Column("model_version_id", BigInteger, nullable=False, index=True),
    Column("last_known_state", String(16), nullable=False),
    UniqueConstraint("inference_service_id", "name"),
)

experiments = _table(
    "experiments",
    _id(),
    *_common(),
    Column("owner", _short()),
    Column("state", String(16), nullable=False, index=True),
    UniqueConstraint("name"),
)

experiment_runs = _table(
    "experiment_runs",
    _id(),
    Column("experiment_id", BigInteger, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    *_common(),
    Column("owner", _short()),
    Column("state", String(16), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger),
    Column("end_time", BigInteger),
    UniqueConstraint("experiment_id", "name"),
)

# Experiments and their runs take ids from this one sequence, so a run id never equals an experiment id: the
# upstream 0.3.10 client looks a run up by name through ``GET /experiment_runs/{experimentId}`` and would
# otherwise resume another experiment's run (the reference server shares one id space for all such entities).
experiment_ids = _table("experiment_ids", _id())

# One table for every artifact type: /artifacts lists them together and ids are shared across types.
# ``parent_*`` is the owner that scopes the name (NULL for standalone artifacts, which may repeat names);
# further parents are links in ``artifact_attributions``.
artifacts = _table(
    "artifacts",
    _id(),
    Column("artifact_type", String(24), nullable=False, index=True),
    Column("parent_model_version_id", BigInteger, nullable=True),
    Column("parent_experiment_run_id", BigInteger, nullable=True),
    *_common(),
    Column("uri", Text),
    Column("state", String(24), nullable=False, index=True),
    Column("experiment_id", BigInteger, index=True),
    Column("experiment_run_id", BigInteger, index=True),
    # model-artifact
    Column("model_format_name", _short()),
    Column("model_format_version", _short()),
    Column("storage_key", _short()),
    Column("storage_path", Text),
    Column("service_account_name", _short()),
    Column("model_source_kind", _short()),
    Column("model_source_class", _short()),
    Column("model_source_group", _short()),
    Column("model_source_id", _short()),
    Column("model_source_name", _short()),
    # dataset-artifact
    Column("digest", _short()),
    Column("source_type", _short()),
    Column("source", Text),
    Column("schema", Text),
    Column("profile", Text),
    # metric / parameter
    Column("number_value", Float(53)),
    Column("string_value", Text),
    Column("timestamp", _short()),
    Column("step", BigInteger),
    Column("parameter_type", String(16)),
    UniqueConstraint("parent_model_version_id", "artifact_type", "name"),
    UniqueConstraint("parent_experiment_run_id", "artifact_type", "name"),
    Index(None, "name"),
)

artifact_attributions = _table(
    "artifact_attributions",
    Column("parent_kind", String(16), primary_key=True),  # "model_version" | "experiment_run"
    Column("parent_id", BigInteger, primary_key=True),
    Column("artifact_id", BigInteger, ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "artifact_id"),
)

# Every logged value of a run's metrics, in logging order; only visible through the metric_history endpoints.
metric_history = _table(
    "metric_history",
    _id(),
    Column("experiment_run_id", BigInteger, ForeignKey("experiment_runs.id", ondelete="CASCADE"), nullable=False),
    Column("experiment_id", BigInteger, nullable=True),
    Column("name", _name(), nullable=False),
    Column("description", Text),
    Column("external_id", _name(), nullable=True),
    Column("uri", Text),
    Column("state", String(24), nullable=False),
    Column("number_value", Float(53)),
    Column("timestamp", _short()),
    Column("step", BigInteger),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False, index=True),
    Index(None, "experiment_run_id", "name"),
)

# User-defined custom properties of every entity kind (``owner_kind`` is the entity table's name).
properties = _table(
    "properties",
    Column("owner_kind", String(32), primary_key=True),
    Column("owner_id", BigInteger, primary_key=True),
    Column("name", _name(), primary_key=True),
    Column("value_type", String(16), nullable=False),  # string | int | double | bool | struct
    Column("string_value", Text),
    Column("int_value", BigInteger),
    Column("double_value", Float(53)),
    Column("bool_value", Boolean),
    Index(
        "ix_properties_string",
        "owner_kind",
        "name",
        "string_value",
        "owner_id",
        mysql_length={"string_value": 191},
        mariadb_length={"string_value": 191},
    ),
    Index("ix_properties_int", "owner_kind", "name", "int_value", "owner_id"),
    Index("ix_properties_double", "owner_kind", "name", "double_value", "owner_id"),
)

# --- governance -----------------------------------------------------------------------------------------------

# Who holds which role: a user or a group, bound to admin, developer or viewer.
role_bindings = _table(
    "role_bindings",
    _id(),
    Column("subject_kind", String(8), nullable=False),  # user | group
    Column("subject", _name(), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    UniqueConstraint("subject_kind", "subject", "role"),
)

# API tokens: only the SHA-256 of the token is kept; the token itself is shown once, at creation.
api_tokens = _table(
    "api_tokens",
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_name", _name(), nullable=False, index=True),
    Column("group_names", Text, nullable=True),  # JSON array
    Column("description", Text, nullable=True),
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("expire_time", BigInteger, nullable=True),
    Column("revoke_time", BigInteger, nullable=True),
)

# The audit trail: append-only, each record chained to the previous one by SHA-256 (services/audit.py).
audit_log = _table(
    "audit_log",
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("actor", _name(), nullable=False),
    Column("via", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("entity_kind", String(32), nullable=False),
    Column("entity_id", BigInteger, nullable=True),
    Column("entity_name", Text, nullable=True),
    # Canonical JSON {"before": {...}, "after": {...}}: a whole entity as created, so as large as a request may be
    # (Settings.limits); MariaDB's TEXT holds only 64 KiB.
    Column("changes", _long_text(), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("client", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Only the history of one entity is looked up by index. Every index is written by every write transaction (in
    # SQLite's WAL, a 4 KB page each), so filters by actor or time scan the log in seq order instead.
    Index(None, "entity_kind", "entity_id", "seq"),
)

# One row whose lock serialises appends to the audit chain on server databases (SQLite writers are serial anyway).
audit_head = _table("audit_head", Column("id", Integer, primary_key=True, autoincrement=False))

# --- storage ----------------------------------------------------------------------------------------------------

# Named storage locations (services/connections.py): an S3 bucket, a read-only HTTP(S) location or a directory.
# The secret access key is only ever stored encrypted (services/secrets.py), never in plain text.
data_connections = _table(
    "data_connections",
    _id(),
    Column("name", _name(), nullable=False),
    Column("type", String(8), nullable=False),  # s3 | uri | local
    Column("description", Text, nullable=True),
    Column("endpoint", Text, nullable=True),  # s3
    Column("region", _short(), nullable=True),  # s3
    Column("bucket", _short(), nullable=True),  # s3
    Column("prefix", Text, nullable=True),  # s3
    Column("path_style", Boolean, nullable=False),  # s3
    Column("base_url", Text, nullable=True),  # uri
    Column("directory", Text, nullable=True),  # local
    Column("access_key_id", _short(), nullable=True),  # s3; not a secret, shown
    Column("secret_ciphertext", Text, nullable=True),  # s3; "v1:..." (services/secrets.py)
    # s3: sign with the server's own identity (boto3's default chain); otherwise only the keys above, or unsigned
    Column("use_workload_identity", Boolean, nullable=False, server_default=false()),
    Column("display_name", _name(), nullable=True),  # shown by the deploy wizard and on the Secret ("MinIO Storage")
    # oci: the registry "host[:port]" (prefix = the repository prefix, access_key_id = the username, the secret = the
    # password or a .dockerconfigjson, as secret_kind says); plain http only when plain_http is set
    Column("registry", _short(), nullable=True),
    Column("plain_http", Boolean, nullable=False, server_default=false()),
    Column("secret_kind", String(16), nullable=True),  # oci: password | dockerconfig
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    UniqueConstraint("name"),
)

# Artifact uploads (services/uploads.py). A session collects files under its own key prefix; commit registers the
# model, version and artifact in one transaction, so an interrupted upload never leaves a half-registered version.
# After commit the session row is the artifact's storage record (connection, key, digests of every file).
uploads = _table(
    "uploads",
    Column("id", String(32), primary_key=True),  # 128 random bits, hex
    Column("state", String(16), nullable=False),  # open | committed | aborted
    Column("registered_model_name", _name(), nullable=False),
    Column("version_name", _name(), nullable=False),
    Column("connection", _name(), nullable=False),
    Column("key", Text, nullable=False),  # the store key (prefix for a directory) the artifact URI names
    Column("single", Boolean, nullable=False),  # one file: the key is the file itself
    Column("uri", Text, nullable=False),
    Column("model_format_name", _short(), nullable=True),
    Column("model_format_version", _short(), nullable=True),
    Column("description", Text, nullable=True),
    Column("author", _name(), nullable=True),
    Column("created_by", _name(), nullable=False),
    Column("create_time", BigInteger, nullable=False, index=True),
    Column("last_update_time", BigInteger, nullable=False),
    Column("artifact_id", BigInteger, nullable=True, index=True),  # once committed
    Column("model_version_id", BigInteger, nullable=True),
    # oci connections: the tag the image gets, and the manifest digest pushed at commit (the artifact's image)
    Column("tag", String(128), nullable=True),
    Column("image_digest", String(71), nullable=True),
)

upload_files = _table(
    "upload_files",
    Column("upload_id", String(32), ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(512), primary_key=True),  # relative, "/"-separated; the file name for a single file
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    # oci connections: the file's layer (an uncompressed tar holding /models/<path>) as pushed to the registry
    Column("layer_digest", String(71), nullable=True),
    Column("layer_size", BigInteger, nullable=True),
)


# --- bridge -----------------------------------------------------------------------------------------------------

# The Backstage bridge's published records (bridge/store.py): one row per live model version of each source, with
# its model catalog JSON, so the location service answers from one indexed read. ``key`` is the Backstage entity
# name of the version (bridge/names.py), unique across sources because the source is its first part. The per-model
# catalog-info.yaml is rendered from the ``record`` column of a model's rows when it is read (migration 0007).
bridge_records = _table(
    "bridge_records",
    Column("key", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("model_key", String(64), nullable=False, index=True),
    Column("registered_model_id", String(64), nullable=False),
    Column("model_version_id", String(64), nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    # LONGTEXT on MariaDB/MySQL, whose TEXT holds 64 KiB: a version with many deployments outgrows that
    Column("document", _long_text(), nullable=False),  # model catalog JSON (JsonArrayFormat)
    Column("model_card", _long_text(), nullable=True),  # markdown for TechDocs
    Column("record", _long_text(), nullable=True),  # the normalized record (bridge/records.py) the YAML comes from
    Column("synced_at", BigInteger, nullable=False),
    Index(None, "source", "registered_model_id"),
    Index(None, "source", "model_version_id"),  # a refresh finds a changed version's row without its model's
)

# Per source: when it last synced and how that went, for ``modelreg bridge status``.
bridge_sources = _table(
    "bridge_sources",
    Column("name", String(64), primary_key=True),  # "local" for this registry
    Column("last_sync", BigInteger, nullable=True),
    Column("last_full_sync", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_time", BigInteger, nullable=True),
    # Remote sources: which server process polls the source until when (bridge/remote.py), so that several
    # processes on one database poll each source once per interval instead of fighting over its records.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
)


# --- web UI (ui/, services/users.py) ----------------------------------------------------------------------------

# Local accounts of the "password" login: Argon2id hashes only (argon2-cffi's encoded form, parameters included).
local_users = _table(
    "local_users",
    _id(),
    Column("username", _name(), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("group_names", Text, nullable=True),  # JSON array
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

# Web UI sessions (ui/sessions.py): the id is the SHA-256 of the cookie's random value, so the table alone logs no
# one in. ``user_name`` is empty for a visitor who has not logged in yet (the login form's CSRF token, OIDC state).
ui_sessions = _table(
    "ui_sessions",
    Column("id", String(64), primary_key=True),
    Column("user_name", _name(), nullable=True, index=True),
    Column("group_names", Text, nullable=True),  # JSON array
    Column("method", String(16), nullable=False),  # password | oidc | proxy | local | visitor
    Column("csrf_token", String(64), nullable=False),
    Column("data", Text, nullable=True),  # JSON: short-lived state (the OIDC login's state, nonce and verifier)
    Column("create_time", BigInteger, nullable=False),
    Column("expire_time", BigInteger, nullable=False, index=True),  # absolute end; the idle end is last_seen + idle
    Column("last_seen", BigInteger, nullable=False),
)


# --- deploy (deploy/) ----------------------------------------------------------------------------------------------

# modelreg's own deployment targets when no cluster provides them: hardware profiles and serving-runtime templates.
# ``body`` is the JSON of the Kubernetes object it stands for (a HardwareProfile, a ServingRuntime), so one shape
# serves both origins (deploy/targets.py).
deploy_targets = _table(
    "deploy_targets",
    _id(),
    Column("kind", String(32), nullable=False),  # hardware_profile | serving_runtime
    Column("name", _name(), nullable=False),
    Column("display_name", _name(), nullable=True),
    Column("description", Text, nullable=True),
    Column("body", Text, nullable=False),  # JSON
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    UniqueConstraint("kind", "name"),
)

# One row per deployment, kept after undeploy for history. ``active_key`` ("<namespace>/<name>") is set while the
# deployment exists and NULL after undeploy: the unique constraint lets only one live deployment hold a name, so
# two deploys of one name at once cannot both proceed, whichever process serves them (NULLs never collide).
deployments = _table(
    "deployments",
    _id(),
    Column("namespace", String(63), nullable=False),
    Column("name", String(63), nullable=False),
    Column("active_key", String(127), nullable=True, unique=True),
    Column("display_name", _name(), nullable=True),
    Column("registered_model_id", BigInteger, nullable=True, index=True),
    Column("model_version_id", BigInteger, nullable=True, index=True),
    Column("catalog_source", _name(), nullable=True),  # deployed from a catalog model that is not registered
    Column("catalog_model", _name(), nullable=True),
    Column("mode", String(16), nullable=False),  # apply | gitops
    Column("hardware_profile", _name(), nullable=True),
    Column("connection", _name(), nullable=True),
    Column("runtime", _name(), nullable=True),
    Column("request", Text, nullable=False),  # JSON: the deploy request as last applied (edits replace it)
    Column("desired_state", String(16), nullable=False),  # deployed | stopped | undeployed
    Column("status", String(32), nullable=False),  # Pending | Loading | Loaded | FailedToLoad | Redeploying | ...
    Column("status_message", Text, nullable=True),
    Column("internal_url", Text, nullable=True),
    Column("external_url", Text, nullable=True),
    Column("isvc_uid", String(64), nullable=True),
    # The resourceVersion of the InferenceService copy the status was last taken from: a staler copy (an informer
    # behind a stop call's own response, say) never writes an older status back.
    Column("isvc_version", String(64), nullable=True),
    Column("inference_service_id", BigInteger, nullable=True),  # the registry's InferenceService record
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False, index=True),
    Column("last_update_time", BigInteger, nullable=False),
    Column("status_time", BigInteger, nullable=True),  # when the status last changed
)

# The persistent history of each deployment: deploy, edit, stop, start, undeploy, failed, and every status change.
deployment_events = _table(
    "deployment_events",
    _id(),
    Column("deployment_id", BigInteger, ForeignKey("deployments.id"), nullable=False, index=True),
    Column("model_version_id", BigInteger, nullable=True, index=True),
    Column("event", String(32), nullable=False),  # deploy | edit | stop | start | undeploy | failed | status
    Column("status", String(32), nullable=True),
    Column("message", Text, nullable=True),
    Column("actor", _name(), nullable=False),
    Column("time", BigInteger, nullable=False),
)

# Transfer jobs (services/transfers.py): copy a model's files from a source (s3, http(s), an OCI image) to a
# destination connection (oci, s3), then register the result. ``active_key`` claims what the job will create
# ("model:<name>", "version:<model id>:<name>", "artifact:<id>") while the job is not finished, so two jobs for one
# name cannot both run (NULLs never collide). No column holds a secret in clear: ``source_secret`` is encrypted
# (services/secrets.py) and only for a source given inline.
transfer_jobs = _table(
    "transfer_jobs",
    Column("id", String(32), primary_key=True),  # 128 random bits, hex
    Column("name", String(63), nullable=False, unique=True),  # a Kubernetes name: the Job's, and modelSourceName
    Column("display_name", _name(), nullable=True),
    Column("active_key", String(255), nullable=True, unique=True),
    Column("intent", String(16), nullable=False),  # create_model | create_version | update_artifact
    Column("state", String(16), nullable=False),  # PENDING | RUNNING | COMPLETED | FAILED | CANCELLED
    Column("runner", String(16), nullable=False),  # server | kubernetes
    Column("namespace", String(63), nullable=True),  # kubernetes: where the Job runs (modelSourceGroup)
    Column("source", Text, nullable=False),  # JSON: type, connection, bucket/key, url, image; never a secret
    Column("source_secret", Text, nullable=True),  # "v1:..." encrypted JSON of inline source credentials
    Column("destination", Text, nullable=False),  # JSON: type, connection, repository/tag or key
    Column("metadata", Text, nullable=False),  # JSON: model/version/artifact names, descriptions, custom properties
    Column("registered_model_id", BigInteger, nullable=True),
    Column("model_version_id", BigInteger, nullable=True),
    Column("model_artifact_id", BigInteger, nullable=True, index=True),
    Column("result_uri", Text, nullable=True),
    Column("result_digest", String(71), nullable=True),
    Column("bytes_total", BigInteger, nullable=True),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    Column("files_total", BigInteger, nullable=True),
    Column("files_done", BigInteger, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),  # what failed, for people ("the OCI registry refused the push")
    Column("cause", Text, nullable=True),  # why (the underlying error's message; never a secret)
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("attempt", BigInteger, nullable=False, server_default="1"),
    Column("retry_of", String(32), nullable=True),
    Column("worker", String(64), nullable=True),  # the process running it, and until when (a heartbeat)
    Column("heartbeat_ms", BigInteger, nullable=True),
    Column("created_by", _name(), nullable=False),
    Column("create_time", BigInteger, nullable=False, index=True),
    Column("last_update_time", BigInteger, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
)

# Named leases: which server process runs a once-per-cluster worker (the deployment status watcher; later the
# event delivery worker) until when. db/leases.py.
leases = _table(
    "leases",
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("until_ms", BigInteger, nullable=True),
)

# --- events and webhooks (events/, issue 16) ---------------------------------------------------------------------

# The event log: one CloudEvent per audit record that is an event (events/cloudevents.py), written by the relay
# (events/relay.py, the lease holder) in audit order; ``seq`` is the audit record's, so an event's id is its audit
# sequence number. Webhook deliveries and the SSE stream send ``body`` as stored, byte for byte.
events = _table(
    "events",
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("type", String(128), nullable=False),  # io.modelreg.model_version.stage_changed
    Column("subject", String(255), nullable=True),  # model_versions/12
    Column("entity_key", String(128), nullable=False),  # model_version:12: deliveries are ordered per entity key
    Column("model_name", _name(), nullable=True),  # the registered model's name, for webhook filters
    Column("stage", String(32), nullable=True),  # the model version's lifecycle stage, for webhook filters
    Column("time_ms", BigInteger, nullable=False),  # the audit record's time
    Column("body", _long_text(), nullable=False),  # the CloudEvent, structured JSON
)

# How far the relay has read the audit log (one row, name "relay"): advanced in the transaction that writes the
# events and deliveries it read, so a crash re-reads, and the unique keys make a re-read harmless. No row (a new
# or upgraded database): the relay's first round starts at the audit head, so the history is not replayed.
event_cursors = _table(
    "event_cursors",
    Column("name", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

# Webhooks (events/webhooks.py): admins' subscriptions. The signing secret is stored encrypted (services/secrets.py)
# since it must be used, not only checked; it is shown once, at creation or rotation.
webhooks = _table(
    "webhooks",
    _id(),
    Column("name", _name(), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),  # JSON list of patterns: "io.modelreg.model_version.*", "*"
    Column("model_filter", _name(), nullable=True),  # a registered model name (glob)
    Column("stage_filter", String(32), nullable=True),  # a lifecycle stage
    Column("description", Text, nullable=True),
    Column("active", Boolean, nullable=False),  # false: an admin switched it off; events are not queued for it
    Column("paused_time", BigInteger, nullable=True),  # set: paused after repeated failure (queued, not sent)
    Column("paused_reason", Text, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("secret", Text, nullable=False),  # "v1:..." encrypted signing secret
    Column("created_by", _name(), nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("since_seq", BigInteger, nullable=False),  # events after this one are its (the audit head at creation)
)

# One row per (webhook, event) the relay matched: pending until delivered or given up. ``seq`` is NULL for a
# test delivery (`modelreg webhook test`), whose body is kept in ``test_body``.
webhook_deliveries = _table(
    "webhook_deliveries",
    _id(),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=True),
    Column("entity_key", String(128), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed (gave up) | test
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_ms", BigInteger, nullable=True),  # pending: not before
    Column("create_time", BigInteger, nullable=False),
    Column("last_attempt_time", BigInteger, nullable=True),
    Column("delivered_time", BigInteger, nullable=True),
    Column("status_code", Integer, nullable=True),  # the receiver's last answer
    Column("latency_ms", Integer, nullable=True),  # commit of the change to the receiver's answer (delivered)
    Column("last_error", Text, nullable=True),  # why the last attempt failed (never a secret)
    Column("test_body", Text, nullable=True),
    UniqueConstraint("webhook_id", "seq"),  # two relays cannot queue one event twice
    Index(None, "state", "next_attempt_ms"),
    Index(None, "webhook_id", "entity_key", "seq"),
    Index(None, "webhook_id", "id"),
)

# --- imports (importers/, issue 16) -------------------------------------------------------------------------------

# What an import brought in, keyed by the source and the source's own id, so a re-run skips or updates it and an
# interrupted run resumes: ``fingerprint`` is a hash of what the source said, the entity's last import.
import_records = _table(
    "import_records",
    _id(),
    Column("source", String(255), nullable=False),  # "mlflow:http://mlflow:5000", "kubeflow:https://mr.example"
    Column("source_kind", String(32), nullable=False),  # registered_model | model_version | artifact | ...
    Column("source_id", String(255), nullable=False),
    Column("entity_kind", String(32), nullable=False),  # the modelreg entity it became (its audit name)
    Column("entity_id", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("import_time", BigInteger, nullable=False),
    UniqueConstraint("source", "source_kind", "source_id"),
)

# The event log and its cursor go with the audit log they are derived from (`modelreg db reset` keeps them).
GOVERNANCE_TABLES = [
    webhook_deliveries,
    webhooks,
    events,
    event_cursors,
    role_bindings,
    api_tokens,
    audit_log,
    data_connections,
    ui_sessions,
    local_users,
]

# Tables that `modelreg db reset` empties, children first.
REGISTRY_TABLES = [
    import_records,
    transfer_jobs,
    deployment_events,
    deployments,
    deploy_targets,
    leases,
    bridge_records,
    bridge_sources,
    upload_files,
    uploads,
    experiment_ids,
    properties,
    metric_history,
    artifact_attributions,
    artifacts,
    serve_models,
    inference_services,
    serving_environments,
    experiment_runs,
    experiments,
    model_versions,
    registered_models,
]
