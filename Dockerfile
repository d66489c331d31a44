# rocketchat-prometheus-exporter: build the wheel in one stage, run it as non-root in another.
#   docker build -t rocketchat-prometheus-exporter:0.1.0 .
#   docker run -p 9877:9877 -v $PWD/config.yaml:/etc/rocketchat-exporter/config.yaml:ro \
#     -v $PWD/rc_token:/run/secrets/rc_token:ro rocketchat-prometheus-exporter:0.1.0
#   docker run -p 9877:9877 rocketchat-prometheus-exporter:0.1.0 --demo      # no Rocket.Chat needed
# Behind a corporate proxy or with a private index:
#   docker build --build-arg PIP_INDEX_URL=https://pypi.example.com/simple ...   and put the
#   index's (or the proxy's) CA certificate into deploy/docker/ca/ as a .crt file.
FROM python:3.12.7-slim-bookworm AS build
ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""
WORKDIR /src
COPY deploy/docker/ca/ /usr/local/share/ca-certificates/extra/
RUN if ls /usr/local/share/ca-certificates/extra/*.crt >/dev/null 2>&1; then \
        update-ca-certificates; fi
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md LICENSE config.example.yaml ./
COPY exporter ./exporter
# the build stage's pip installs into a venv that has none: no pip in the runtime image
RUN python -m venv --without-pip /opt/venv \
    && python -m pip --python /opt/venv/bin/python install .

FROM python:3.12.7-slim-bookworm
# a regular account, not a system one: system ids stop at 999, and 10001 is the id the docs and
# the Kubernetes manifests (runAsUser) use
RUN groupadd --gid 10001 exporter \
    && useradd --no-log-init --uid 10001 --gid exporter --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin exporter \
    && mkdir -p /etc/rocketchat-exporter
COPY --from=build /opt/venv /opt/venv
COPY config.example.yaml /etc/rocketchat-exporter/config.example.yaml
# The exporter reads ROCKETCHAT_EXPORTER_LISTEN as its --listen default and the HEALTHCHECK asks
# the same address: change it here (-e) rather than with --listen, and the check follows.
# Nothing is written at run time: the container runs with a read-only root file system.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROCKETCHAT_EXPORTER_LISTEN=0.0.0.0:9877
USER 10001:10001
EXPOSE 9877
# No curl in the image: the package's own check asks /healthz over HTTP, then HTTPS (when
# --web-config enables TLS), at ROCKETCHAT_EXPORTER_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "exporter.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["rocketchat-exporter"]
CMD ["--config", "/etc/rocketchat-exporter/config.yaml"]
