# Kengele API server (and embedded worker). Production mode: secrets must come from the environment.
#   docker build -t kengele .
#   docker run -e KENGELE_DATABASE_URL=postgresql+psycopg://... -e KENGELE_SECRET_KEY=... \
#              -e KENGELE_TWILIO_AUTH_TOKEN=... -e KENGELE_PUBLIC_BASE_URL=https://alerts.example.org \
#              -v kengele-data:/var/lib/kengele -p 8000:8000 kengele
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KENGELE_MODE=production \
    KENGELE_DATA_DIR=/var/lib/kengele

WORKDIR /opt/kengele

# Dependencies first (cached layer), pinned with hashes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
# Editable: migrations are found beside the package (alembic/ at the project root).
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /var/lib/kengele --shell /usr/sbin/nologin kengele \
    && mkdir -p /var/lib/kengele/spool \
    && chown -R kengele:kengele /var/lib/kengele

USER kengele
# The spool must survive the container: it holds messages accepted during a database outage.
VOLUME ["/var/lib/kengele"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# Migrations, then the server; exec so uvicorn gets SIGTERM directly.
CMD ["sh", "-c", "kengele migrate && exec kengele serve --host 0.0.0.0 --port 8000"]
