"""Data connections to deploy with, without a cluster: which of modelreg's connections are offered (s3 and uri,
never a server directory), how an artifact URI picks its connection (the dashboard's matching), and the
connection Secret built with the decrypted credentials, for a deploy only."""

from __future__ import annotations

import pytest

from deploy.targets_support import MINIO, acting, targets
from modelreg.auth.principal import Role
from modelreg.deploy.targets import ConnectionTarget, TargetService, match_connections, secret_name_for
from modelreg.errors import Forbidden, InvalidInput, NotFound

__all__ = ["targets"]


def _s3(
    name: str,
    bucket: str = "models",
    endpoint: str | None = "http://minio.minio.svc:9000",
    region: str | None = "us-east-1",
) -> ConnectionTarget:
    return ConnectionTarget(name, name, "s3", "modelreg", False, bucket=bucket, endpoint=endpoint, region=region)


MINIO_TARGET = _s3("minio-storage")
OTHER_ENDPOINT = _s3("other-minio", endpoint="https://minio.example.com")
OTHER_BUCKET = _s3("datasets", bucket="datasets")
NO_REGION = _s3("no-region", region=None)
HUB = ConnectionTarget("hub", "Hub", "uri", "cluster", True, uri="https://example.com/models/granite/")
QUAY = ConnectionTarget("quay", "Quay", "oci", "cluster", True, endpoint="quay.io")
ALL = [MINIO_TARGET, OTHER_ENDPOINT, OTHER_BUCKET, NO_REGION, HUB, QUAY]


@pytest.mark.parametrize(
    ("uri", "matched"),
    [
        ("s3://models/granite-7b-instruct/1.0.0/", ["minio-storage", "other-minio", "no-region"]),
        ("s3://models/granite?endpoint=http://minio.minio.svc:9000", ["minio-storage", "no-region"]),
        ("s3://models/granite?endpoint=HTTP://Minio.minio.svc:9000/&defaultRegion=us-east-1", ["minio-storage"]),
        ("s3://models/granite?endpoint=http://minio.minio.svc:9000&defaultRegion=eu-west-1", []),
        ("s3://models/granite?endpoint=https://minio.example.com", ["other-minio"]),
        ("s3://datasets/x", ["datasets"]),
        ("s3://elsewhere/x", []),
        ("s3:///no-bucket", []),
        ("https://example.com/models/granite/", ["hub"]),
        ("https://example.com/models/granite", ["hub"]),
        ("https://example.com/models/other/", []),
        ("oci://quay.io/org/granite:1.0", ["quay"]),
        ("oci://registry.example.com/granite:1.0", []),
    ],
)
def test_matching_an_artifact_uri(uri: str, matched: list[str]) -> None:
    assert [c.name for c in match_connections(uri, ALL)] == matched


def test_secret_names() -> None:
    assert secret_name_for("minio-storage") == "minio-storage"
    assert secret_name_for("MinIO Storage") == "minio-storage"
    assert ConnectionTarget("Team A's bucket", "x", "s3", "modelreg", False).secret_name == "team-as-bucket"


def test_modelreg_connections_are_offered_without_local_ones(targets: TargetService) -> None:
    svc = targets.connection_service
    svc.create("minio-storage", "s3", check=False, **MINIO)
    svc.create("hub", "uri", base_url="https://example.com/models/", check=False)
    svc.create("scratch", "local", directory="/srv/models", check=False)
    offered = targets.connections("team-a")
    assert [c.to_dict() for c in offered] == [
        {
            "name": "hub",
            "displayName": "hub",
            "type": "uri",
            "origin": "modelreg",
            "inNamespace": False,
            "secretName": "hub",
            "bucket": None,
            "endpoint": None,
            "region": None,
            "uri": "https://example.com/models/",
        },
        {
            "name": "minio-storage",
            "displayName": "MinIO Storage",
            "type": "s3",
            "origin": "modelreg",
            "inNamespace": False,
            "secretName": "minio-storage",
            "bucket": "models",
            "endpoint": "http://minio.minio.svc:9000",
            "region": "us-east-1",
            "uri": None,
        },
    ]
    assert targets.connections(None) == offered
    assert targets.connection("minio-storage").display_name == "MinIO Storage"
    with pytest.raises(NotFound, match=r"no data connection named 'scratch' \(known: hub, minio-storage\)"):
        targets.connection("scratch")
    assert [c.name for c in match_connections("s3://models/granite-7b-instruct/1.0.0/", offered)] == ["minio-storage"]


def test_the_connection_secret_carries_the_credentials(targets: TargetService) -> None:
    svc = targets.connection_service
    svc.create("MinIO Storage", "s3", check=False, **{**MINIO, "display_name": None})
    svc.create(
        "aws", "s3", bucket="models", region="eu-west-1", access_key_id="AK", secret_access_key="SK", check=False
    )
    svc.create("hub", "uri", display_name="Model hub", base_url="https://example.com/models/", check=False)
    svc.create("scratch", "local", directory="/srv/models", check=False)

    secret = targets.connection_secret("MinIO Storage")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "minio-storage"
    assert secret["metadata"]["annotations"]["openshift.io/display-name"] == "MinIO Storage"
    assert secret["metadata"]["annotations"]["opendatahub.io/connection-type-protocol"] == "s3"
    assert secret["stringData"] == {
        "AWS_ACCESS_KEY_ID": "minio-access",
        "AWS_SECRET_ACCESS_KEY": "minio-s3cr3t-value",
        "AWS_S3_ENDPOINT": "http://minio.minio.svc:9000",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_S3_BUCKET": "models",
    }
    aws = targets.connection_secret("aws")
    assert aws["stringData"]["AWS_S3_ENDPOINT"] == "https://s3.eu-west-1.amazonaws.com"
    hub = targets.connection_secret("hub")
    assert hub["stringData"] == {"URI": "https://example.com/models/"}
    assert hub["metadata"]["annotations"]["openshift.io/display-name"] == "Model hub"
    with pytest.raises(InvalidInput, match="cannot read the server's directories"):
        targets.connection_secret("scratch")
    with pytest.raises(NotFound):
        targets.connection_secret("missing")
    with acting(Role.VIEWER), pytest.raises(Forbidden, match="'deploy' permission"):
        targets.connection_secret("MinIO Storage")
    with acting(Role.DEVELOPER):
        assert targets.connection_secret("hub")["stringData"]["URI"]
