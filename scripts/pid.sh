# Sourced by cluster.sh and lb.sh: pid files that may have outlived their programs.

# Whether the pid in pid file $1 is a program whose command line holds $2. A pid file outlives
# its program (kill -9, a crash, a reboot), and the number may since have gone to another
# program: that one is neither taken for ours nor stopped in its place.
pid_runs() {
  local pid
  [ -f "$1" ] && pid=$(cat "$1") && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}
