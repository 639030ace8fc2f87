#!/bin/sh
# The shop as six processes: brook-devbroker, then one process per service, all sharing the
# dev-broker's cluster. The order service places the orders and prints the summary; the others
# are stopped with SIGTERM afterwards and print what they handled.
#
#   samples/shop/run-services.sh [BUILD_DIR] [shop options, e.g. --orders 500]
#
# Against a real cluster, skip the dev-broker: set BROOK_BOOTSTRAP=host:port and run
# `shop --service NAME` for each service (the topics are created at start).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
[ $# -gt 0 ] && shift
shop=$build/samples/shop/shop
devbroker=$build/framework/brook-devbroker
log=$(mktemp -d)
pids= broker=
# Services first (they commit and leave their groups), then the dev-broker.
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    pids=
    [ -n "$broker" ] && kill "$broker" 2>/dev/null && wait "$broker" 2>/dev/null || true
    broker=
}
trap cleanup EXIT INT TERM

"$devbroker" "$here"/services/*.brook > "$log/devbroker.out" 2> "$log/devbroker.err" &
broker=$!
until [ -s "$log/devbroker.out" ]; do sleep 0.1; done
BROOK_BOOTSTRAP=$(head -n 1 "$log/devbroker.out")
# The dev-broker is librdkafka's mock cluster: it rebalances a group only after
# session.timeout.ms - 1 s, so keep the session short.
export BROOK_BOOTSTRAP BROOK_KAFKA_SESSION_TIMEOUT_MS=6000 BROOK_KAFKA_HEARTBEAT_INTERVAL_MS=500
echo "brook-devbroker at $BROOK_BOOTSTRAP; service logs in $log"

for s in notification shipping payment inventory; do
    "$shop" --service "$s" > "$log/$s.log" 2>&1 &
    pids="$! $pids"
done
status=0
"$shop" --service order "$@" || status=$?
cleanup
for s in inventory payment shipping notification; do tail -n +2 "$log/$s.log" | grep -v '\[retry\]' || true; done
exit $status
