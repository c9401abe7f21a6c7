#!/usr/bin/env bash
# `make lb`: Debian's haproxy on port 8080 in front of the nodes `make cluster` started
# (HTTP 5454..), checking each node's /health, so clients keep working while a node is down.
#   scripts/lb.sh start N   write run/haproxy.cfg for N nodes and start haproxy
#   scripts/lb.sh stop      stop it
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=run
PORT=${LB_PORT:-8080}

start() {
  local count=$1
  mkdir -p "$RUN"
  if [ -f "$RUN/haproxy.pid" ] && kill -0 "$(cat "$RUN/haproxy.pid")" 2>/dev/null; then
    echo "haproxy is already running on port $PORT (pid $(cat "$RUN/haproxy.pid"))"
    return
  fi
  {
    echo "global"
    echo "  maxconn 4096"
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 2s"
    echo "  timeout client 30s"
    echo "  timeout server 15s"
    echo "  retries 2"
    echo "  option redispatch"
    echo "frontend todo"
    echo "  bind *:$PORT"
    echo "  default_backend nodes"
    echo "backend nodes"
    echo "  balance roundrobin"
    echo "  option httpchk GET /health"
    echo "  default-server inter 500ms fall 2 rise 2"
    for i in $(seq "$count"); do echo "  server todo$i 127.0.0.1:$((5453 + i)) check"; done
  } >"$RUN/haproxy.cfg"
  haproxy -c -q -f "$RUN/haproxy.cfg"
  haproxy -D -f "$RUN/haproxy.cfg" -p "$RUN/haproxy.pid"
  echo "haproxy on port $PORT in front of todo1..todo$count; try:"
  echo "  curl 'http://localhost:$PORT/entries?list=bob&date=2018-12-19'"
}

stop() {
  if [ -f "$RUN/haproxy.pid" ]; then
    kill "$(cat "$RUN/haproxy.pid")" 2>/dev/null && echo "stopped haproxy"
    rm -f "$RUN/haproxy.pid"
  fi
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  *) echo "usage: $0 start N | stop" >&2; exit 2 ;;
esac
