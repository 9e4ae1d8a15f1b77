"""Experiment runs and their metric history: the rules beyond the generic entity operations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from modelreg.db import repository
from modelreg.db.pagination import PageRequest
from modelreg.db.tables import metric_history
from modelreg.errors import InvalidInput, NotFound
from modelreg.services import entities as e
from modelreg.services.entities import Record
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

Props = Mapping[str, PropValue]


class ExperimentService:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.db = registry.db
        self.limits = registry.limits

    def create_run(self, values: dict[str, Any], props: Props, run_id: int | None = None) -> Record:
        """Create a run; with ``run_id`` (a nested POST whose body has an id) update that run instead."""
        if run_id is not None:
            return self.update_run(run_id, values, props or None)
        _check_times(values.get("start_time"), values.get("end_time"))
        experiment_id = values["experiment_id"]

        def run(conn: Connection) -> Record:
            if not repository.exists(conn, e.EXPERIMENT.table, experiment_id):
                raise NotFound(f"experiment not found: no experiment found for id {experiment_id}")
            return e.create(conn, e.EXPERIMENT_RUN, values, props, experiment_id)

        return self.registry.write_entity(e.EXPERIMENT_RUN, values, run)

    def update_run(self, run_id: int, values: dict[str, Any], props: Props | None) -> Record:
        values = {k: v for k, v in values.items() if k not in ("experiment_id", "start_time")}

        def run(conn: Connection) -> Record:
            current = e.load(conn, e.EXPERIMENT_RUN, run_id)
            _check_times(current.row["start_time"], values.get("end_time", current.row["end_time"]))
            e.apply_update(conn, e.EXPERIMENT_RUN, current.row, values, props)
            return e.load(conn, e.EXPERIMENT_RUN, run_id)

        return self.registry.write_entity(e.EXPERIMENT_RUN, values, run)

    def list_runs(
        self,
        page: PageRequest,
        filter_query: str | None,
        experiment_id: int | None,
        name: str | None = None,
        external_id: str | None = None,
    ) -> tuple[list[Record], str]:
        c = e.EXPERIMENT_RUN.table.c
        where = e.name_or_external_id(e.EXPERIMENT_RUN.table, name, external_id)
        with self.db.read() as conn:
            if experiment_id is not None:
                if not repository.exists(conn, e.EXPERIMENT.table, experiment_id):
                    raise NotFound(f"no experiment found for id {experiment_id}")
                where.append(c.experiment_id == experiment_id)
            return e.list_page(conn, e.EXPERIMENT_RUN, page, filter_query, where)

    def metric_history(
        self, page: PageRequest, filter_query: str | None, run_id: int | None, name: str | None, step_ids: str | None
    ) -> tuple[list[Record], str]:
        c = metric_history.c
        where = []
        if name:
            where.append(c.name.contains(name, autoescape=True))
        steps = _parse_steps(step_ids)
        if steps is not None:
            where.append(c.step.in_(steps))
        with self.db.read() as conn:
            if run_id is not None:
                if not repository.exists(conn, e.EXPERIMENT_RUN.table, run_id):
                    raise NotFound(f"experiment run not found: no experiment run found for id {run_id}")
                where.append(c.experiment_run_id == run_id)
            return e.list_page(conn, e.METRIC_HISTORY, page, filter_query, where)


def _check_times(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"EndTimeSinceEpoch ({end}) cannot be less than StartTimeSinceEpoch ({start})")


def _parse_steps(step_ids: str | None) -> list[int] | None:
    if not step_ids:
        return None
    steps = []
    for part in step_ids.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            steps.append(int(part))
        except ValueError:
            raise InvalidInput(f"invalid step ID '{part}': must be a valid integer") from None
    return steps or None
