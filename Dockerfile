# rocketchat-prometheus-exporter: build the wheel in one stage, run it as non-root in another.
#   docker build -t rocketchat-prometheus-exporter:0.1.0 .
#   docker run -p 9877:9877 -v $PWD/config.yaml:/etc/rocketchat-exporter/config.yaml:ro \
#     -v $PWD/rc_token:/run/secrets/rc_token:ro rocketchat-prometheus-exporter:0.1.0
#   docker run -p 9877:9877 rocketchat-prometheus-exporter:0.1.0 --demo      # no Rocket.Chat needed
FROM python:3.12.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE config.example.yaml ./
COPY exporter ./exporter
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.12.7-slim-bookworm
RUN groupadd --system --gid 10001 exporter \
    && useradd --system --uid 10001 --gid exporter --no-create-home --shell /usr/sbin/nologin exporter \
    && mkdir -p /etc/rocketchat-exporter
COPY --from=build /opt/venv /opt/venv
COPY config.example.yaml /etc/rocketchat-exporter/config.example.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 9877
# No curl in the image: the package's own check asks /healthz over HTTP, then HTTPS (when
# --web-config enables TLS); port 9877 is the default listen address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "exporter.healthcheck", "9877"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["rocketchat-exporter"]
CMD ["--config", "/etc/rocketchat-exporter/config.yaml"]
