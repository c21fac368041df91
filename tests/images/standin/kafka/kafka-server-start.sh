#!/bin/sh
# Stand-in for Kafka's broker script: accepts connections on the ports environments/local.yaml
# gives the broker (internal 29092, host 9092), and stops on SIGTERM as the broker does.
echo "standin kafka broker $*"
trap 'exit 0' TERM INT
nc -ll -p 29092 -e /bin/true &
nc -ll -p 9092 -e /bin/true &
wait
