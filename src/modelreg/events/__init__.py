"""Events: every change the audit chain records, as CloudEvents, to webhooks and an SSE stream (docs/events.md).

The audit log is the transactional outbox: a change and its audit record commit together, with gapless sequence
numbers in commit order. The relay (`relay.py`, run by `worker.py` in the one process holding the lease
``events``) reads the records after its cursor, turns those that are events into CloudEvents (`cloudevents.py`)
in the ``events`` table, and queues a delivery per matching webhook, in one transaction with the cursor. The
worker then delivers (`delivery.py`: signed by `signing.py`, to destinations `destinations.py` allows), in order per
entity, retrying with backoff, pausing a webhook that keeps failing. `webhooks.py` holds the admins' rules;
`feed.py` serves the stream from the ``events`` table."""
