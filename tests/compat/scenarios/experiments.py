"""Experiments and run logging with client 0.3.10 (v1alpha3): params, metrics, datasets, metric history,
resuming a run, nested runs, listing, and the bulk artifact filter across runs."""

import time

from _support import check, connect, done, expect, millis, step, unique
from model_registry.types import ArtifactState, ArtifactTypeQueryParam, DataSet, Metric, Parameter, ParameterType

r = connect()
api = r._api
experiment = unique("exp")


async def metric_history(run_id: str, **kwargs):
    async with api.get_client() as client:
        return (await client.get_experiment_run_metric_history(run_id, **kwargs)).items or []


async def all_runs_metric_history(**kwargs):
    async with api.get_client() as client:
        return (await client.get_experiment_runs_metric_history(**kwargs)).items or []


step("start_experiment_run creates the experiment and a run; log params, metrics, a dataset")
with r.start_experiment_run(
    experiment_name=experiment, owner="alice", description="digits", run_description="baseline"
) as run:
    run.log_param("learning_rate", 5.75)
    run.log_param("batch_size", 64)
    run.log_param("optimizer", "adam")
    run.log_param("use_bn", True)
    run.log_metric("accuracy", 0.9, step=1, timestamp="0")
    run.log_metric("f1", 0.8, step=4, timestamp="1700000000000", description="macro f1")
    run.log_dataset(
        name="train",
        uri="s3://data/train.csv",
        source_type="s3",
        source="s3://data",
        schema='{"columns": ["x", "y"]}',
        profile='{"rows": 60000}',
        description="training split",
    )
    run_id = run.info.id
    experiment_id = run.info.experiment_id
check(run_id and experiment_id, "run info has ids", run.info)

step("experiment and run read back")
exp = r.async_runner(api.get_experiment_by_name(experiment))
check(exp is not None, "experiment found by name")
expect((exp.id, exp.name, exp.owner, exp.description), (experiment_id, experiment, "alice", "digits"), "experiment")
check(experiment in {e.name for e in r.get_experiments()}, "experiment listed by get_experiments()")
got_run = r.get_experiment_run(run_id)
expect((got_run.id, got_run.experiment_id, got_run.description), (run_id, experiment_id, "baseline"), "run")
expect(got_run.custom_properties, None, "a run without custom properties")
millis(got_run.create_time_since_epoch, "run createTimeSinceEpoch")
expect([x.id for x in r.get_experiment_runs(experiment_name=experiment)], [run_id], "runs by experiment name")
expect([x.id for x in r.get_experiment_runs(experiment_id=experiment_id)], [run_id], "runs by experiment id")

step("run logs read back (the metric history is not listed)")
logs = list(r.get_experiment_run_logs(run_id=run_id))
by_name = {log.name: log for log in logs}
expect(
    sorted(by_name),
    sorted(["learning_rate", "batch_size", "optimizer", "use_bn", "accuracy", "f1", "train"]),
    "logged artifact names",
)
expect(len(logs), 7, "logged artifact count")
lr = by_name["learning_rate"]
check(isinstance(lr, Parameter), "learning_rate is a Parameter", lr)
expect((lr.value, lr.parameter_type), (5.75, ParameterType.NUMBER), "number parameter")
expect(
    (by_name["batch_size"].value, by_name["batch_size"].parameter_type),
    (64.0, ParameterType.NUMBER),
    "integer parameter (the client reads numbers back as float)",
)
expect(
    (by_name["optimizer"].value, by_name["optimizer"].parameter_type),
    ("adam", ParameterType.STRING),
    "string parameter",
)
expect((by_name["use_bn"].value, by_name["use_bn"].parameter_type), (True, ParameterType.BOOLEAN), "boolean parameter")
accuracy = by_name["accuracy"]
check(isinstance(accuracy, Metric), "accuracy is a Metric", accuracy)
expect(
    (accuracy.value, accuracy.step, accuracy.timestamp, accuracy.state),
    (0.9, 1, "0", ArtifactState.LIVE),
    "metric value/step/timestamp/state",
)
expect((by_name["f1"].timestamp, by_name["f1"].description), ("1700000000000", "macro f1"), "metric timestamp")
for log in logs:
    expect((log.experiment_id, log.experiment_run_id), (experiment_id, run_id), f"experiment ids on {log.name}")
    check(log.id, f"{log.name} has an id")
train = by_name["train"]
check(isinstance(train, DataSet), "train is a DataSet", train)
expect(
    (train.uri, train.source_type, train.source, train.schema, train.profile, train.description),
    ("s3://data/train.csv", "s3", "s3://data", '{"columns": ["x", "y"]}', '{"rows": 60000}', "training split"),
    "dataset fields",
)
expect(
    sorted(x.name for x in r.get_experiment_run_logs(run_name=got_run.name, experiment_name=experiment)),
    sorted(by_name),
    "logs by run name and experiment name",
)
expect(
    sorted(x.name for x in r.get_experiment_run_logs(run_id=run_id).page_size(3)), sorted(by_name), "logs in pages of 3"
)

