# syntax=docker/dockerfile:1
# One image for both long-running processes of the pipeline:
#   bridge  docker run IMAGE bridge               (python -m bridge)
#   worker  docker run IMAGE                      (python -m streamproc worker, the default)
# Configuration is the local stack's env names (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, AWS_*, STREAMPROC_*);
# see docker-compose.yml and docs/deploying.md.
#
# NOT BUILT HERE: the project's dev machines have no Docker engine. What tests/repo/test_dockerfile.py checks
# instead: hadolint passes, every COPY source exists and is not excluded by .dockerignore, the default command
# exists, and the HEALTHCHECK command run for real picks the right process's /healthz route. Build it on a
# machine with Docker: `docker build -t streamproc .`

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A virtualenv is the unit copied into the runtime stage: no pip cache, no sources, no build leftovers.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY streamproc/ streamproc/
COPY bridge/ bridge/
# Runtime dependencies only (no [dev] extra), at the versions pinned in constraints.txt.
RUN pip install -c constraints.txt .


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 streamproc \
    && useradd --system --uid 10001 --gid streamproc --create-home --home-dir /home/streamproc \
        --shell /usr/sbin/nologin streamproc

COPY --from=build /opt/venv /opt/venv

# Faust keeps its local table state in a data dir under the working directory, so it must be writable.
WORKDIR /home/streamproc
# Numeric, so a runtime that enforces runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

# The worker serves /healthz/ on STREAMPROC_WEB_PORT (Faust's web server, 6066), the bridge /healthz on
# BRIDGE_HTTP_PORT (6067). One image runs either, so the check reads PID 1's command line to tell which this
# container runs (`bridge` among its arguments); HEALTHCHECK_URL, when set, is probed instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; e = os.environ.get; b = b'bridge' in open('/proc/1/cmdline', 'rb').read().split(b'\\0'); r.urlopen(e('HEALTHCHECK_URL') or ('http://127.0.0.1:%s/healthz' % e('BRIDGE_HTTP_PORT', '6067') if b else 'http://127.0.0.1:%s/healthz/' % e('STREAMPROC_WEB_PORT', '6066')), timeout=4)"]

ENTRYPOINT ["python", "-m"]
CMD ["streamproc", "worker"]
