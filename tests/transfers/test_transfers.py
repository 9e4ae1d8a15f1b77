"""Transfer jobs in the server's worker, S3 and http(s) sources into S3, on a real S3-compatible server (moto over
HTTP) and a local http server: files and digests round-trip, what gets registered (all the metadata, the job's
provenance), validation before any byte moves, one job per name, cancel mid-copy, retry, update_artifact, and the
worker lease."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blobs.conftest import S3Server
from blobs.conftest import s3_server as s3_server
from conftest import SQLITE_ONLY
from modelreg.db.database import Database
from modelreg.errors import BadGateway, Conflict, Forbidden, InvalidInput, MissingField, NotFound, RegistryError
from modelreg.services import entities as e
from modelreg.services.artifact_files import ArtifactFiles
from modelreg.services.registry import RegistryService
from modelreg.services.transfers import Destination, Metadata, Source, TransferJob
from modelreg.wire import properties_to_wire
from transfers.helpers import MB, Env, Files, environment, sha, tar_of
from transfers.helpers import files as files
from transfers.helpers import transfer_database as transfer_database

pytestmark = pytest.mark.usefixtures("as_system")
sqlite_only = getattr(pytest.mark, SQLITE_ONLY)


@pytest.fixture
def env(
    request: pytest.FixtureRequest,
    transfer_database: Database,
    tmp_path: Path,
    s3_server: S3Server,
    files: Files,
) -> Iterator[Env]:
    yield from environment(request, transfer_database, tmp_path, s3_server, files)


def s3_to_s3(env: Env, model: str = "llama", key: str = "raw/llama", **meta: object) -> TransferJob:
    values = {"model_name": model, "version_name": "v1", **meta}
    return env.service.create(
        "create_model",
        Source("s3", "lake", key=key),
        Destination("s3", "vault"),
        Metadata(**values),  # type: ignore[arg-type]
    )


def nothing_registered(env: Env) -> bool:
    with env.database.read() as conn:
        return conn.execute(e.REGISTERED_MODEL.table.select()).first() is None


# --- copies ------------------------------------------------------------------------------------------------------


def test_s3_prefix_to_s3_registers_every_file_and_all_the_metadata(env: Env) -> None:
    contents = {"config.json": b'{"a": 1}', "weights/part-1.bin": b"x" * (6 * MB + 3), "README.md": b"# card"}
    for path, data in contents.items():
        env.put(f"raw/llama/{path}", data)
    env.put("raw/llama-other/not-this.bin", b"elsewhere")  # a sibling prefix is not part of it
    job = s3_to_s3(
        env,
        model_description="a model",
        model_owner="team-a",
        model_custom_properties={
            "license": "apache-2.0",
            "typed": {"metadataType": "MetadataIntValue", "int_value": "7"},
        },
        version_description="first",
        version_author="alice",
        version_custom_properties={"stage-note": "fresh"},
        artifact_description="weights and config",
        model_format_name="safetensors",
        model_format_version="1",
        artifact_custom_properties={"quantized": False},
    )
    assert job.state == "PENDING"
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    assert done.files_done == 3 and done.bytes_done == sum(len(d) for d in contents.values())

    store = env.dest_store()
    key = done.destination.key
    assert key and sorted(store.iter_keys(key)) == sorted(f"{key}/{p}" for p in contents)
    for path, data in contents.items():
        with store.open_read(f"{key}/{path}") as stream:
            assert stream.read() == data

    registry = RegistryService(env.database)
    rm = registry.get(e.REGISTERED_MODEL, done.registered_model_id or 0)
    mv = registry.get(e.MODEL_VERSION, done.model_version_id or 0)
    artifact = registry.get(e.ARTIFACT, done.model_artifact_id or 0)
    assert (rm.row["name"], rm.row["description"], rm.row["owner"]) == ("llama", "a model", "team-a")
    assert properties_to_wire(rm.props)["typed"] == {"metadataType": "MetadataIntValue", "int_value": "7"}
    assert rm.props["license"].value == "apache-2.0"
    assert (mv.row["name"], mv.row["description"], mv.row["author"]) == ("v1", "first", "alice")
    assert mv.props["stage-note"].value == "fresh"
    row = artifact.row
    assert row["uri"] == done.result_uri and row["uri"].startswith(f"s3://{env.dest_bucket}/{key}")
    assert row["state"] == "LIVE" and row["description"] == "weights and config"
    assert (row["model_format_name"], row["model_format_version"]) == ("safetensors", "1")
    assert (row["model_source_kind"], row["model_source_class"], row["model_source_group"]) == (
        "transfer_job",
        "modelreg",
        "modelreg",
    )
    assert (row["model_source_name"], row["model_source_id"]) == (done.name, done.id)
    assert (row["storage_key"], row["storage_path"]) == ("vault", key)
    assert artifact.props["quantized"].value is False
    assert artifact.props["modelreg.files"].value == 3

    # downloads and verify check every file against the digests seen while copying
    files = ArtifactFiles(env.database, env.connections)
    located = files.locate(done.model_version_id or 0)
    assert {f.path: f.sha256 for f in located.files} == {p: sha(d) for p, d in contents.items()}
    assert files.verify(done.model_version_id or 0).ok
    assert done.to_dict()["progress"] == {
        "bytesDone": done.bytes_done,
        "bytesTotal": done.bytes_done,
        "filesDone": 3,
        "filesTotal": 3,
    }


@sqlite_only("the http source and archive handling")
@pytest.mark.parametrize("suffix", ["tar", "tar.gz"])
def test_http_tar_is_unpacked_member_by_member(env: Env, suffix: str) -> None:
    members = {"model/config.json": b"{}", "model/weights.bin": b"w" * (2 * MB + 1)}
    env.files.files[f"models/m.{suffix}"] = tar_of(members, "w:gz" if suffix == "tar.gz" else "w")
    job = env.service.create(
        "create_model",
        Source("uri", "web", url=f"{env.files.url}models/m.{suffix}"),
        Destination("s3", "vault"),
        Metadata(model_name=f"tarred-{suffix}"),
    )
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    located = ArtifactFiles(env.database, env.connections).locate(done.model_version_id or 0)
    assert {f.path: (f.size, f.sha256) for f in located.files} == {p: (len(d), sha(d)) for p, d in members.items()}
    assert done.metadata.version_name == "1.0.0"  # the upstream job's default


@sqlite_only("the http source")
def test_http_single_file(env: Env) -> None:
    env.files.files["models/one/model.onnx"] = b"onnx" * 1000
    job = env.service.create(
        "create_model",
        Source("uri", "web", url=f"{env.files.url}models/one/model.onnx"),
        Destination("s3", "vault", key="custom/place"),
        Metadata(model_name="single"),
    )
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    with env.dest_store().open_read("custom/place/model.onnx") as stream:
        assert stream.read() == b"onnx" * 1000


# --- validation --------------------------------------------------------------------------------------------------


@sqlite_only("validation rules")
def test_validation_refuses_before_any_byte_moves(env: Env) -> None:
    env.put("raw/present/f.bin", b"1")
    env.files.files["models/x.bin"] = b"x"
    registry = RegistryService(env.database)
    registry.create(e.REGISTERED_MODEL, {"name": "taken"}, {})
    s3_source, s3_dest = Source("s3", "lake", key="raw/present"), Destination("s3", "vault")
    named = Metadata(model_name="a")

    def url(value: str) -> Source:
        return Source("uri", "web", url=value)

    base = env.files.url
    cases: list[tuple[type[RegistryError], str, Source, Destination, Metadata]] = [
        (MissingField, "create_model", s3_source, s3_dest, Metadata()),
        (Conflict, "create_model", s3_source, s3_dest, Metadata(model_name="taken")),
        (NotFound, "create_version", s3_source, s3_dest, Metadata(model_name="absent", version_name="v")),
        (MissingField, "update_artifact", s3_source, s3_dest, Metadata()),
        (NotFound, "update_artifact", s3_source, s3_dest, Metadata(artifact_id=999999)),
        (NotFound, "create_model", Source("s3", "nowhere", key="k"), s3_dest, named),
        (InvalidInput, "create_model", Source("s3", "web", key="k"), s3_dest, named),
        (InvalidInput, "create_model", Source("s3", "lake"), s3_dest, named),
        (NotFound, "create_model", Source("s3", "lake", key="raw/absent"), s3_dest, named),
        (Forbidden, "create_model", url("http://127.0.0.1:9/x.bin"), s3_dest, named),
        (Forbidden, "create_model", url(f"{base}other/x.bin"), s3_dest, named),
        (InvalidInput, "create_model", url(f"{base}models/../x.bin"), s3_dest, named),
        (NotFound, "create_model", url(f"{base}models/gone.bin"), s3_dest, named),
        (InvalidInput, "create_model", s3_source, Destination("oci", "vault"), named),
        (InvalidInput, "create_model", s3_source, Destination("gcs", "vault"), named),
        (InvalidInput, "nonsense", s3_source, s3_dest, named),
        (
            InvalidInput,
            "create_model",
            s3_source,
            s3_dest,
            Metadata(model_name="a", model_custom_properties={"x": [1]}),
        ),
    ]
    for error, intent, source, destination, metadata in cases:
        with pytest.raises(error):
            env.service.create(intent, source, destination, metadata)
    with pytest.raises(InvalidInput):
        env.service.create("create_model", s3_source, s3_dest, Metadata(model_name="a"), name="Not_A_K8s_Name")
    env.s3.boto3().delete_bucket(Bucket=env.dest_bucket)
    with pytest.raises(BadGateway, match="does not exist"):
        env.service.create("create_model", s3_source, s3_dest, Metadata(model_name="a"))
    assert env.service.list() == []  # nothing started


@sqlite_only("the claim is a unique key; its race is the database's")
def test_two_create_model_jobs_for_one_name_at_once_one_is_refused(env: Env) -> None:
    env.put("raw/llama/f.bin", b"1")
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        from modelreg.auth import context

        with context.acting_as(context.system("tests")):
            barrier.wait()
            try:
                outcomes.append(s3_to_s3(env))
            except Conflict as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "TransferJob"]
    job = next(o for o in outcomes if isinstance(o, TransferJob))
    with pytest.raises(Conflict, match="not finished"):
        s3_to_s3(env)
    assert env.run(job).state == "COMPLETED"
    with pytest.raises(Conflict, match="already exists"):  # now the model itself takes the name
        s3_to_s3(env)


# --- cancel, failure, retry --------------------------------------------------------------------------------------


@sqlite_only("the runner's cancel")
def test_cancel_mid_copy_registers_nothing_and_removes_what_was_written(env: Env) -> None:
    env.files.files["models/big.bin"] = b"b" * (40 * MB)
    env.files.slow = 0.05  # 2 s for the whole file
    job = env.service.create(
        "create_model",
        Source("uri", "web", url=f"{env.files.url}models/big.bin"),
        Destination("s3", "vault"),
        Metadata(model_name="big"),
    )
    worker = env.worker()
    worker.run_once()
    deadline = time.monotonic() + 20
    while env.service.get(job.id).bytes_done == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = env.service.cancel(job.id)
    assert cancelled.state == "RUNNING" and cancelled.cancel_requested
    worker.join(30)
    done = env.service.get(job.id)
    assert done.state == "CANCELLED" and done.bytes_done < 40 * MB
    assert nothing_registered(env)
    assert list(env.dest_store().iter_keys(done.destination.key or "")) == []
    assert list(env.dest_store().iter_partials("")) == []
    with pytest.raises(Conflict):
        env.service.cancel(job.id)


@sqlite_only("the state machine")
def test_a_pending_job_is_cancelled_at_once(env: Env) -> None:
    env.put("raw/llama/f.bin", b"1")
    job = s3_to_s3(env)
    assert env.service.cancel(job.name).state == "CANCELLED"
    assert env.worker().run_once() == []
    s3_to_s3(env)  # the name is free again


@sqlite_only("failure and retry")
def test_a_failed_job_says_what_and_why_and_its_retry_succeeds(env: Env) -> None:
    env.files.files["models/m.bin"] = b"m" * 1000
    job = env.service.create(
        "create_model",
        Source("uri", "web", url=f"{env.files.url}models/m.bin"),
        Destination("s3", "vault"),
        Metadata(model_name="flaky"),
        name="flaky-job",
    )
    env.files.broken.add("models/m.bin")  # fails only once the job runs
    failed = env.run(job)
    assert failed.state == "FAILED"
    assert failed.error and "models/m.bin" in failed.error and "failed" in failed.error
    assert failed.cause and "500" in failed.cause
    assert nothing_registered(env)
    with pytest.raises(Conflict):
        env.service.cancel(failed.id)  # it has ended
    env.files.broken.clear()
    again = env.service.retry("flaky-job")
    assert (again.name, again.retry_of, again.attempt, again.state) == ("flaky-job-2", failed.id, 2, "PENDING")
    assert env.run(again).state == "COMPLETED"
    with pytest.raises(Conflict):
        env.service.retry(again.id)  # only failed or cancelled jobs


# --- update_artifact ---------------------------------------------------------------------------------------------


def _artifact(env: Env) -> int:
    registry = RegistryService(env.database)
    rm = registry.create(e.REGISTERED_MODEL, {"name": "existing"}, {})
    mv = registry.create_model_version({"name": "v1", "registered_model_id": rm.row["id"]}, {})
    values = {"name": "weights", "uri": "s3://old/place", "state": "UNKNOWN", "parent_model_version_id": mv.row["id"]}
    from modelreg.services.properties import PropValue

    return int(registry.create_artifact("model-artifact", values, {"keep": PropValue("string", "me")}).row["id"])


@sqlite_only("update_artifact")
def test_update_artifact_success_goes_live_with_the_new_uri(env: Env) -> None:
    env.put("raw/new/f.bin", b"new bytes")
    artifact_id = _artifact(env)
    job = env.service.create(
        "update_artifact",
        Source("s3", "lake", key="raw/new"),
        Destination("s3", "vault"),
        Metadata(artifact_id=artifact_id),
    )
    done = env.run(job)
    assert done.state == "COMPLETED", (done.error, done.cause)
    artifact = RegistryService(env.database).get(e.ARTIFACT, artifact_id)
    assert artifact.row["state"] == "LIVE" and artifact.row["uri"] == done.result_uri
    assert artifact.row["model_source_name"] == done.name
    assert artifact.props["keep"].value == "me" and "modelreg.transfer.error" not in artifact.props


@sqlite_only("update_artifact")
def test_update_artifact_failure_puts_the_artifact_back_with_the_error(env: Env) -> None:
    env.files.files["models/u.bin"] = b"u"
    artifact_id = _artifact(env)
    job = env.service.create(
        "update_artifact",
        Source("uri", "web", url=f"{env.files.url}models/u.bin"),
        Destination("s3", "vault"),
        Metadata(artifact_id=artifact_id),
    )
    with pytest.raises(Conflict, match="not finished"):  # one job per artifact at a time
        env.service.create(
            "update_artifact",
            Source("uri", "web", url=f"{env.files.url}models/u.bin"),
            Destination("s3", "vault"),
            Metadata(artifact_id=artifact_id),
        )
    env.files.broken.add("models/u.bin")
    done = env.run(job)
    assert done.state == "FAILED" and done.cause and "500" in done.cause
    artifact = RegistryService(env.database).get(e.ARTIFACT, artifact_id)
    assert artifact.row["state"] == "UNKNOWN" and artifact.row["uri"] == "s3://old/place"
    assert "500" in artifact.props["modelreg.transfer.error"].value
    assert artifact.props["keep"].value == "me"


# --- the worker --------------------------------------------------------------------------------------------------


def test_two_workers_on_one_database_run_each_job_once(env: Env) -> None:
    jobs = []
    for i in range(4):
        env.put(f"raw/m{i}/f.bin", f"model {i}".encode())
        jobs.append(s3_to_s3(env, model=f"m{i}", key=f"raw/m{i}"))
    # a lease longer than the test, so that a slow machine cannot hand it over midway
    first, second = env.worker(workers=2, lease_seconds=300), env.worker(workers=2, lease_seconds=300)
    started: dict[str, list[str]] = {first.owner: [], second.owner: []}
    deadline = time.monotonic() + 60
    while any(env.service.get(j.id).state != "COMPLETED" for j in jobs):
        assert time.monotonic() < deadline
        for worker in (first, second):
            started[worker.owner] += worker.run_once()
        first.join(30)
        second.join(30)
    assert sorted(started[first.owner] + started[second.owner]) == sorted(j.id for j in jobs)  # each once
    # the lease's holder ran them all (whether it still holds it now depends on how slow the machine was)
    assert [owner for owner, ids in started.items() if ids] in ([first.owner], [second.owner])
    with env.database.read() as conn:
        artifacts = conn.execute(e.ARTIFACT.table.select()).all()
    assert len(artifacts) == 4


@sqlite_only("the worker's heartbeat")
def test_a_job_whose_server_died_is_failed_with_that_cause(env: Env) -> None:
    env.put("raw/llama/f.bin", b"1")
    job = s3_to_s3(env)
    assert env.service.claim_next("dead-server") is not None  # claimed by a process that then died
    worker = env.worker()
    worker.lease.seconds = 0.2  # stale after 0.2 s without a heartbeat
    time.sleep(0.3)
    worker.run_once()
    failed = env.service.get(job.id)
    assert failed.state == "FAILED" and failed.cause and "stopped" in failed.cause
