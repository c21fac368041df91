#!/bin/sh
# Stand-in for Kafka's ZooKeeper script: accepts connections on 2181, stops on SIGTERM.
echo "standin zookeeper $*"
trap 'exit 0' TERM INT
nc -ll -p 2181 -e /bin/true &
wait
