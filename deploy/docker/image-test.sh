#!/usr/bin/env bash
# The image works, checked against a real Docker daemon (not part of `make test`: CI has none).
#   make image-test            # or: bash deploy/docker/image-test.sh [IMAGE]
# Builds the image, runs --demo, waits until Docker calls it healthy, scrapes /metrics, checks
# it runs as uid 10001 with a read-only root file system, and that it stops within 2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${1:-rocketchat-prometheus-exporter:$(python3 -c 'import re,pathlib;print(re.search(r"__version__ = \"([^\"]+)\"", pathlib.Path("exporter/__init__.py").read_text())[1])')}"
name="rocketchat-exporter-image-test-$$"
port="${IMAGE_TEST_PORT:-19877}"
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

docker build -t "$image" .
docker run -d --name "$name" --read-only -p "127.0.0.1:$port:9877" "$image" --demo >/dev/null

for _ in $(seq 1 60); do  # the HEALTHCHECK starts after 10 s and runs every 30 s
  status="$(docker inspect -f '{{.State.Health.Status}}' "$name")"
  [ "$status" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || { docker logs "$name"; exit 1; }
  sleep 1
done
[ "$status" = healthy ] || { echo "not healthy: $status"; docker logs "$name"; exit 1; }

curl -fsS "http://127.0.0.1:$port/metrics" | grep -q '^rocketchat_up{workspace="acme-prod"} 1' \
  || { echo "no rocketchat_up in /metrics"; exit 1; }
[ "$(docker exec "$name" id -u)" = 10001 ] || { echo "not running as uid 10001"; exit 1; }
docker exec "$name" sh -c '! command -v pip' >/dev/null || { echo "pip in the runtime image"; exit 1; }

start=$(date +%s.%N)
docker stop -t 10 "$name" >/dev/null
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "stopped in ${took}s"
awk -v t="$took" 'BEGIN { exit !(t < 2) }' || { echo "stop took ${took}s (limit 2 s)"; exit 1; }
echo "image-test: ok ($image)"
