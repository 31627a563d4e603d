"""Nexus: an office job platform on Streamlit, Celery and Redis."""
