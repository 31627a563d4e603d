"""Reports: load tabular data, analyse it, render HTML, XLSX, PDF, JSON and exports, build each
report a job asks for (`build`), and keep recurring-report definitions (`store`).

The rule: every module here is pure code except `store.py`, the only one that touches Redis
and takes its client from the caller. Nothing here imports Celery or Streamlit: the task
adapters in app/tasks/report_tasks.py call `build`, and app.schedules keeps beat's entries.
"""
