#!/usr/bin/env bash
# `make lb`: Debian's haproxy on port 8080 in front of the nodes `make cluster` started
# (HTTP 5454..), checking each node's /health, so clients keep working while a node is down.
#   scripts/lb.sh start N   write run/haproxy.cfg for N nodes and start haproxy
#   scripts/lb.sh stop      stop it
# LB_PORT, LB_HTTP_PORTS ("5454 5455 ...") and LB_RUN_DIR change the ports and the folder
# of its pid and config files (the end-to-end test runs it on ports of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${LB_RUN_DIR:-run}
PORT=${LB_PORT:-8080}

. scripts/pid.sh

# Whether our haproxy runs under the pid in its pid file.
running() { pid_runs "$RUN/haproxy.pid" "-f $RUN/haproxy.cfg "; }

start() {
  local count=$1
  mkdir -p "$RUN"
  if running; then
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
    local i=1
    for port in ${LB_HTTP_PORTS:-$(seq 5454 $((5453 + count)))}; do
      echo "  server todo$i 127.0.0.1:$port check"
      i=$((i + 1))
    done
  } >"$RUN/haproxy.cfg"
  haproxy -c -q -f "$RUN/haproxy.cfg"
  # The daemon keeps none of its launcher's descriptors beyond stdio: a launcher that waits
  # for a pipe it handed down to close (Foundation's Process does) would wait forever.
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  haproxy -D -f "$RUN/haproxy.cfg" -p "$RUN/haproxy.pid"
  echo "haproxy on port $PORT in front of todo1..todo$count; try:"
  echo "  curl 'http://localhost:$PORT/entries?list=bob&date=2018-12-19'"
}

stop() {
  if running; then
    kill "$(cat "$RUN/haproxy.pid")" 2>/dev/null && echo "stopped haproxy"
  fi
  rm -f "$RUN/haproxy.pid"
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  *) echo "usage: $0 start N | stop" >&2; exit 2 ;;
esac
