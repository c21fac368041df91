#!/bin/sh
# Kafka Connect in distributed mode behind the apache/kafka image's script path and contract:
# `connect-distributed.sh [-daemon] WORKER_PROPERTIES`, KAFKA_HEAP_OPTS (default -Xms256M -Xmx2G,
# as upstream), KAFKA_OPTS, KAFKA_LOG4J_OPTS; the runtime's jars in /opt/kafka/libs.
[ "${1:-}" = "-daemon" ] && shift
[ $# -ge 1 ] || { echo "USAGE: $0 [-daemon] connect-distributed.properties" >&2; exit 1; }
: "${KAFKA_HEAP_OPTS:=-Xms256M -Xmx2G}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=/opt/kafka/config/connect-log4j2.properties}"
# shellcheck disable=SC2086 # the option variables hold several options each
exec java $KAFKA_HEAP_OPTS $KAFKA_LOG4J_OPTS ${KAFKA_OPTS:-} -XX:+UseG1GC -Djava.awt.headless=true \
  -cp '/opt/kafka/libs/*' org.apache.kafka.connect.cli.ConnectDistributed "$@"
