#!/bin/sh
# Stand-in for Kafka Connect: the REST emulator on 8083; stops on SIGTERM.
echo "standin connect (REST emulator) $*"
trap 'exit 0' TERM INT
/usr/local/bin/connect-emulator 0.0.0.0:8083 &
wait
