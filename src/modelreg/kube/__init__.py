"""Kubernetes access for the whole server: one client (`client.Kube`, lightkube underneath) configured from the
``kubernetes`` settings, the kinds modelreg reads and writes (`kinds`), its errors (`errors`), object validation
against CRD and core schemas (`schemas`) and a list-and-watch cache (`informer`). No web or database imports."""
