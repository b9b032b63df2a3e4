#!/usr/bin/env bash
# e2e: four `topicswarm join --json` processes on 127.0.0.1 form one topic
# (2 and up join through 1; 3 and 4 also through 2). Every process broadcasts
# three lines and must receive every line of the other three exactly once;
# a "/n " line reaches direct neighbours only; an oversized line is refused
# without stopping the process; SIGINT/SIGTERM exit 0 and the neighbours of a
# stopped process see it go; bad arguments fail fast with a clear message.
set -uo pipefail
bin=${1:?usage: join_cli_test.sh PATH_TO_TOPICSWARM}
name=join_cli
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# wait_count FILE FIXED N SECONDS: until at least N lines of FILE contain FIXED
# (after filtering to "received" events).
wait_received() {
  local deadline=$((SECONDS + $4))
  while ((SECONDS < deadline)); do
    (($(grep '"event":"received"' "$1" | grep -cF "$2") >= $3)) && return 0
    sleep 0.1
  done
  return 1
}

# json_field FILE EVENT FIELD: FIELD of the first EVENT line of FILE.
json_field() { grep -m1 "\"event\":\"$2\"" "$1" | grep -oE "\"$3\":\"[^\"]+\"" | head -1 | cut -d'"' -f4; }

# start_join N ARGS...: process N, its stdin a FIFO we hold open on fd ${in[N]}.
declare -a in pid addr id
start_join() {
  local n=$1 fd
  shift
  mkfifo "$tmp/in$n"
  exec {fd}<>"$tmp/in$n"  # read-write: never blocks, and the FIFO never reports EOF while we hold it
  (
    # The child must not hold other processes' FIFOs (nor its own write end).
    for f in "${in[@]}" "$fd"; do eval "exec $f>&-"; done
    exec "$bin" join --json --listen 127.0.0.1:0 --topic e2e-chat "$@" <"$tmp/in$n" >"$tmp/out$n" 2>"$tmp/err$n"
  ) &
  in[n]=$fd
  pid[n]=$!
  pids+=("$!")
  wait_for "$tmp/out$n" '"event":"ready"' 15 || fail "process $n printed no ready line"
  addr[n]=$(json_field "$tmp/out$n" ready address)
  id[n]=$(json_field "$tmp/out$n" ready node_id)
  [[ ${addr[n]} =~ ^[0-9a-f]{64}@127\.0\.0\.1:[0-9]+$ ]] || fail "process $n address '${addr[n]}' is not NODEID@127.0.0.1:PORT"
  [[ ${addr[n]} == "${id[n]}@"* ]] || fail "process $n address does not start with its node id"
}

# --- a swarm of four ---
start_join 1
start_join 2 --peer "${addr[1]}"
start_join 3 --peer "${addr[1]}" --peer "${addr[2]}"
start_join 4 --peer "${addr[1]}" --peer "${addr[2]}"
grep -qE '"ts_ms":[0-9]{13},' "$tmp/out1" || fail "ready line has no integer ts_ms"
ok

for n in 1 2 3 4; do
  wait_for "$tmp/out$n" '"event":"neighbor_up"' 20 || fail "process $n never reported a neighbour"
done
ok

# --- every line to every other process, exactly once ---
for n in 1 2 3 4; do
  for k in 1 2 3; do echo "msg-p$n-$k" >&"${in[n]}"; done
done
for n in 1 2 3 4; do
  wait_received "$tmp/out$n" '"content":"msg-p' 9 20 || fail "process $n did not receive 9 messages"
done
sleep 1  # a duplicate would arrive in this time
for n in 1 2 3 4; do
  (($(grep '"event":"sent"' "$tmp/out$n" | grep -c '"content":"msg-p') == 3)) || fail "process $n did not report 3 sent lines"
  for m in 1 2 3 4; do
    for k in 1 2 3; do expect_once "$tmp/out$n" "$n" "$m" "msg-p$m-$k"; done
  done
done
ok

