#!/usr/bin/env bash
# Start, stop and inspect Nexus's background processes: one worker per queue, beat and Flower.
#
#   ./celery_worker.sh start [NAME...]     NAME: email files ai reports ocr maintenance beat flower metrics
#   ./celery_worker.sh stop [NAME...]      warm shutdown: running tasks finish first
#   ./celery_worker.sh restart [NAME...]
#   ./celery_worker.sh status              exit code 0 only when everything runs
#   ./celery_worker.sh logs [NAME]         the last lines of each log, or follow one
#
# Pid files live in var/run, logs in var/log (var/ is VAR_DIR in the settings). Redis comes from
# REDIS_URL; a local URL that does not answer gets an embedded redis-server in var/redis.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
VAR=$("$PY" -c "from app.settings import get_settings; print(get_settings().var_dir)")
RUN_DIR=$VAR/run
LOG_DIR=$VAR/log
STOP_TIMEOUT=${STOP_TIMEOUT:-60}
ALL="email files ai reports ocr maintenance beat flower metrics"
mkdir -p "$RUN_DIR" "$LOG_DIR"

service() { case "$1" in beat|flower|metrics) echo "$1" ;; *) echo "worker-$1" ;; esac; }
pid_file() { echo "$RUN_DIR/$(service "$1").pid"; }
log_file() { echo "$LOG_DIR/$(service "$1").log"; }

known() {
  for name in $ALL; do [ "$name" = "$1" ] && return 0; done
  echo "Unknown process '$1'. Choose from: $ALL" >&2
  exit 2
}

# A pid counts only while that process is alive and is still one of ours.
running_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null && grep -qaE "celery|app\.metrics" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  rm -f "$file"
  return 1
}

command_for() {
  case "$1" in
    beat|flower|metrics) "$PY" -m app.runtime.processes "$1" ;;
    *) "$PY" -m app.runtime.processes worker "$1" ;;
  esac
}

flower_env() {
  local file="$RUN_DIR/flower.password"
  if "$PY" -c "from app.runtime.processes import configured_flower_password as p; raise SystemExit(p() is None)"; then
    "$PY" -c "from app.runtime.processes import flower_auth; print(flower_auth()['FLOWER_BASIC_AUTH'])"
    return
  fi
  if [ ! -s "$file" ]; then
    (umask 077; "$PY" -c "import secrets; print(secrets.token_urlsafe(12))" > "$file")
    echo "Flower password (generated, saved in $file): $(cat "$file")" >&2
  fi
  local user
  user=$("$PY" -c "from app.settings import get_settings; print(get_settings().flower_user)")
  echo "$user:$(cat "$file")"
}

start_one() {
  local name=$1 pid cmd
  if pid=$(running_pid "$name"); then
    echo "$name: already running (pid $pid)"
    return
  fi
  cmd=$(command_for "$name")
  if [ "$name" = flower ]; then
    FLOWER_BASIC_AUTH=$(flower_env) nohup setsid bash -c "exec $cmd" >>"$(log_file "$name")" 2>&1 &
  else
    nohup setsid bash -c "exec $cmd" >>"$(log_file "$name")" 2>&1 &
  fi
  echo $! >"$(pid_file "$name")"
  sleep 1
  if pid=$(running_pid "$name"); then
    echo "$name: started (pid $pid), log $(log_file "$name")"
  else
    echo "$name: failed to start; last lines of $(log_file "$name"):" >&2
    tail -n 20 "$(log_file "$name")" >&2
    return 1
  fi
}

stop_one() {
  local name=$1 pid waited=0
  if ! pid=$(running_pid "$name"); then
    echo "$name: not running"
    return
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$STOP_TIMEOUT" ]; then
      echo "$name: still busy after ${STOP_TIMEOUT}s, killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$(pid_file "$name")"
  echo "$name: stopped"
}

status() {
  local failed=0 pid
  for name in $ALL; do
    if pid=$(running_pid "$name"); then
      printf '%-12s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-12s stopped\n' "$name"
      failed=1
    fi
  done
  return $failed
}

names() { if [ $# -eq 0 ]; then echo $ALL; else for n in "$@"; do known "$n"; done; echo "$@"; fi; }

action=${1:-status}
shift || true
case "$action" in
  start)
    "$PY" -m app.runtime.redis_server
    for name in $(names "$@"); do start_one "$name"; done
    ;;
  stop)
    for name in $(names "$@"); do stop_one "$name"; done
    ;;
  restart)
    for name in $(names "$@"); do stop_one "$name"; done
    for name in $(names "$@"); do start_one "$name"; done
    ;;
  status)
    status
    ;;
  logs)
    if [ $# -eq 1 ]; then
      known "$1"
      tail -n 100 -f "$(log_file "$1")"
    else
      for name in $ALL; do
        [ -f "$(log_file "$name")" ] || continue
        echo "== $name =="
        tail -n 20 "$(log_file "$name")"
      done
    fi
    ;;
  *)
    echo "usage: $0 start|stop|restart|status|logs [NAME...]" >&2
    exit 2
    ;;
esac
