# syntax=docker/dockerfile:1
# One image for both long-running processes of the pipeline:
#   bridge  docker run IMAGE bridge               (python -m bridge)
#   worker  docker run IMAGE                      (python -m streamproc worker, the default)
# Configuration is the local stack's env names (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, AWS_*, STREAMPROC_*);
# see docker-compose.yml.
#
# UNTESTED HERE: the project's dev machines have no Docker engine, so this image has never been built or run
# by the project's checks. Build it on a machine with Docker: `docker build -t streamproc .`

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
USER streamproc:streamproc

ENTRYPOINT ["python", "-m"]
CMD ["streamproc", "worker"]
