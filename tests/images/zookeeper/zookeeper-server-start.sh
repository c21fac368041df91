#!/bin/sh
# Debian's ZooKeeper 3.8 behind the apache/kafka image's script path:
# `zookeeper-server-start.sh [-daemon] zookeeper.properties`.
[ "${1:-}" = "-daemon" ] && shift
[ $# -ge 1 ] || { echo "USAGE: $0 [-daemon] zookeeper.properties" >&2; exit 1; }
data=$(sed -n 's/^dataDir=//p' "$1" | tail -n 1)
[ -n "$data" ] && mkdir -p "$data"
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} -Dzookeeper.log.dir=/tmp -Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties \
  -cp '/usr/share/java/*:/etc/zookeeper/conf' org.apache.zookeeper.server.quorum.QuorumPeerMain "$1"
