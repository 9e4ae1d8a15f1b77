"""The catalog pages (ui/catalog_pages.py): the gallery with its tabs, search, filters, sort and paging; a model's
page with its sanitized model card and details; registering a catalog model into the registry, as each role sees and
uses them; the server refuses what a page does not offer."""

from __future__ import annotations

import re
import time
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from api.builders import props
from modelreg.auth import context
from modelreg.catalog.models import ArtifactType, CatalogArtifact, CatalogModel, Label, Source, SourceStatus, stable_id
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot
from modelreg.db.pagination import PageRequest
from modelreg.services import entities as e
from modelreg.ui import catalog_view
from ui.conftest import MakeUiApp, UiApp, csrf_of

_TAGS = re.compile(r"<[^>]+>")
ROLES = ("admin", "developer", "viewer")
LOGO = "data:image/png;base64,iVBORw0KGgo="


def text(html: str) -> str:
    """A page's visible text, whitespace collapsed."""
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


def _model(source_id: str, name: str, **fields: Any) -> CatalogModel:
    uri = fields.pop("uri", f"oci://registry.example/{name.lower()}:1")
    artifacts = (CatalogArtifact(stable_id(source_id, name, "a"), ArtifactType.MODEL, uri=uri),) if uri else ()
    return CatalogModel(source_id, name, stable_id(source_id, name), artifacts=artifacts, **fields)


GRANITE = _model(
    "redhat",
    "ibm-granite/granite-3.1-8b-instruct",
    description="Granite instruct model for chat & tools",
    readme="# Granite\n\nA model <script>alert(1)</script> [bad](javascript:alert(1)) <img src=x onerror=alert(1)>",
    provider="IBM",
    license="Apache 2.0",
    license_link="https://www.apache.org/licenses/LICENSE-2.0",
    tasks=("text-generation",),
    language=("en",),
    logo=LOGO,
    create_time_ms=1_700_000_000_000,
    last_update_time_ms=1_730_000_000_000,
    custom_properties=props(validated="", tensor_type="BF16"),  # an empty string: a label
)
LLAMA = _model(
    "community",
    "meta-llama/Llama-3.1-8B",
    description="Llama base model",
    provider="Meta",
    license="Llama 3.1 Community License",
    tasks=("text-generation", "summarization"),
    create_time_ms=1_690_000_000_000,
    last_update_time_ms=1_720_000_000_000,
)
QUOTED = _model(
    "community",
    "org/it's.v1.5",
    description="A provider with a quote",
    provider="O'Reilly",
    tasks=("feature-extraction",),
    create_time_ms=1_680_000_000_000,
    last_update_time_ms=1_740_000_000_000,
)
NO_URI = _model("community", "org/no-location", description="Nothing to register", uri=None)


def catalog_config(*snapshots: SourceSnapshot, labels: tuple[Label, ...] = ()) -> CatalogConfig:
    return CatalogConfig(sources=snapshots, labels=labels)


def snapshot(source_id: str, name: str, models: list[CatalogModel], labels: tuple[str, ...] = ()) -> SourceSnapshot:
    source = Source(source_id, name, labels=labels, status=SourceStatus.AVAILABLE)
    return SourceSnapshot(source, tuple(sorted(models, key=lambda m: m.name)))


DEFAULT = catalog_config(
    snapshot("redhat", "Red Hat AI", [GRANITE], labels=("Red Hat",)),
    snapshot("community", "Community models", [LLAMA, QUOTED, NO_URI]),
    labels=(Label("Red Hat", "Red Hat AI validated"),),
)


