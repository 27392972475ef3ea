# syntax=docker/dockerfile:1
#
# broadway-py: the service image. See docs/deploy.md.
#
#   docker build -t broadway-py:0.1.0 .
#   docker run --rm -p 9400:9400 --stop-timeout 45 \
#     -v "$PWD/config/demo.yaml:/etc/broadway/pipeline.yaml:ro" \
#     -v "$PWD/config/demo_handlers.py:/etc/broadway/demo_handlers.py:ro" \
#     broadway-py:0.1.0
#
# The pipeline file is read from /etc/broadway/pipeline.yaml: mount it there.
# Handler modules named in it are imported from that file's folder and from the
# working directory, /app. One HTTP port, 9400, serves /metrics, /healthz,
# /readyz and /status. SIGTERM starts a drain bounded by the pipeline's
# shutdown.drain_timeout; the process exits 0 when the drain completes.
#
# Dependencies come from requirements.lock (hash-checked, every connector
# extra included) and requirements-build.lock; scripts/lock.sh regenerates both.

# ---- build: a venv holding the locked dependencies and the project's wheel ----
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src

# The build backend (hatchling), pinned and hash-checked, in a venv of its own
# so that it never reaches the runtime image.
COPY requirements-build.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes -r requirements-build.lock

# Runtime dependencies before the source, so that this layer stays cached
# across code changes. --require-hashes also fails on a dependency missing
# from the lock.
COPY requirements.lock ./
RUN python -m venv /opt/broadway \
    && /opt/broadway/bin/pip install --no-cache-dir --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY broadway_py ./broadway_py
# Last, the installer itself leaves the runtime venv: pip and setuptools
# (about 22 MB) are build tools that nothing imports at run time.
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist . \
    && /opt/broadway/bin/pip install --no-cache-dir --no-deps /dist/broadway_py-*.whl \
    && /opt/broadway/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && /opt/broadway/bin/python -m compileall -q /opt/broadway/lib \
    && /opt/broadway/bin/broadway-py version

# ---- runtime: the interpreter, the venv (no pip, no setuptools), a numeric non-root user ----
FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="broadway-py" \
      org.opencontainers.image.description="Back-pressured, supervised message-broker consumer pipelines (Kafka, RabbitMQ, SQS) for Python asyncio" \
      org.opencontainers.image.licenses="Apache-2.0"

# 10001:10001 owns nothing in the image: the code is read-only to it, which
# is what Kubernetes' readOnlyRootFilesystem expects. Only /tmp is written.
RUN groupadd --system --gid 10001 broadway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin broadway \
    && mkdir -p /etc/broadway /app

COPY --from=build /opt/broadway /opt/broadway

ENV PATH="/opt/broadway/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BROADWAY_HEALTHCHECK_URL="http://127.0.0.1:9400/healthz"

WORKDIR /app
USER 10001:10001
EXPOSE 9400
STOPSIGNAL SIGTERM

# For plain Docker; Kubernetes ignores it and uses the chart's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['BROADWAY_HEALTHCHECK_URL'], timeout=4)"]

# Exec form, no shell: broadway-py is PID 1 and receives SIGTERM itself.
# http.host=0.0.0.0: the pipeline file's default (127.0.0.1) would hide the
# HTTP port from everything outside the container. Keep it when replacing CMD.
ENTRYPOINT ["broadway-py"]
CMD ["run", "/etc/broadway/pipeline.yaml", "--set", "http.host=0.0.0.0"]
