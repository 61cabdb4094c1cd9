# redis-ha-exporter container image.
#
#   docker build -t redis-ha-exporter .
#   REDIS_PASSWORD=... docker run --read-only --tmpfs /tmp -p 9121:9121 -e REDIS_PASSWORD \
#       redis-ha-exporter --sentinel-addr 10.0.0.11:26379
#
# Arguments after the image name are exporter flags. The image runs as an unprivileged numeric
# user and writes nothing, so run it with a read-only root file system; /tmp is the only place
# that may be writable. tests/integration/test_dockerfile.py runs the builder's steps and the
# health check outside Docker.
#
# Both stages use the same base, pinned by tag. Where CI can resolve it, pin it by digest too
# (python:3.11.17-slim-bookworm@sha256:...) so that a rebuilt tag cannot change the image.

FROM python:3.11.17-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the package is built from: a file missing here fails the build rather than
# shipping a package without it.
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY redis_ha_exporter/ redis_ha_exporter/

# constraints.txt pins every runtime dependency, the builder's pip and the build backend, so
# the same sources give the same packages. The venv has no pip or setuptools of its own (the
# builder's pip installs into it), so no build tool reaches the final stage.
RUN python -m pip install --no-cache-dir --constraint constraints.txt pip \
 && python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install --no-cache-dir \
        --constraint constraints.txt --build-constraint constraints.txt . \
 && /opt/venv/bin/redis-ha-exporter --version


FROM python:3.11.17-slim-bookworm

# VERSION stays equal to exporter.__version__ (the test checks it); a release build passes
# --build-arg REVISION="$(git rev-parse HEAD)" --build-arg CREATED="$(date -u +%FT%TZ)".
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="redis-ha-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Redis masters, replicas and Sentinels that follows failovers" \
      org.opencontainers.image.source="https://github.com/redis-ha-exporter/redis-ha-exporter" \
      org.opencontainers.image.url="https://github.com/redis-ha-exporter/redis-ha-exporter" \
      org.opencontainers.image.documentation="https://github.com/redis-ha-exporter/redis-ha-exporter#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# The base image's own pip, setuptools and wheel are not needed to run the exporter, and image
# scanners report their old versions; nothing is installed in this stage.
RUN python -m pip uninstall --yes pip setuptools wheel

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Numeric, so that Kubernetes' runAsNonRoot can check it without an /etc/passwd entry.
USER 65532:65532

EXPOSE 9121

# Liveness only (/ready waits for the first polls). The exporter listens on 9121 unless
# --listen-address says otherwise; with another port, override this with --health-cmd.
# Exit 1 when the answer is not 200; an unanswered or failed request raises, which also
# exits 1. There is no curl in the slim image, so Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9121/health', timeout=4).status != 200)"]

ENTRYPOINT ["redis-ha-exporter"]
