"""Pure document code: Word, Excel, PowerPoint, PDF and images, guarded against hostile input.

Nothing here imports Celery, Redis or Streamlit: `runner.process_file` is what the files queue
and `python -m app.office` both call.
"""
