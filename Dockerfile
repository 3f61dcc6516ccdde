# syntax=docker/dockerfile:1
# Build stage: wheels for cryptoflow and everything it needs (compilers stay here).
FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY cryptoflow ./cryptoflow
COPY agents ./agents
COPY tables ./tables
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: the wheels only, a non-root user, no build tools.
FROM python:3.11.7-slim-bookworm
RUN useradd --create-home --uid 10001 cryptoflow
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels cryptoflow==0.1.0 \
    && rm -rf /wheels
WORKDIR /app
RUN chown 10001:10001 /app
USER 10001:10001
ENV PYTHONUNBUFFERED=1 \
    CRYPTOFLOW_WEB_BIND=0.0.0.0 \
    CRYPTOFLOW_WEB_PORT=6066 \
    CRYPTOFLOW_WEB_HOST=@hostname
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:6066/api/health/', timeout=4).status != 200)"]
CMD ["faust", "-A", "cryptoflow", "worker", "-l", "info"]