# --- an oversized line is refused and the process goes on ---
head -c 5000 /dev/zero | tr '\0' x >&"${in[4]}"
echo >&"${in[4]}"
wait_for "$tmp/out4" '"event":"error"' 10 || fail "process 4 reported no error for a 5000-byte line"
grep '"event":"error"' "$tmp/out4" | grep -q 'exceeds the maximum' || fail "the error line does not say the line was too large"
ok

# --- "/n " reaches direct neighbours only ---
echo "/n hello-neighbours" >&"${in[4]}"
wait_for "$tmp/out4" '"event":"sent".*"scope":"neighbors".*hello-neighbours|"event":"sent".*hello-neighbours.*"scope":"neighbors"' 10 ||
  fail "process 4 did not report sending the neighbours-only line"
deadline=$((SECONDS + 10))
until grep -l '"content":"hello-neighbours"' "$tmp"/out{1,2,3} 2>/dev/null | grep -q .; do
  ((SECONDS < deadline)) || fail "no process received the neighbours-only line"
  sleep 0.1
done
sleep 1
for n in 1 2 3; do
  while IFS= read -r line; do
    [[ $line == *'"scope":"neighbors"'* ]] || fail "process $n got the neighbours-only line with another scope: $line"
    [[ $line == *"\"from\":\"${id[4]}\""* ]] || fail "process $n got the neighbours-only line from someone else: $line"
  done < <(grep '"event":"received"' "$tmp/out$n" | grep -F '"content":"hello-neighbours"')
  (($(received "$tmp/out$n" hello-neighbours) <= 1)) || fail "process $n got the neighbours-only line twice"
done
ok

# --- bad arguments fail fast and clearly ---
for args in "--peer not-a-peer" "--peer ${id[1]}@127.0.0.1" "--listen nowhere" "--listen ${addr[1]#*@}"; do
  # shellcheck disable=SC2086
  timeout 20 "$bin" join --topic e2e-chat $args </dev/null >"$tmp/bad.out" 2>"$tmp/bad.err"
  rc=$?
  ((rc != 0 && rc != 124)) || fail "join $args exited $rc"
  [[ -s $tmp/bad.err ]] || fail "join $args printed no error"
  (($(wc -l <"$tmp/bad.err") == 1)) || fail "join $args printed more than one error line"
done
ok

# --- --exit-on-eof: stdin closes, the process exits 0 on its own ---
printf 'only-line\n' | timeout 20 "$bin" join --json --listen 127.0.0.1:0 --topic e2e-solo --exit-on-eof \
  >"$tmp/eof.out" 2>"$tmp/eof.err"
rc=$?
((rc == 0)) || fail "join --exit-on-eof exited $rc"
grep -q '"event":"stopped"' "$tmp/eof.out" || fail "join --exit-on-eof printed no stopped line"
ok

# --- SIGINT / SIGTERM: exit 0; neighbours see the stopped process go ---
kill -INT "${pid[1]}"
wait_exit "${pid[1]}" 15
rc=$?
((rc == 0)) || fail "process 1 exited $rc on SIGINT"
for n in 2 3 4; do
  # Only processes that still count process 1 as a neighbour must see it go.
  up=$(grep -c "\"event\":\"neighbor_up\".*\"peer\":\"${id[1]}\"" "$tmp/out$n")
  down=$(grep -c "\"event\":\"neighbor_down\".*\"peer\":\"${id[1]}\"" "$tmp/out$n")
  ((up > down)) || continue
  deadline=$((SECONDS + 10))
  until (($(grep -c "\"event\":\"neighbor_down\".*\"peer\":\"${id[1]}\"" "$tmp/out$n") > down)); do
    ((SECONDS < deadline)) || fail "process $n never saw its neighbour 1 go down"
    sleep 0.1
  done
done
ok
for n in 2 3 4; do
  kill -TERM "${pid[n]}"
  wait_exit "${pid[n]}" 15
  rc=$?
  ((rc == 0)) || fail "process $n exited $rc on SIGTERM"
  grep -q '"event":"stopped"' "$tmp/out$n" || fail "process $n printed no stopped line"
done
ok

echo "join_cli: $passed passed, 0 failed"
