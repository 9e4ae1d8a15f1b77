"""What the server tells its operators: Prometheus metrics (``metrics.py``), request ids (``request_ids.py``) and
the log format (``logs.py``). Below the services and above ``db``, so that every surface and background worker can
report into it without knowing who reads it."""
