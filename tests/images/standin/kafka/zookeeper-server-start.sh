#!/bin/sh
# Stand-in for Kafka's ZooKeeper script: accepts connections on 2181.
echo "standin zookeeper $*"
exec nc -ll -p 2181 -e /bin/true
