#!/bin/sh
# Stand-in for Kafka Connect: the REST API's root and an empty /connectors on 8083.
echo "standin connect $*"
trap 'exit 0' TERM INT
httpd -f -p 8083 -h /srv/connect &
wait
