#!/bin/sh
# The Tansu broker behind the apache/kafka image's script path:
# `kafka-server-start.sh [-daemon] server.properties`. Tansu serves one listener and advertises
# one address, where Apache Kafka gives containers and the host a listener each. So it listens on
# the port of the inter-broker listener of the properties (INTERNAL://0.0.0.0:29092) and
# advertises the container's own address on that port, which the other containers and (on Linux)
# the host both reach; the other listeners' ports (9092) are forwarded to it. Topics live in
# memory: a restart loses them.
[ "${1:-}" = "-daemon" ] && shift
[ $# -ge 1 ] || { echo "USAGE: $0 [-daemon] server.properties" >&2; exit 1; }
prop() { sed -n "s/^$1=//p" "$2" | tail -n 1; }
name=$(prop inter.broker.listener.name "$1")
listeners=$(prop listeners "$1" | tr ',' '\n')
listen=$(echo "$listeners" | sed -n "s|^${name:-PLAINTEXT}://||p" | head -n 1)
: "${listen:=0.0.0.0:9092}"
port=${listen##*:}
address=$(sed -n "s/^\([0-9.]*\)[[:space:]].*$(hostname).*/\1/p" /etc/hosts | head -n 1)
: "${address:=127.0.0.1}"
trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM INT
for other in $(echo "$listeners" | sed -n 's|^[A-Z_]*://[^:]*:\([0-9]*\)$|\1|p'); do
  [ "$other" = "$port" ] && continue
  nc -ll -p "$other" -e nc 127.0.0.1 "$port" &
done
echo "tansu broker: listening on $listen, advertised as $address:$port"
/usr/local/bin/tansu broker --listener-url "tcp://$listen" --advertised-listener-url "tcp://$address:$port" \
  --storage-engine memory://tansu/ &
broker=$!
wait "$broker"
