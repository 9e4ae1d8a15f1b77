"""Kubernetes access for the whole server: one client (`client.Kube`, lightkube underneath) configured from the
``kubernetes`` settings (`connection`: in-cluster, kubeconfig, URL + token), the kinds modelreg reads and writes
(`kinds`), its errors (`errors`), the shared shapes (`shapes`: objects are dicts, label selectors, watch events),
a watch stream that another thread can stop (`watch`), object validation against CRD and core schemas (`schemas`)
and a list-and-watch cache (`informer`). No web or database imports."""
