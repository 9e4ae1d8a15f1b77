"""Transfer jobs' runner: copies a model's files from a source to a destination and reports to
``services/transfers.py``; runs in the server's worker (one per cluster, by lease) or as a Kubernetes Job."""
