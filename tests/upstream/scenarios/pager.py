"""Pager iteration over several pages in every ordering, as the upstream client drives it."""

from _common import registry, unique

r = registry()
prefix = unique("pager")
created = []
for i in range(21):
    name = f"{prefix}-{i:02d}"
    r.register_model(name, f"s3://b/{name}", version="v1", model_format_name="onnx", model_format_version="1")
    created.append(name)


def ours(pager):
    return [m.name for m in pager if m.name.startswith(prefix)]


assert ours(r.get_registered_models().page_size(10)) == created
assert ours(r.get_registered_models().order_by_id().page_size(10)) == created
assert ours(r.get_registered_models().order_by_id().descending().page_size(10)) == created[::-1]
assert ours(r.get_registered_models().order_by_creation_time().page_size(7)) == created
assert ours(r.get_registered_models().order_by_creation_time().descending().page_size(7)) == created[::-1]

# updates decide LAST_UPDATE_TIME order
touched = [created[i] for i in (3, 17, 0, 9, 12)]
for name in touched:
    rm = r.get_registered_model(name)
    rm.description = "touched"
    r.update(rm)
by_update = ours(r.get_registered_models().order_by_update_time().page_size(4))
assert by_update[-5:] == touched, by_update[-5:]
by_update_desc = ours(r.get_registered_models().order_by_update_time().descending().page_size(4))
assert by_update_desc[:5] == touched[::-1], by_update_desc[:5]

# versions of one model
model = unique("versions")
for i in range(12):
    r.register_model(
        model, f"s3://b/{model}/{i}", version=f"v{i:02d}", model_format_name="onnx", model_format_version="1"
    )
names = [v.name for v in r.get_model_versions(model).page_size(5)]
assert names == [f"v{i:02d}" for i in range(12)], names
names = [v.name for v in r.get_model_versions(model).page_size(5).descending()]
assert names == [f"v{i:02d}" for i in range(12)][::-1], names
print("ok")
