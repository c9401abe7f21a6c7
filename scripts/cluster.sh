#!/usr/bin/env bash
# Starts or stops the local cluster of `make cluster` / `make stop`.
#   scripts/cluster.sh start N   start todo1..todoN (HTTP 5454..), joined, in the background
#   scripts/cluster.sh stop      stop them gracefully (SIGTERM), by their pid files
# CLUSTER_BIN, CLUSTER_RUN_DIR, CLUSTER_DATA_DIR and CLUSTER_HTTP_PORT (the first node's)
# change the binary, the folders and the ports (the end-to-end test runs it on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CLUSTER_BIN:-.build/release/todo-node}
RUN=${CLUSTER_RUN_DIR:-run}
DATA=${CLUSTER_DATA_DIR:-persist}
FIRST_PORT=${CLUSTER_HTTP_PORT:-5454}

. scripts/pid.sh

# Whether node $1 runs under the pid in its pid file.
alive() { pid_runs "$RUN/$1.pid" "--name $1@localhost "; }

health_nodes() {  # the number of visible peers node on port $1 reports, or -1
  local body
  body=$(curl -fsS "http://127.0.0.1:$1/health" 2>/dev/null) || { echo -1; return; }
  python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["nodes"]))' "$body" 2>/dev/null || echo -1
}

wait_for() {  # wait_for PORT PEERS: until the node on PORT sees PEERS peers (30 s at most)
  for _ in $(seq 300); do
    [ "$(health_nodes "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "the node on port $1 did not join in time; see $RUN/*.log" >&2
  return 1
}

start() {
  local count=$1
  mkdir -p "$RUN" "$DATA"
  for i in $(seq "$count"); do
    local name="todo$i" port=$((FIRST_PORT + i - 1))
    if alive "$name"; then
      echo "$name@localhost is already running (pid $(cat "$RUN/$name.pid"))"
      continue
    fi
    # Each node joins through all the others, so one restarted later finds the rest.
    local connect=()
    for j in $(seq "$count"); do [ "$j" -ne "$i" ] && connect+=(--connect "todo$j@localhost"); done
    nohup "$BIN" --name "$name@localhost" --http-port "$port" --data-dir "$DATA/$name" "${connect[@]}" \
      >>"$RUN/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
    # The first node makes the cookie file and the port mapper: let it finish first.
    [ "$i" -eq 1 ] && wait_for "$FIRST_PORT" 0
  done
  wait_for "$FIRST_PORT" $((count - 1))
  echo
  echo "The cluster is up: todo1..todo$count@localhost, HTTP on ports $FIRST_PORT..$((FIRST_PORT + count - 1))."
  echo "Try the book's walk-through: write through one node, read through another:"
  echo "  curl -d '' 'http://localhost:$FIRST_PORT/add_entry?list=bob&date=2018-12-19&title=Dentist'"
  echo "  curl 'http://localhost:$((FIRST_PORT + 1))/entries?list=bob&date=2018-12-19'"
  echo "  .build/release/todo --node todo2@localhost entries bob 2018-12-19"
  echo "  .build/release/todo whereis bob"
  echo "  .build/release/todo nodes"
  echo "Logs and pid files are in $RUN/; 'make stop' stops the nodes."
}

stop() {
  shopt -s nullglob
  for file in "$RUN"/todo*.pid; do
    local pid name
    pid=$(cat "$file"); name=$(basename "$file" .pid)
    if ! alive "$name"; then
      echo "$name@localhost was not running"
    elif kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 100); do alive "$name" || break; sleep 0.1; done
      if alive "$name"; then
        echo "$name@localhost has not stopped within 10 s (pid $pid)" >&2
        continue
      fi
      echo "stopped $name@localhost"
    fi
    rm -f "$file"
  done
}

case "${1:-}" in
  start) start "${2:-3}" ;;
  stop) stop ;;
  *) echo "usage: $0 start N | stop" >&2; exit 2 ;;
esac
