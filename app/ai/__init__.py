"""The AI area's pure code: providers, prompts, chunking, the offline analyser and operations.

Nothing here imports Celery, Redis or Streamlit; the rate limiter and the conversation store are
passed in by the caller (see `app.ai_state` and `app.tasks.ai_tasks`).
"""
