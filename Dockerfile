# Opstap in a container: the wheel (with its compiled catalogs) on python:3.11-slim, as a
# non-root user. Build: docker build -t opstap .   Run: see compose.yaml and README.md.

# -- build the wheel ------------------------------------------------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY locales/ locales/
COPY bot/ bot/
COPY flows/ flows/
COPY storage/ storage/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# -- run it ---------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPSTAP_DATA_DIR=/data \
    OPSTAP_DATABASE_URL=sqlite+aiosqlite:////data/opstap.db
# The pinned versions first (a layer that changes only with the lock), then Opstap itself.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir --no-deps /tmp/opstap-*.whl && rm /tmp/opstap-*.whl \
    && useradd --system --create-home --home-dir /home/opstap --uid 10001 opstap \
    && mkdir -p /data && chown opstap:opstap /data
USER 10001:10001
WORKDIR /home/opstap
VOLUME ["/data"]
# Webhook mode listens here (set OPSTAP_LISTEN=0.0.0.0 and publish the port).
EXPOSE 8080
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 CMD ["opstap", "health"]
# The schema first, then the bot (long polling; append --webhook for webhook mode).
CMD ["sh", "-c", "opstap migrate && exec opstap run"]
