#!/bin/sh
# MinIO's startup for the K2 stack: run the server, create the Iceberg warehouse bucket as
# soon as the server answers, then wait on the server so it stays the container's main job.
# The healthcheck reports healthy only after the marker file below exists, so the Iceberg
# catalog (which cannot create buckets) never starts before its bucket does.
set -eu

marker=/tmp/k2-bucket-ready
rm -f "$marker"

minio server /data --console-address ":9001" &
server=$!
# As PID 1 the shell would ignore `docker stop`'s SIGTERM: pass it on to the server.
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit $?' TERM INT

# `mc alias set` contacts the server, so it doubles as the readiness wait.
until mc alias set k2 http://127.0.0.1:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "minio-start: the MinIO server exited before it was ready" >&2
        wait "$server"
        exit 1
    fi
    sleep 1
done
mc mb --ignore-existing "k2/$K2_WAREHOUSE_BUCKET"
touch "$marker"
echo "minio-start: bucket $K2_WAREHOUSE_BUCKET ready"

wait "$server"
