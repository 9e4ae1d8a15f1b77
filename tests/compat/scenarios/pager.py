"""Pager iteration over a registry that holds exactly what this scenario creates (run on an empty server).

Checks exact sequences for ID, CREATE_TIME and LAST_UPDATE_TIME ordering, both directions and several page
sizes, and the nextPageToken protocol the Pager relies on: it sends ``nextPageToken=""`` after the last page,
expects the first page back and stops when it sees the first page's token again. Ends with more models than the
server's default page size (100 here; the reference server returns everything when pageSize is absent), listed
without page_size: the Pager must still see every model once.
"""

import asyncio

from _support import check, connect, done, expect, step
from model_registry.types import ModelVersion, RegisteredModel

r = connect()
api = r._api

step("empty registry: no iteration")
expect(list(r.get_registered_models()), [], "registered models on an empty server")
expect(list(r.get_registered_models().page_size(10)), [], "paged registered models on an empty server")

step("create 21 registered models")
names = [f"model-{i:02d}" for i in range(21)]
for n in names:
    r.async_runner(api.upsert_registered_model(RegisteredModel(name=n)))


def listed(pager) -> list[str]:
    return [m.name for m in pager]


step("default order is creation (id) order")
expect(listed(r.get_registered_models()), names, "default order, one page")
expect(listed(r.get_registered_models().page_size(10)), names, "default order, pages of 10")

step("nextPageToken protocol with pages of 10")
pager = r.get_registered_models().page_size(10)
calls = []
fetch = pager.page_fn


def recording(options):
    sent = options.next_page_token
    page = fetch(options)
    calls.append((sent, options.next_page_token, [m.name for m in page]))
    return page


pager.page_fn = recording
expect(listed(pager), names, "items of the recorded iteration")
expect(len(calls), 4, f"page requests (3 pages, then the first page again): {calls}")
(sent1, t1, page1), (sent2, t2, page2), (sent3, t3, page3), (sent4, t4, page4) = calls
expect((page1, page2, page3), (names[:10], names[10:20], names[20:]), "page contents")
check(sent1 is None, "the first request sends no token", sent1)
check(isinstance(t1, str) and t1 and isinstance(t2, str) and t2 and t1 != t2, "two distinct non-empty tokens", t1, t2)
expect((sent2, sent3), (t1, t2), "the tokens the pager sends back")
expect(t3, "", "nextPageToken of the last page")
expect(sent4, "", "after the last page the pager sends nextPageToken=''")
expect((t4, page4), (t1, page1), "nextPageToken='' gives the first page again, with its token")

for size in (1, 7, 21):
    expect(listed(r.get_registered_models().page_size(size)), names, f"pages of {size}")

step("ID order")
expect(listed(r.get_registered_models().order_by_id().page_size(10)), names, "ID ascending")
expect(listed(r.get_registered_models().order_by_id().descending().page_size(10)), names[::-1], "ID descending")
expect(
    listed(r.get_registered_models().order_by_id().descending().ascending().page_size(10)),
    names,
    "ascending() after descending()",
)

step("CREATE_TIME order")
expect(listed(r.get_registered_models().order_by_creation_time().page_size(10)), names, "CREATE_TIME ascending")
expect(
    listed(r.get_registered_models().order_by_creation_time().descending().page_size(10)),
    names[::-1],
    "CREATE_TIME descending",
)
expect(
    listed(r.get_registered_models().order_by_creation_time().descending().page_size(4)),
    names[::-1],
    "CREATE_TIME descending, pages of 4",
)

step("LAST_UPDATE_TIME order follows updates made in a row")
touched = [names[i] for i in (7, 0, 20, 13, 3)]
for n in touched:
    model = r.get_registered_model(n)
    model.description = f"touched {n}"
    r.update(model)
by_update = [n for n in names if n not in touched] + touched
expect(listed(r.get_registered_models().order_by_update_time().page_size(10)), by_update, "LAST_UPDATE_TIME ascending")
expect(
    listed(r.get_registered_models().order_by_update_time().descending().page_size(10)),
    by_update[::-1],
    "LAST_UPDATE_TIME descending",
)
expect(
    listed(r.get_registered_models().order_by_update_time().descending().page_size(3)),
    by_update[::-1],
    "LAST_UPDATE_TIME descending, pages of 3",
)
expect(
    listed(r.get_registered_models().order_by_creation_time().page_size(10)),
    names,
    "updates do not change CREATE_TIME order",
)
expect(listed(r.get_registered_models().order_by_id().page_size(10)), names, "updates do not change ID order")

step("versions of one model")
parent = r.async_runner(api.upsert_registered_model(RegisteredModel(name="versioned")))
versions = [f"v{i:02d}" for i in range(12)]
for v in versions:
    r.async_runner(api.upsert_model_version(ModelVersion(name=v, author="tester"), parent.id))
expect(listed(r.get_model_versions("versioned")), versions, "versions, default order")
expect(listed(r.get_model_versions("versioned").page_size(5)), versions, "versions, pages of 5")
expect(
    listed(r.get_model_versions("versioned").order_by_id().descending().page_size(5)),
    versions[::-1],
    "versions, ID descending",
)
expect(
    listed(r.get_model_versions("versioned").order_by_creation_time().page_size(5)),
    versions,
    "versions, CREATE_TIME ascending",
)
expect(
    listed(r.get_model_versions("versioned").order_by_creation_time().descending().page_size(5)),
    versions[::-1],
    "versions, CREATE_TIME descending",
)
touched_versions = ["v05", "v00", "v11"]
for v in touched_versions:
    mv = r.get_model_version("versioned", v)
    mv.description = "touched"
    r.update(mv)
by_update = [v for v in versions if v not in touched_versions] + touched_versions
expect(
    listed(r.get_model_versions("versioned").order_by_update_time().page_size(5)),
    by_update,
    "versions, LAST_UPDATE_TIME ascending",
)
expect(
    listed(r.get_model_versions("versioned").order_by_update_time().descending().page_size(5)),
    by_update[::-1],
    "versions, LAST_UPDATE_TIME descending",
)

step("registered models are unaffected by the versions")
expect(len(list(r.get_registered_models().page_size(10))), 22, "registered model count")

step("more models than the server's default page size, listed without page_size (the Pager follows the tokens)")


async def create_many(count: int) -> list[RegisteredModel]:
    return list(
        await asyncio.gather(
            *(api.upsert_registered_model(RegisteredModel(name=f"bulk-{i:03d}")) for i in range(count))
        )
    )


bulk = sorted(r.async_runner(create_many(110)), key=lambda m: int(m.id))
everything = [*names, "versioned", *(m.name for m in bulk)]
expect(listed(r.get_registered_models()), everything, "all 132 models without page_size, ID order")
expect(listed(r.get_registered_models().descending()), everything[::-1], "all 132 models without page_size, descending")
done()
