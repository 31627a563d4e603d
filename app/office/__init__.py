"""Pure document code: Word, Excel, PowerPoint, PDF, images, OCR and conversions, guarded.

The rule of the package: nothing here imports Celery or Streamlit, and nothing touches Redis
(only a `store.py` may, and office keeps no state of its own, so it has none). Every input
passes `guard.check_file` first: type sniffing, size caps, zip-bomb and pixel limits.
`runner.process_files` and `ocr.ocr_files` are what the files and ocr queues call, and
`python -m app.office` calls the same code.
"""
