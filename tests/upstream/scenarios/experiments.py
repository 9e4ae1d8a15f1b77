"""Experiment runs: parameters, metrics with history, datasets, nested runs (client 0.3.10)."""

from _common import registry, unique

r = registry()
experiment = unique("exp")
with r.start_experiment_run(experiment_name=experiment) as run:
    run.log_param("learning_rate", 5.75)
    run.log_param("optimizer", "adam")
    run.log_metric("accuracy", 0.9, step=1)
    run.log_metric("accuracy", 0.95, step=2)  # the client keeps the last value per key
    run.log_metric("loss", 0.3, step=1, timestamp="1700000000000")
    run_id = run.info.id


runs = list(r.get_experiment_runs(experiment_name=experiment))
assert [x.id for x in runs] == [run_id], runs
logs = list(r.get_experiment_run_logs(run_id=run_id))
by_name = {item.name: item for item in logs}
assert by_name["learning_rate"].value == 5.75, by_name["learning_rate"]
assert by_name["optimizer"].value == "adam"
assert by_name["accuracy"].value == 0.95 and by_name["accuracy"].step == 2
assert str(by_name["loss"].timestamp) == "1700000000000", by_name["loss"]
assert len(logs) == 4, logs  # two params, two metrics: the metric history is not listed as artifacts
print("ok")
