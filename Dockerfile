# One image for every Nexus process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/data/var \
    STORAGE_DIR=/data/storage

# OCR (tesseract with a few languages, ghostscript, unpaper) and LibreOffice for Office -> PDF.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra \
        ghostscript unpaper pngquant \
        libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 nexus
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=nexus:nexus . .
RUN mkdir -p /data/var /data/storage && chown -R nexus:nexus /data
USER nexus

EXPOSE 8501 5555 9808
CMD ["python", "-m", "app.runtime.web", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
