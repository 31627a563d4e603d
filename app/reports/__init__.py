"""Reports: load tabular data, analyse it, and render HTML, XLSX, PDF, JSON and exports.

Pure code: nothing here imports Celery, Redis or Streamlit. The task adapters in
app/tasks/report_tasks.py unpack arguments, call `build` and report progress.
"""
