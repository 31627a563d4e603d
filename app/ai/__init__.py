"""The AI area: providers, prompts, chunking, the offline analyser, the operations a job runs
(inputs, chat turns, batches, results) and one store.

The rule: every module here is pure code except `store.py`, the only one that touches Redis
(the shared rate limiter, conversations, usage per day) and takes its client from the caller.
Nothing here imports Celery or Streamlit; app/tasks/ai_tasks.py adapts it to the ai queue.
"""
