"""Email as pure code: addresses, messages, SMTP delivery, templates, recipients and the catcher.

Nothing here imports Celery, Redis or Streamlit; the task adapters in app/tasks/email_tasks.py
and the Redis-backed state in app/mail_state.py build on it.
"""
