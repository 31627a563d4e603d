"""Process running: what `make run`, `celery_worker.sh` and the containers start.

`run` is `make run` (honcho over every process), `processes` builds each process's command,
`redis_server` finds or starts Redis, `web` starts Streamlit with the upload cap, and `metrics`
serves the Prometheus endpoint. Nothing here holds job logic; the platform never imports it.
"""
