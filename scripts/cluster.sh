#!/usr/bin/env bash
# Starts or stops the local cluster of `make cluster` / `make stop`.
#   scripts/cluster.sh start N   start todo1..todoN (HTTP 5454..), joined, in the background
#   scripts/cluster.sh stop      stop them gracefully (SIGTERM), by their pid files
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/todo-node
RUN=run

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

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
  mkdir -p "$RUN" persist
  for i in $(seq "$count"); do
    local name="todo$i" port=$((5453 + i))
    if alive "$name"; then
      echo "$name@localhost is already running (pid $(cat "$RUN/$name.pid"))"
      continue
    fi
    # Each node joins through all the others, so one restarted later finds the rest.
    local connect=()
    for j in $(seq "$count"); do [ "$j" -ne "$i" ] && connect+=(--connect "todo$j@localhost"); done
    nohup "$BIN" --name "$name@localhost" --http-port "$port" --data-dir "persist/$name" "${connect[@]}" \
      >>"$RUN/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
    # The first node makes the cookie file and the port mapper: let it finish first.
    [ "$i" -eq 1 ] && wait_for 5454 0
  done
  wait_for 5454 $((count - 1))
  echo
  echo "The cluster is up: todo1..todo$count@localhost, HTTP on ports 5454..$((5453 + count))."
  echo "Try the book's walk-through: write through one node, read through another:"
  echo "  curl -d '' 'http://localhost:5454/add_entry?list=bob&date=2018-12-19&title=Dentist'"
  echo "  curl 'http://localhost:5455/entries?list=bob&date=2018-12-19'"
  echo "  .build/release/todo --node todo2@localhost entries bob 2018-12-19"
  echo "  .build/release/todo whereis bob"
  echo "  .build/release/todo nodes"
  echo "Logs and pid files are in $RUN/; 'make stop' stops the nodes."
}

stop() {
  shopt -s nullglob
  for file in "$RUN"/*.pid; do
    local pid name
    pid=$(cat "$file"); name=$(basename "$file" .pid)
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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
