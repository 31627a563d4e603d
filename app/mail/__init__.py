"""Email as domain code: addresses, messages, templates, recipients, delivery, bulk and schedules.

The rule of this package: no module imports Celery or Streamlit, and only `store.py` talks to
Redis (the send ledger, the throttle, scheduled emails); it takes the client it uses. The
others are pure code: what they need from the platform (a store, a job-record lookup, the
owner's email quota) their caller passes in, be it a task adapter in app/tasks/email_tasks.py
or an Email page widget in app/ui/.
"""
