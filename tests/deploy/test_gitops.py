"""deploy/gitops.py and deploy/render.py: the kustomize folder (files, kustomization, the connection's
secretGenerator without credentials), atomic replacement, refused paths; kubectl kustomize renders the same
objects; the dry-run YAML redacts Secret values."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelreg.deploy import gitops
from modelreg.deploy.render import redact, to_yaml
from modelreg.errors import InvalidInput

GOLDEN = Path(__file__).parent / "golden"
NAME = "granite-7b-inference-100"
SECRET_VALUES = ("EXAMPLEACCESSKEY", "example-secret-key-not-real")
KUBECTL = Path("/usr/bin/kubectl")


def golden(filename: str) -> list[dict[str, Any]]:
    with (GOLDEN / filename).open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def with_connection() -> list[dict[str, Any]]:
    return golden("granite-l4-minio.yaml")


def with_tokens() -> list[dict[str, Any]]:
    return golden("granite-l4-minio-token-auth.yaml")


def every_file(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}


def test_folder_layout_with_a_connection(tmp_path: Path) -> None:
    folder = gitops.write(tmp_path, with_connection(), namespace="team-a", name=NAME)
    assert folder == tmp_path / "team-a" / NAME
    files = every_file(folder)
    assert sorted(files) == [
        ".gitignore",
        f"01-servingruntime-{NAME}.yaml",
        f"02-inferenceservice-{NAME}.yaml",
        "connection.env.example",
        "kustomization.yaml",
    ]
    assert yaml.safe_load(files["kustomization.yaml"]) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "team-a",
        "resources": [f"01-servingruntime-{NAME}.yaml", f"02-inferenceservice-{NAME}.yaml"],
        "secretGenerator": [
            {
                "name": "minio-storage",
                "envs": ["connection.env"],
                "options": {
                    "disableNameSuffixHash": True,
                    "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"},
                    "annotations": {
                        "openshift.io/display-name": "MinIO Storage",
                        "opendatahub.io/connection-type-ref": "s3",
                        "opendatahub.io/connection-type": "s3",
                        "opendatahub.io/connection-type-protocol": "s3",
                    },
                },
            }
        ],
    }
    assert files[".gitignore"] == "connection.env\n"
    example = [line for line in files["connection.env.example"].splitlines() if not line.startswith("#")]
    assert example == [
        "AWS_ACCESS_KEY_ID=",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_S3_ENDPOINT=http://minio.minio.svc:9000",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_S3_BUCKET=models",
    ]
    assert yaml.safe_load(files[f"02-inferenceservice-{NAME}.yaml"]) == with_connection()[2]
    everything = "".join(files.values())
    assert not [value for value in SECRET_VALUES if value in everything]
    assert [p.name for p in (tmp_path / "team-a").iterdir()] == [NAME]  # no temporary folder left


def test_folder_layout_with_token_auth(tmp_path: Path) -> None:
    folder = gitops.write(tmp_path, with_tokens(), namespace="team-a", name=NAME)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        f"01-servingruntime-{NAME}.yaml",
        f"02-inferenceservice-{NAME}.yaml",
        f"03-serviceaccount-{NAME}-sa.yaml",
        f"04-role-{NAME}-view-role.yaml",
        f"05-rolebinding-{NAME}-view.yaml",
        f"06-secret-default-name-{NAME}-sa.yaml",
    ]
    assert "secretGenerator" not in kustomization
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kustomization["resources"], "kustomization.yaml"])
    for filename, obj in zip(kustomization["resources"], with_tokens(), strict=True):
        assert yaml.safe_load((folder / filename).read_text()) == obj


def test_a_rerun_replaces_the_folder_and_keeps_the_operators_env_file(tmp_path: Path) -> None:
    folder = gitops.write(tmp_path, with_tokens(), namespace="team-a", name=NAME)
    (folder / "stale.yaml").write_text("old: true\n")
    gitops.write(tmp_path, with_connection(), namespace="team-a", name=NAME)
    assert not (folder / "stale.yaml").exists()
    assert not (folder / f"03-serviceaccount-{NAME}-sa.yaml").exists()
    (folder / "connection.env").write_text("AWS_ACCESS_KEY_ID=mine\n")
    gitops.write(tmp_path, with_connection(), namespace="team-a", name=NAME)
    assert (folder / "connection.env").read_text() == "AWS_ACCESS_KEY_ID=mine\n"
    assert sorted(p.name for p in (tmp_path / "team-a").iterdir()) == [NAME]


def test_a_refused_write_leaves_the_previous_folder(tmp_path: Path) -> None:
    folder = gitops.write(tmp_path, with_tokens(), namespace="team-a", name=NAME)
    before = every_file(folder)
    broken = with_tokens()
    broken[3]["metadata"]["name"] = "../../escape"
    with pytest.raises(InvalidInput, match="cannot write"):
        gitops.write(tmp_path, broken, namespace="team-a", name=NAME)
    assert every_file(folder) == before
    assert sorted(p.name for p in (tmp_path / "team-a").iterdir()) == [NAME]


def test_a_failure_while_writing_leaves_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = gitops.write(tmp_path, with_tokens(), namespace="team-a", name=NAME)
    before = every_file(folder)
    real_write_text = Path.write_text
    written: list[str] = []

    def disk_full(self: Path, *args: Any, **kwargs: Any) -> int:
        if written:  # the second file fails, as a full disk would
            raise OSError(28, "No space left on device")
        written.append(self.name)
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space left"):
        gitops.write(tmp_path, with_connection(), namespace="team-a", name=NAME)
    monkeypatch.undo()
    assert written
    assert every_file(folder) == before
    assert sorted(p.name for p in (tmp_path / "team-a").iterdir()) == [NAME]


@pytest.mark.parametrize(
    ("namespace", "name"),
    [("../etc", NAME), ("team-a", "../../etc"), ("team-a/x", NAME), ("team-a", "a/b"), (".", NAME), ("team-a", "")],
)
def test_namespace_and_name_cannot_leave_the_root(tmp_path: Path, namespace: str, name: str) -> None:
    root = tmp_path / "root"
    with pytest.raises(InvalidInput):
        gitops.write(root, with_tokens(), namespace=namespace, name=name)
    assert list(tmp_path.iterdir()) == []


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "gitops"
    root.write_text("not a folder")
    with pytest.raises(InvalidInput, match="not a directory"):
        gitops.write(root, with_tokens(), namespace="team-a", name=NAME)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "team-a").write_text("file")
    with pytest.raises(InvalidInput, match="not a directory"):
        gitops.write(tmp_path / "dir", with_tokens(), namespace="team-a", name=NAME)


def test_objects_of_another_namespace_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="namespace 'team-a', not 'team-b'"):
        gitops.write(tmp_path, with_tokens(), namespace="team-b", name=NAME)


def test_two_connection_secrets_are_refused(tmp_path: Path) -> None:
    objs = with_connection()
    other = redact(objs[0])
    other["metadata"]["name"] = "other"
    with pytest.raises(InvalidInput, match="at most one connection Secret"):
        gitops.write(tmp_path, [other, *objs], namespace="team-a", name=NAME)


def kustomize(folder: Path) -> list[dict[str, Any]]:
    if not KUBECTL.exists() or shutil.which(str(KUBECTL)) is None:
        pytest.skip(f"{KUBECTL} is not installed: kustomize output cannot be checked here")
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def as_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as kustomize renders it: a connection Secret from the generator (base64 ``data``, type Opaque);
    a RoleBinding's ServiceAccount subject with the namespace its transformer fills in (the one Kubernetes' RBAC
    assumes when it is absent, so the binding means the same)."""
    if obj["kind"] == "RoleBinding":
        subjects = [{**s, "namespace": obj["metadata"]["namespace"]} for s in obj["subjects"]]
        return {**obj, "subjects": subjects}
    if "stringData" not in obj:
        return obj
    out = {k: v for k, v in obj.items() if k != "stringData"}
    out["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in obj["stringData"].items()}
    out.setdefault("type", "Opaque")
    return out


@pytest.mark.parametrize("objects", [with_connection, with_tokens], ids=["connection", "token-auth"])
def test_kubectl_kustomize_renders_the_same_objects(tmp_path: Path, objects: Any) -> None:
    expected = objects()
    folder = gitops.write(tmp_path, expected, namespace="team-a", name=NAME)
    connection = [o for o in expected if o["kind"] == "Secret" and "stringData" in o]
    if connection:
        env = "".join(f"{k}={v}\n" for k, v in connection[0]["stringData"].items())
        (folder / "connection.env").write_text(env)
    rendered = kustomize(folder)

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(rendered, key=key) == sorted((as_applied(o) for o in expected), key=key)


def test_to_yaml_redacts_secret_values_unless_asked() -> None:
    objs = with_connection()
    shown = to_yaml(objs)
    assert not [value for value in SECRET_VALUES if value in shown]
    docs = list(yaml.safe_load_all(shown))
    assert docs[0]["stringData"] == {
        "AWS_ACCESS_KEY_ID": "<redacted: from data connection minio-storage>",
        "AWS_SECRET_ACCESS_KEY": "<redacted: from data connection minio-storage>",
        "AWS_S3_ENDPOINT": "http://minio.minio.svc:9000",  # where the model is read from is no secret
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_S3_BUCKET": "models",
    }
    assert docs[1:] == objs[1:]
    revealed = list(yaml.safe_load_all(to_yaml(objs, reveal_secrets=True)))
    assert revealed == objs
    assert objs[0]["stringData"]["AWS_SECRET_ACCESS_KEY"] == SECRET_VALUES[1]  # the input is not changed


def test_a_connection_shows_where_it_reads_from_and_nothing_else() -> None:
    secret = with_connection()[0]
    secret["stringData"] = {
        "URI": "https://user:hunter2@hub.example.com/models/granite.tar.gz?X-Amz-Signature=abc&v=1",
        "AWS_S3_ENDPOINT": "http://minio:minio-pass@minio.minio.svc:9000",
        "SOMETHING_NEW": "not-known-to-be-harmless",
        ".dockerconfigjson": '{"auths": {"quay.io": {"auth": "c2VjcmV0"}}}',
    }
    shown = redact(secret)["stringData"]
    hidden = "<redacted: from data connection minio-storage>"
    assert shown == {
        "URI": "https://hub.example.com/models/granite.tar.gz?v=1",
        "AWS_S3_ENDPOINT": "http://minio.minio.svc:9000",
        "SOMETHING_NEW": hidden,
        ".dockerconfigjson": hidden,
    }
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in with_connection()[0]["stringData"].items()}
    as_read = {**with_connection()[0], "data": {**encoded, "AWS_S3_BUCKET": "not base64!"}}
    del as_read["stringData"]
    data = redact(as_read)["data"]
    assert base64.b64decode(data["AWS_S3_ENDPOINT"]).decode() == "http://minio.minio.svc:9000"
    assert data["AWS_ACCESS_KEY_ID"] == data["AWS_SECRET_ACCESS_KEY"] == data["AWS_S3_BUCKET"] == hidden


def test_redact_covers_data_and_other_secrets() -> None:
    token = with_tokens()[-1]
    token["data"] = {"token": "c2VjcmV0"}
    assert redact(token)["data"] == {"token": "<redacted: from Secret default-name-granite-7b-inference-100-sa>"}
    token["stringData"] = {"AWS_S3_ENDPOINT": "http://minio:9000"}  # only a connection's keys are known harmless
    assert redact(token)["stringData"] == {
        "AWS_S3_ENDPOINT": "<redacted: from Secret default-name-granite-7b-inference-100-sa>"
    }
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert redact(config) == config


def test_to_yaml_layout() -> None:
    text = to_yaml(with_tokens())
    assert text.startswith("---\napiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata:\n  name: ")
    assert text.count("\n---\n") == len(with_tokens()) - 1
    assert "{" not in text.replace("{{.Name}}", "")  # block style only
    scrambled = [
        {"metadata": dict(reversed(obj["metadata"].items())), "kind": obj["kind"], **obj} for obj in with_tokens()
    ]
    assert to_yaml(scrambled) == text  # apiVersion, kind, metadata first whatever the dict order
    multiline = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "one\ntwo\n"}}
    assert "a: |\n    one\n    two\n" in to_yaml([multiline])
