"""The catalog's queries at 10,000 file models + 10,000 registry models: in process and over HTTP.

    .venv/bin/python bench/catalog_api.py [--models 10000] [--registry 10000] [--runs 200] [--http-runs 200]

Generated models look like a real catalog's: a provider, a license, tasks, languages, a few custom properties, a
model artifact and (every third model) two performance-metrics artifacts. The registry's models go in through
``set_registry``, as the registry source hands them over. Timed, each a median and p95 of ``--runs`` calls:

1. in process (``CatalogService``): a filterQuery page, a ``q`` page, sorts (NAME DESC, CREATE_TIME, a custom
   property, an artifact property), the second page of a filter, ``get_model``, ``filter_options`` after a change;
2. the index rebuilt after the registry source changed (one model more), and after a file source changed;
3. over HTTP (uvicorn in a thread, local mode): ``GET /models`` with a filter, and a model's details.
A table with PASS/FAIL per target goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import ServerThread
from modelreg.app import create_app
from modelreg.catalog.models import ArtifactType, CatalogArtifact, CatalogModel, Source, SourceStatus, stable_id
from modelreg.catalog.params import ModelQuery
from modelreg.catalog.service import CatalogService
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.settings import CatalogSettings, Settings

PROVIDERS = ["IBM", "Meta", "Mistral AI", "Google", "Microsoft", "Alibaba", "DeepSeek", "NVIDIA", "Community"]
LICENSES = ["Apache 2.0", "MIT", "Llama 3.1 Community License", "Gemma", "CC-BY-4.0"]
TASKS = ["text-generation", "summarization", "translation", "feature-extraction", "image-classification", "chat"]
LANGUAGES = ["en", "de", "fr", "es", "ja", "zh", "pt"]


def _s(value: str) -> dict[str, Any]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def _d(value: float) -> dict[str, Any]:
    return {"metadataType": "MetadataDoubleValue", "double_value": value}


def generate(source_id: str, count: int, rng: random.Random, registry: bool = False) -> list[CatalogModel]:
    models = []
    for i in range(count):
        provider = rng.choice(PROVIDERS)
        name = f"{provider.lower().replace(' ', '-')}/model-{source_id}-{i:05d}-{rng.randrange(10**6)}"
        artifacts = [CatalogArtifact(stable_id(name, "w"), ArtifactType.MODEL, uri=f"oci://registry.example/{name}:1")]
        if i % 3 == 0:
            for hw in ("H100", "L40S"):
                artifacts.append(
                    CatalogArtifact(
                        stable_id(name, hw),
                        ArtifactType.METRICS,
                        metrics_type="performance-metrics",
                        custom_properties={
                            "hardware_type": _s(hw),
                            "ttft_p90": _d(rng.uniform(20, 400)),
                            "requests_per_second": _d(rng.uniform(1, 40)),
                            "use_case": _s(rng.choice(["chatbot", "rag", "code"])),
                        },
                    )
                )
        models.append(
            CatalogModel(
                source_id=source_id,
                name=name,
                id=str(i + 1) if registry else stable_id(source_id, name),
                description=f"A {rng.choice(TASKS)} model by {provider}, trained on {rng.randrange(1, 20)}T tokens",
                provider=provider,
                license=rng.choice(LICENSES),
                library_name=rng.choice(["transformers", "vllm", None]),
                maturity=rng.choice(["Generally Available", "Technology Preview", None]),
                tasks=tuple(rng.sample(TASKS, rng.randint(1, 2))),
                language=tuple(rng.sample(LANGUAGES, rng.randint(1, 3))),
                custom_properties={
                    "tensor_type": _s(rng.choice(["BF16", "FP16", "FP8", "INT4"])),
                    "size_b": _d(rng.choice([1, 2, 7, 8, 13, 70])),
                    **({"validated": _s("")} if i % 5 == 0 else {}),
                },
                create_time_ms=1_600_000_000_000 + rng.randrange(10**11),
                last_update_time_ms=1_700_000_000_000 + rng.randrange(10**10),
                artifacts=tuple(artifacts),
            )
        )
    models.sort(key=lambda m: m.name)
    return models


def snapshot(source_id: str, models: list[CatalogModel]) -> SourceSnapshot:
    return SourceSnapshot(
        Source(source_id, source_id, labels=(source_id,), status=SourceStatus.AVAILABLE), tuple(models)
    )


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm-up (and first-use caches, as a running server has them)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--registry", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--http-runs", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(11)
    print(f"generating {args.models} file models and {args.registry} registry models", file=sys.stderr)
    half = args.models // 2
    config = CatalogConfig(
        sources=(
            snapshot("files_a", generate("files_a", half, rng)),
            snapshot("files_b", generate("files_b", args.models - half, rng)),
        )
    )
    registry = generate("registry", args.registry, rng, registry=True)
    service = CatalogService()
    service.set_config(config)
    service.set_registry(snapshot("registry", registry))
    some = registry[len(registry) // 2]

    rows: list[tuple[str, float, float, float | None]] = []

    def bench(label: str, fn: Callable[[], object], target: float | None, runs: int = args.runs) -> None:
        p50, p95 = timed(fn, runs)
        rows.append((label, p50, p95, target))
        print(f"  {label}: p50 {p50:.2f} ms", file=sys.stderr)

    def find(**params: Any) -> Callable[[], object]:
        return lambda: service.find_models(ModelQuery(**params))

    selective = "provider = 'IBM' AND license = 'MIT' AND tasks = 'chat'"
    print("in process", file=sys.stderr)
    bench("find_models: no filter (NAME)", find(), 10)
    bench("find_models: filterQuery (3 conditions)", find(filter_query=selective), 10)
    bench("find_models: filterQuery on artifacts", find(filter_query="artifacts.ttft_p90.double_value < 25"), 10)
    bench(
        "find_models: filterQuery IN + sourceLabel",
        find(filter_query="provider IN ('IBM','Meta')", source_labels=("registry",)),
        10,
    )
    bench("find_models: q (rare word)", find(q="model-files_b-0042"), 20)
    bench("find_models: q (common word)", find(q="chat"), 20)
    bench("find_models: NAME DESC", find(sort_order="DESC"), 10)
    bench("find_models: CREATE_TIME", find(order_by="CREATE_TIME"), 10)
    bench("find_models: size_b.double_value (custom)", find(order_by="size_b.double_value"), None)
    bench("find_models: artifacts.ttft_p90 ASC", find(order_by="artifacts.ttft_p90.double_value"), None)
    token = service.find_models(ModelQuery(filter_query=selective)).next_page_token
    bench("find_models: filter, 2nd page", find(filter_query=selective, page_token=token or None), 10)
    bench("get_model", lambda: service.get_model("registry", some.name), 1)

    print("rebuilds", file=sys.stderr)
    grown = [*registry, *generate("registry", 1, random.Random(5), registry=True)]
    grown[-1] = CatalogModel(source_id="registry", name="zz-new", id=str(len(grown) + 1))
    flip = [snapshot("registry", grown), snapshot("registry", registry)]
    count = iter(range(10**9))
    bench("rebuild: registry changed", lambda: service.set_registry(flip[next(count) % 2]), 200, runs=20)
    bench(
        "filter_options after a registry change",
        lambda: (service.set_registry(flip[next(count) % 2]), service.filter_options()),
        20,  # the index rebuild included
        runs=10,
    )
    files_b = list(config.sources[1].models)
    configs = [config, CatalogConfig(sources=(config.sources[0], snapshot("files_b", files_b[:-1])))]
    bench("rebuild: one file source changed", lambda: service.set_config(configs[next(count) % 2]), 200, runs=20)

    print("over HTTP", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'registry.db'}")
        migrations.upgrade(db.engine)
        settings = Settings(
            database_url=db.url, data_dir=Path(tmp) / "data", catalog=CatalogSettings(registry_source=False)
        )
        app = create_app(settings, db)
        with ServerThread(app) as server, httpx.Client(base_url=f"{server.url}/api/model_catalog/v1alpha1") as client:
            app.state.catalog.set_config(config)
            app.state.catalog.set_registry(snapshot("registry", registry))

            def get(path: str, **params: str) -> Callable[[], object]:
                def call() -> object:
                    response = client.get(path, params=params)
                    assert response.status_code == 200, response.text
                    return response

                return call

            bench("HTTP GET /models?filterQuery=...", get("/models", filterQuery=selective), 30, runs=args.http_runs)
            bench("HTTP GET /models?q=...", get("/models", q="chat"), 30, runs=args.http_runs)
            bench(
                "HTTP GET /sources/registry/models/{name}",
                get(f"/sources/registry/models/{some.name}"),
                30,
                runs=args.http_runs,
            )
            bench("HTTP GET /models/filter_options", get("/models/filter_options"), None, runs=args.http_runs)
        db.dispose()

    print(f"\n{'measure':<48} {'p50 ms':>9} {'p95 ms':>9} {'target':>8}  result")
    for label, p50, p95, target in rows:
        verdict = "" if target is None else ("PASS" if p50 <= target else "FAIL")
        shown = "" if target is None else f"{target:g}"
        print(f"{label:<48} {p50:>9.2f} {p95:>9.2f} {shown:>8}  {verdict}")


if __name__ == "__main__":
    main()