step("a metric logged several times: one artifact, the whole history")
loss = unique("loss")
base = int(time.time() * 1000)
for i, value in enumerate([0.9, 0.5, 0.25], start=1):
    metric = Metric(name=loss, value=value, step=i, timestamp=str(base + i), state=ArtifactState.LIVE)
    saved = r.async_runner(api.upsert_experiment_run_artifact(run_id, metric))
    expect((saved.name, saved.value, saved.step), (loss, value, i), f"upserted metric step {i}")
logs = list(r.get_experiment_run_logs(run_id=run_id))
loss_logs = [log for log in logs if log.name == loss]
expect([(m.value, m.step) for m in loss_logs], [(0.25, 3)], "the run lists the metric once, with its last value")
expect(len(logs), 8, "logged artifact count after three upserts of one metric")
history = r.async_runner(metric_history(run_id, name=loss))
expect(
    [(m.name, m.value, m.step, m.timestamp) for m in history],
    [(loss, 0.9, 1, str(base + 1)), (loss, 0.5, 2, str(base + 2)), (loss, 0.25, 3, str(base + 3))],
    "metric history of the run, filtered by name",
)
expect(
    [m.step for m in r.async_runner(metric_history(run_id, name=loss, step_ids="1,3"))],
    [1, 3],
    "metric history filtered by stepIds",
)
expect(
    sorted({m.name for m in r.async_runner(metric_history(run_id))}),
    sorted(["accuracy", "f1", loss]),
    "metric names in the run's history",
)

step("resume the run by id: a parameter logged again is updated in place")
with r.start_experiment_run(experiment_name=experiment, run_id=run_id) as resumed:
    expect(resumed.info.id, run_id, "resumed run id")
    resumed.log_param("optimizer", "sgd")
    resumed.log_metric(loss, 0.125, step=4, timestamp=str(base + 4))
logs = {log.name: log for log in r.get_experiment_run_logs(run_id=run_id)}
expect(len(logs), 8, "no new artifact when logging existing names")
expect(logs["optimizer"].value, "sgd", "parameter updated in place")
expect([m.step for m in r.async_runner(metric_history(run_id, name=loss))], [1, 2, 3, 4], "history grows on resume")

step("nested runs")
with r.start_experiment_run(experiment_name=experiment, run_description="sweep") as parent:
    with r.start_experiment_run(nested=True, run_description="trial 1") as child:
        child.log_param("learning_rate", 0.01)
        child.log_metric(loss, 0.4, step=1)
    parent.log_metric(loss, 0.3, step=1)
child_run = r.get_experiment_run(child.info.id)
expect(child_run.experiment_id, experiment_id, "a nested run belongs to the parent's experiment")
expect(child_run.custom_properties, {"kubeflow.parent_run_id": parent.info.id}, "nested run's parent tag")
expect(r.get_experiment_run(parent.info.id).custom_properties, None, "the parent run has no parent tag")
expect(
    [x.id for x in r.get_experiment_runs(experiment_name=experiment)],
    [run_id, parent.info.id, child.info.id],
    "runs of the experiment in creation order",
)
expect(
    [x.id for x in r.get_experiment_runs(experiment_name=experiment).order_by_id().descending().page_size(2)],
    [child.info.id, parent.info.id, run_id],
    "runs, ID descending, pages of 2",
)
expect(
    {log.name: log.value for log in r.get_experiment_run_logs(run_id=child.info.id)},
    {"learning_rate": 0.01, loss: 0.4},
    "nested run logs",
)

step("metric history across runs and the bulk artifact filter")
across = r.async_runner(all_runs_metric_history(name=loss))
expect(
    sorted((m.experiment_run_id, m.value) for m in across),
    sorted(
        [(run_id, 0.9), (run_id, 0.5), (run_id, 0.25), (run_id, 0.125), (child.info.id, 0.4), (parent.info.id, 0.3)]
    ),
    "GET /experiment_runs/metric_history?name=",
)
bulk = r.async_runner(
    api.get_artifacts(
        filter_query=f"experimentRunId IN ('{run_id}','{child.info.id}') AND name LIKE \"%{loss}%\"",
        artifact_type=ArtifactTypeQueryParam.METRIC,
    )
)
expect(
    sorted((m.experiment_run_id, m.value) for m in bulk),
    sorted([(run_id, 0.125), (child.info.id, 0.4)]),
    "GET /artifacts?artifactType=metric&filterQuery=experimentRunId IN (...) AND name LIKE ...",
)
params = r.async_runner(
    api.get_artifacts(filter_query=f"experimentRunId = {run_id}", artifact_type=ArtifactTypeQueryParam.PARAMETER)
)
expect(sorted(p.name for p in params), ["batch_size", "learning_rate", "optimizer", "use_bn"], "parameters of a run")

step("start a run by experiment id")
with r.start_experiment_run(experiment_id=experiment_id, run_description="by id") as by_id:
    by_id.log_param("seed", 7)
expect(r.get_experiment_run(by_id.info.id).experiment_id, experiment_id, "run started by experiment id")
expect([p.value for p in r.get_experiment_run_logs(run_id=by_id.info.id)], [7.0], "its parameter")
expect(
    [x.id for x in r.get_experiment_runs(experiment_id=experiment_id)][-1],
    by_id.info.id,
    "listed last in its experiment",
)
done()
