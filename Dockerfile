# One image for every Nexus process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/data/var \
    STORAGE_DIR=/data/storage

RUN useradd --create-home --uid 1000 nexus
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=nexus:nexus . .
RUN mkdir -p /data/var /data/storage && chown -R nexus:nexus /data
USER nexus

EXPOSE 8501 5555 9808
CMD ["python", "-m", "app.runtime.web", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
