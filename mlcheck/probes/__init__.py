"""Probes measure something running and return plain numbers (`readings`): the serving core
over HTTP (`http`), a locust load (`locust`), a Prometheus server (`prometheus`). They decide
nothing: the gates do."""
