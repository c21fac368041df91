#!/usr/bin/env bash
# Builds the images the integration tests run, from Debian packages, because no container
# registry is reachable here. Each image is built only when its tag is missing.
#   deploy-test/postgres:17        a real PostgreSQL 17 (Debian trixie) behind an entrypoint that
#                                  follows the official image's contract (POSTGRES_* variables,
#                                  /docker-entrypoint-initdb.d, command `postgres ...`)
#   deploy-test/kafka:standin      stand-in for apache/kafka: the same script paths, listening on
#                                  the same ports, no JVM
#   deploy-test/registry:standin   stand-in for apicurio/apicurio-registry (port 8080, ccompat v7)
#   deploy-test/kafka-ui:standin   stand-in for kafbat/kafka-ui (port 8080, /actuator/health)
#   deploy-test/connect:standin    stand-in for Kafka Connect: the tests' REST emulator, built
#                                  from $CONNECT_EMULATOR_BIN (made by `cargo build --example
#                                  connect_emulator`); skipped when that is not given
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${DEPLOY_TEST_IMAGE_WORK:-/var/tmp/deploy-test-images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Images carry a hash of the files they are built from, so a changed script rebuilds them.
inputs=$(cd "$here" && cat build.sh postgres/* standin/*/* connect/* | sha256sum | cut -c1-16)
have() {
  [ "$(docker image inspect -f '{{index .Config.Labels "deploy-test.inputs"}}' "$1" 2>/dev/null)" = "$inputs" ]
}
need_pkg() {
  command -v "$1" >/dev/null 2>&1 && return
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

build_postgres() {
  local tag=deploy-test/postgres:17 base=deploy-test/postgres-base:17 root="$work/postgres-rootfs"
  have "$tag" && return
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    need_pkg debootstrap debootstrap
    rm -rf "$root"
    debootstrap --variant=minbase --include=postgresql-17 trixie "$root" "$mirror" >"$work/postgres-debootstrap.log"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/{doc,man,info,locale}
    mkdir -p "$root/docker-entrypoint-initdb.d" "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
    chroot "$root" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
    tar -C "$root" -c . | docker import - "$base" >/dev/null
    rm -rf "$root"
  fi
  DOCKER_BUILDKIT=0 docker build -q --label "deploy-test.inputs=$inputs" -t "$tag" "$here/postgres" \
    >"$work/postgres-build.log" 2>&1 || { cat "$work/postgres-build.log" >&2; exit 1; }
}

# One busybox root for every stand-in; each image adds its own scripts.
busybox_root() {
  local root=$1
  need_pkg busybox busybox-static
  rm -rf "$root"; mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in sh nc httpd sleep cat echo mkdir env wget; do ln -s busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
}

import_standin() {
  local tag=$1 root=$2 command=$3
  tar -C "$root" -c . | docker import -c "CMD $command" -c 'ENV PATH=/bin' \
    -c "LABEL deploy-test.inputs=$inputs" - "$tag" >/dev/null
  rm -rf "$root"
}

build_kafka() {
  local tag=deploy-test/kafka:standin root="$work/kafka-rootfs"
  have "$tag" && return
  busybox_root "$root"
  mkdir -p "$root/opt/kafka/bin" "$root/srv/connect"
  cp "$here"/standin/kafka/*.sh "$root/opt/kafka/bin/"
  chmod 0755 "$root"/opt/kafka/bin/*.sh
  echo '[]' >"$root/srv/connect/connectors"
  echo '{"version":"3.9.1","commit":"standin","kafka_cluster_id":"standin"}' >"$root/srv/connect/index.html"
  import_standin "$tag" "$root" '["/opt/kafka/bin/kafka-server-start.sh"]'
}

build_http_standin() {
  local tag=$1 name=$2 path=$3 body=$4 root="$work/$2-rootfs"
  have "$tag" && return
  busybox_root "$root"
  mkdir -p "$root/srv/$(dirname "$path")"
  echo "$body" >"$root/srv/$path"
  import_standin "$tag" "$root" '["/bin/sh", "-c", "trap \"exit 0\" TERM INT; httpd -f -p 8080 -h /srv & wait"]'
}

build_connect() {
  local tag=deploy-test/connect:standin bin=${CONNECT_EMULATOR_BIN:-}
  [ -n "$bin" ] || return 0
  local context="$work/connect-context" digest
  digest=$(sha256sum "$bin" | cut -c1-16)
  [ "$(docker image inspect -f '{{index .Config.Labels "deploy-test.inputs"}}' "$tag" 2>/dev/null)" = "$inputs-$digest" ] && return
  rm -rf "$context" && mkdir -p "$context"
  cp "$bin" "$context/connect_emulator"
  cp "$here/connect/Dockerfile" "$here/connect/connect-distributed.sh" "$context/"
  DOCKER_BUILDKIT=0 docker build -q --label "deploy-test.inputs=$inputs-$digest" -t "$tag" "$context" \
    >"$work/connect-build.log" 2>&1 || { cat "$work/connect-build.log" >&2; exit 1; }
  rm -rf "$context"
}

mkdir -p "$work"
build_kafka
build_http_standin deploy-test/registry:standin registry apis/ccompat/v7/subjects '[]'
build_http_standin deploy-test/kafka-ui:standin kafka-ui actuator/health '{"status":"UP"}'
build_postgres
build_connect
