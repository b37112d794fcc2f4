# promoter's container image: `promoter` as the entrypoint, git beside it, run as a non-root user.
#
#   docker build --build-arg VERSION="$(git describe --tags --abbrev=0 | sed 's/^v//')" \
#     --build-arg SOURCE=https://github.com/<owner>/promoter -t promoter .
#   docker run --rm promoter --version
#
# Two stages: `build` makes a virtual environment with promoter, its queue extra (`promoter
# worker`, `serve --queue`) and their pinned dependencies (constraints/dev.txt); the runtime
# stage is Debian slim with python3, git and that environment only (no pip, no compiler, no
# apt lists). tests/packaging replays these stages
# into a directory with mmdebstrap + chroot, since no container engine runs there.

ARG DEBIAN=bookworm-slim

FROM debian:${DEBIAN} AS build
ARG VERSION=0.0.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION=${VERSION}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN python3 -m venv /opt/promoter \
 && /opt/promoter/bin/pip install --quiet -c /src/constraints/dev.txt "/src[queue]" \
 && /opt/promoter/bin/pip uninstall --quiet --yes pip \
 && find /opt/promoter -name __pycache__ -prune -exec rm -rf {} +

FROM debian:${DEBIAN}
ARG VERSION=0.0.0
ARG SOURCE=""
LABEL org.opencontainers.image.title="promoter" \
      org.opencontainers.image.description="Moves container images through GitOps environments." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/promoter promoter
COPY --from=build /opt/promoter /opt/promoter
ENV PATH=/opt/promoter/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /home/promoter
EXPOSE 8080
ENTRYPOINT ["promoter"]
CMD ["--help"]