class Page(HTMLParser):
    """What the tests check of a page's markup: headings, images, form controls and their labels, links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.label_for: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "label" and found.get("for"):
            self.label_for.add(str(found["for"]))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def links(self) -> list[str]:
        return [str(a["href"]) for a in self.all("a") if a.get("href")]


def assert_sound(html: str) -> Page:
    """Valid-ish HTML5 as the brief asks: a doctype, one h1, every image with alt, every control labelled."""
    assert html.lstrip().lower().startswith("<!doctype html>")
    page = Page(html)
    assert len(page.all("h1")) == 1, "a page has exactly one h1"
    for img in page.all("img"):
        assert img.get("alt") is not None, f"image without alt: {img}"
    controls = [*page.all("input"), *page.all("select"), *page.all("textarea")]
    for control in controls:
        if control.get("type") in ("hidden", "submit", "button"):
            continue
        assert control.get("id") in page.label_for or control.get("aria-label"), f"unlabelled control: {control}"
    return page


@pytest.fixture
def ui_app(make_ui_app: MakeUiApp) -> UiApp:
    """Password login with one user per role (``ai-admin``, ``ai-developer``, ``ai-viewer``) and the test catalog
    (set after the lifespan has started, so no reload of the packaged demo replaces it)."""
    made = make_ui_app()
    for role in ROLES:
        made.add_user(f"ai-{role}", role=role)
    made.client()  # starts the lifespan
    made.app.state.catalog.set_config(DEFAULT)
    return made


@pytest.fixture
def admin(ui_app: UiApp) -> TestClient:
    return ui_app.logged_in("ai-admin")


def show(client: TestClient, url: str, status: int = 200) -> httpx.Response:
    answer = client.get(url)
    assert answer.status_code == status, answer.text
    return answer


def card_names(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'class="catalog-card-title"><a href="[^"]+">([^<]+)</a>', html)]


# --- the gallery ---------------------------------------------------------------------------------------------------


def test_root_goes_to_the_catalog(admin: TestClient) -> None:
    answer = admin.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/catalog"


def test_catalog_lists_every_model_with_its_card(admin: TestClient) -> None:
    html = show(admin, "/catalog").text
    page = assert_sound(html)
    words = text(html)
    assert "Model catalog" in words
    assert "Discover models that are available for your organization to register, deploy, and customize." in words
    assert card_names(html) == ["granite-3.1-8b-instruct", "Llama-3.1-8B", "it's.v1.5", "no-location"]  # by name
    assert "Validated" in words and "Community models" in words  # source name, or Validated instead
    assert f'src="{LOGO}"' in html  # a data: logo is shown, with alt=""
    assert catalog_view.model_url("redhat", GRANITE.name) in page.links()
    search = next(i for i in page.all("input") if i.get("id") == "catalog-q")
    assert search.get("placeholder") == "Filter by name, description and provider"
    assert "data-autosubmit" in search


def test_the_demo_catalog_is_served_without_sources(make_ui_app: MakeUiApp) -> None:
    made = make_ui_app()
    made.add_user("ai-viewer", role="viewer")
    html = show(made.logged_in("ai-viewer"), "/catalog").text
    assert_sound(html)
    assert "granite-3.1-8b-instruct" in card_names(html)
    assert "Organization AI" in text(html) and "Community and custom" in text(html)


def test_tabs_per_label_and_community(admin: TestClient) -> None:
    html = show(admin, "/catalog").text
    words = text(html)
    assert "All models" in words and "Red Hat AI validated" in words and "Community and custom" in words
    red_hat = show(admin, "/catalog?label=Red+Hat").text
    assert card_names(red_hat) == ["granite-3.1-8b-instruct"]
    assert 'aria-current="page">Red Hat AI validated' in red_hat
    community = show(admin, "/catalog?label=null").text
    assert card_names(community) == ["Llama-3.1-8B", "it's.v1.5", "no-location"]


def test_search_by_q(admin: TestClient) -> None:
    assert card_names(show(admin, "/catalog?q=llama").text) == ["Llama-3.1-8B"]
    assert card_names(show(admin, "/catalog?q=IBM").text) == ["granite-3.1-8b-instruct"]  # provider
    html = show(admin, "/catalog?q=chat+%26+tools").text  # description, with a character to escape
    assert card_names(html) == ["granite-3.1-8b-instruct"]
    assert 'value="chat &amp; tools"' in html  # the box keeps what was typed


def test_filters_by_task_and_provider(admin: TestClient) -> None:
    html = show(admin, "/catalog").text
    words = text(html)
    for heading in ("Task", "Provider", "License", "Language"):
        assert heading in words
    assert 'name="provider" value="O&#39;Reilly"' in html or 'name="provider" value="O\'Reilly"' in html
    assert card_names(show(admin, "/catalog?tasks=summarization").text) == ["Llama-3.1-8B"]
    both = show(admin, "/catalog?tasks=summarization&tasks=feature-extraction").text
    assert card_names(both) == ["Llama-3.1-8B", "it's.v1.5"]
    assert card_names(show(admin, "/catalog?provider=O%27Reilly").text) == ["it's.v1.5"]  # a quote in a value
    anded = show(admin, "/catalog?tasks=text-generation&provider=Meta").text
    assert card_names(anded) == ["Llama-3.1-8B"]
    assert re.search(r'name="provider" value="Meta" checked', anded)


def test_sort_by_publish_date(admin: TestClient) -> None:
    html = show(admin, "/catalog?sort=published").text
    assert card_names(html) == ["it's.v1.5", "granite-3.1-8b-instruct", "Llama-3.1-8B", "no-location"]
    assert re.search(r'<option value="published" selected>Publish date \(Newest → Oldest\)', html)


def test_pages_carry_a_token_and_a_way_back(ui_app: UiApp, admin: TestClient) -> None:
    many = [_model("bulk", f"org/model-{i:03d}") for i in range(catalog_view.PAGE_SIZE + 5)]
    ui_app.app.state.catalog.set_config(catalog_config(snapshot("bulk", "Bulk", many)))
    first = show(admin, "/catalog?q=model").text
    assert len(card_names(first)) == catalog_view.PAGE_SIZE
    next_url = unescape(re.search(r'<a href="([^"]+)" rel="next">Next</a>', first).group(1))  # type: ignore[union-attr]
    assert parse_qs(urlsplit(next_url).query)["q"] == ["model"]  # the search stays in the link
    second = show(admin, next_url).text
    assert card_names(second) == [f"model-{i:03d}" for i in range(catalog_view.PAGE_SIZE, len(many))]
    assert 'rel="next"' not in second
    assert "First page" in text(second)


def test_a_bad_page_token_is_a_400_page(admin: TestClient) -> None:
    answer = admin.get("/catalog?page_token=not-a-token")
    assert answer.status_code == 400
    assert "text/html" in answer.headers["content-type"]


def test_empty_states(ui_app: UiApp, admin: TestClient) -> None:
    html = show(admin, "/catalog?q=nothing-like-this").text
    assert "No models match" in text(html)
    assert re.findall(r'href="([^"]+)">Clear filters<', html) == ["/catalog"]
    filtered = show(admin, "/catalog?label=null&q=zzz&provider=Meta&sort=published").text
    clear = unescape(re.findall(r'href="([^"]+)">Clear filters<', filtered)[-1])
    assert parse_qs(urlsplit(clear).query) == {"label": ["null"], "sort": ["published"]}  # the tab and sort stay
    ui_app.app.state.catalog.set_config(CatalogConfig())
    ui_app.app.state.catalog.set_registry(None)
    empty = show(admin, "/catalog").text
    assert "No models available" in text(empty)
    assert "/settings/catalog-sources" in Page(empty).links()  # an admin is shown where to configure sources


# --- a model's page ------------------------------------------------------------------------------------------------


def test_model_page_with_slash_and_dots_in_the_name(admin: TestClient) -> None:
    html = show(admin, catalog_view.model_url("community", QUOTED.name)).text
    assert_sound(html)
    words = text(html)
    assert "org/it's.v1.5" in words and "O'Reilly" in words
    assert "No model card" in words
    show(admin, catalog_view.model_url("community", "org/missing.v1"), 404)


def test_model_page_details_and_sanitized_card(ui_app: UiApp, admin: TestClient) -> None:
    ui_app.app.state.deploy = None  # no deploy feature
    html = show(admin, catalog_view.model_url("redhat", GRANITE.name)).text
    assert_sound(html)
    words = text(html)
    for shown in ("Model catalog", "granite-3.1-8b-instruct", "Validated", "Description", "Model card",
                  "Model details", "BF16", "IBM", "oci://registry.example/ibm-granite/granite-3.1-8b-instruct:1",
                  "Last modified", "Published"):  # fmt: skip
        assert shown in words, shown
    assert '<a href="https://www.apache.org/licenses/LICENSE-2.0" rel="noopener nofollow">Apache 2.0</a>' in html
    assert "<h3>Granite</h3>" in html
    assert "<script>alert" not in html and 'href="javascript' not in html and "<img src=x" not in html
    assert "Register model" in words
    assert "Deploy" not in words.split()  # no deploy feature configured


def test_deploy_button_only_with_a_deploy_feature(ui_app: UiApp, admin: TestClient) -> None:
    ui_app.app.state.deploy = None  # deploy.enabled false
    url = catalog_view.model_url("redhat", GRANITE.name)
    assert "/deployments/new" not in show(admin, url).text
    ui_app.app.state.deploy = object()
    links = Page(show(admin, url).text).links()
    deploy = next(link for link in links if link.startswith("/deployments/new"))
    assert parse_qs(urlsplit(unescape(deploy)).query) == {"source": ["redhat"], "model": [GRANITE.name]}
    viewer = ui_app.logged_in("ai-viewer")  # may not deploy: no button
    assert "/deployments/new" not in show(viewer, url).text


def test_no_register_without_a_location(admin: TestClient) -> None:
    html = show(admin, catalog_view.model_url("community", NO_URI.name)).text
    assert "Register model" not in text(html)
    assert "Model location is unavailable" in text(html)
    show(admin, catalog_view.register_url("community", NO_URI.name), 400)


# --- registering ---------------------------------------------------------------------------------------------------


def _register(client: TestClient, model: CatalogModel, **fields: str) -> httpx.Response:
    """Post the register form as the page fills it in, with ``fields`` changed."""
    url = catalog_view.register_url(model.source_id, model.name)
    filled = {"model_name": model.short_name, "version_name": "Version 1"}
    return client.post(url, data={"csrf_token": csrf_of(show(client, url)), **filled, **fields})


def test_register_form_is_prefilled(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    html = show(developer, catalog_view.register_url("redhat", GRANITE.name)).text
    assert_sound(html)
    assert 'name="model_name" type="text" value="granite-3.1-8b-instruct"' in html
    assert 'name="version_name" type="text" value="Version 1"' in html
    assert "Granite instruct model for chat &amp; tools</textarea>" in html
    assert "oci://registry.example/ibm-granite/granite-3.1-8b-instruct:1" in text(html)


def test_register_creates_model_version_and_artifact(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    answer = _register(developer, GRANITE, model_name="granite-8b", model_description="Mine",
                       version_name="v1", version_description="first")  # fmt: skip
    assert answer.status_code == 303, answer.text
    registry = ui_app.app.state.registry
    with context.acting_as(context.system("tests")):
        rm = registry.find(e.REGISTERED_MODEL, "granite-8b", None)
        versions, _ = registry.list_entities(e.MODEL_VERSION, PageRequest(), registered_model_id=rm.row["id"])
        artifacts, _ = registry.list_artifacts(PageRequest(), parent=("model_version", versions[0].row["id"]))
    assert answer.headers["location"] == f"/registry/models/{rm.row['id']}/versions/{versions[0].row['id']}"
    assert rm.row["description"] == "Mine" and rm.row["owner"] == "ai-developer" and rm.row["provider"] == "IBM"
    [version] = versions
    assert version.row["name"] == "v1" and version.row["author"] == "ai-developer"
    props = {k: v.value for k, v in version.props.items()}
    assert props["License"] == "Apache 2.0" and props["Provider"] == "IBM" and props["text-generation"] == ""
    [artifact] = artifacts
    row = artifact.row
    assert row["uri"] == GRANITE.model_uri
    assert (row["model_source_kind"], row["model_source_class"], row["model_source_name"]) == (
        "catalog", "redhat", GRANITE.name,
    )  # fmt: skip
    trail = ui_app.app.state.audit
    with context.acting_as(context.system("tests")):
        records, _ = trail.query(entity_kind="model_version", entity_id=version.row["id"])
    assert [(r["actor"], r["action"]) for r in records] == [("ai-developer", "create")]
    # The flash message on the next page names what was registered.
    landed = developer.get(answer.headers["location"])
    assert "Registered granite-8b version v1" in text(landed.text)


def test_a_taken_name_is_an_error_next_to_the_field_then_a_new_version(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    assert _register(developer, GRANITE).status_code == 303
    again = _register(developer, GRANITE, model_name="granite-3.1-8b-instruct", version_name="Version 2")
    assert again.status_code == 409
    assert re.search(
        r'id="model_name-error">A registered model named granite-3.1-8b-instruct already exists', again.text
    )
    assert 'name="use_existing"' in again.text
    added = _register(developer, GRANITE, model_name="granite-3.1-8b-instruct", version_name="Version 2",
                      use_existing="on")  # fmt: skip
    assert added.status_code == 303
    clash = _register(developer, GRANITE, model_name="granite-3.1-8b-instruct", version_name="Version 2",
                      use_existing="on")  # fmt: skip
    assert clash.status_code == 409 and 'id="version_name-error"' in clash.text


def test_an_archived_model_of_that_name_is_named_in_the_error(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    assert _register(developer, GRANITE).status_code == 303
    registry = ui_app.app.state.registry
    with context.acting_as(context.system("tests")):
        rm = registry.find(e.REGISTERED_MODEL, GRANITE.short_name, None)
        registry.update(e.REGISTERED_MODEL, rm.row["id"], {"state": "ARCHIVED"}, None)
    again = _register(developer, GRANITE, use_existing="on")
    assert again.status_code == 409
    assert "exists but is archived" in text(again.text) and 'id="model_name-error"' in again.text


def test_empty_names_are_refused_next_to_the_field(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    answer = _register(developer, GRANITE, model_name="  ", version_name="v1")
    assert answer.status_code == 400 and 'id="model_name-error"' in answer.text


def test_a_viewer_sees_no_register_and_is_refused(ui_app: UiApp) -> None:
    viewer = ui_app.logged_in("ai-viewer")
    page = show(viewer, catalog_view.model_url("redhat", GRANITE.name)).text
    assert "Register model" not in text(page) and "/register" not in page
    show(viewer, catalog_view.register_url("redhat", GRANITE.name), 403)
    refused = viewer.post(catalog_view.register_url("redhat", GRANITE.name),
                          data={"csrf_token": csrf_of(page) if "csrf_token" in page else "",
                                "model_name": "x", "version_name": "v"})  # fmt: skip
    assert refused.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    url = catalog_view.register_url("redhat", GRANITE.name)
    answer = developer.post(url, data={"model_name": "x", "version_name": "v"})
    assert answer.status_code == 403
    with context.acting_as(context.system("tests")):
        found, _ = ui_app.app.state.registry.list_entities(e.REGISTERED_MODEL, PageRequest())
    assert found == []


def test_registry_models_show_their_versions_and_no_register(ui_app: UiApp) -> None:
    developer = ui_app.logged_in("ai-developer")
    assert _register(developer, GRANITE, model_name="granite-reg").status_code == 303
    deadline = time.monotonic() + 5
    while True:  # the registry source follows the registry in the background
        found = ui_app.app.state.catalog.find_models(catalog_view.CatalogState(q="granite-reg").query())
        if found.items or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    [model] = found.items
    html = show(developer, catalog_view.model_url(model.source_id, model.name)).text
    assert_sound(html)
    words = text(html)
    assert "Versions" in words and "Version 1" in words and "View in registry" in words
    assert "Register model" not in words
