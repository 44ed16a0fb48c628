# Which recorded pids are ours; sourced by start.sh and stop.sh (after env.sh).
#
# ours PID: the process runs one of our components: its command line names our directory $K, so
#   a pid file whose pid was reused by another process never counts.
# starting PID: our own child that has not exec'd its component yet. Between bash's fork and
#   the exec in bg (setsid nohup ...), the child's command line is still this script's, which
#   does not name $K; without this a loaded machine saw the apiserver "exit" with an empty log.
ours() { kill -0 "$1" 2>/dev/null && tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | grep -q -- "$K"; }
starting() { kill -0 "$1" 2>/dev/null && [[ $(awk '/^PPid:/ {print $2}' "/proc/$1/status" 2>/dev/null) == "$$" ]]; }
alive() {  # component: its pid file names a live process of ours, or one we are starting
  local f=$K/$1.pid p
  [[ -f $f ]] || return 1
  p=$(cat "$f")
  ours "$p" || starting "$p"
}
