#!/usr/bin/env bash
# Embedded-path smoke test: what a new developer gets from `make run` on a fresh clone.
#
# With TESSERA_DATABASE_URL / TESSERA_REDIS_URL unset and a brand-new TESSERA_DATA_DIR it
# starts `make run` (embedded PostgreSQL + Redis, migrations, demo tenants, web + worker),
# waits until /healthz answers and every demo tenant's home page names its clinic, then
# stops the web server and worker with SIGTERM, checks they are gone, and stops the
# embedded servers with `make stop`. Any failure exits non-zero (and shows the log).
#
#   scripts/smoke-embedded.sh            # port 8765, 240 s to become ready
#   SMOKE_PORT=8799 SMOKE_TIMEOUT=600 SMOKE_KEEP=1 scripts/smoke-embedded.sh
set -euo pipefail

cd "$(dirname "$0")/.."

PORT=${SMOKE_PORT:-8765}
TIMEOUT=${SMOKE_TIMEOUT:-240}
STOP_TIMEOUT=40
# slug|text its home page must contain
TENANTS=("riverside|Riverside Physical Therapy" "northside|Northside Counseling" "harbor|Harbor Family Clinic")

say() { printf '[smoke] %s\n' "$*"; }
fail() {
	say "FAILED: $*"
	exit 1
}

unset TESSERA_DATABASE_URL TESSERA_REDIS_URL TESSERA_APP_DATABASE_URL TESSERA_EMBEDDED
# A fresh data folder that the `pgserver` system user (used when running as root) can reach.
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessera-smoke.XXXXXX")
chmod 755 "$DATA_DIR"
export TESSERA_DATA_DIR="$DATA_DIR/data"
export TESSERA_PORT="$PORT"
LOG="$DATA_DIR/make-run.log"
RUN_PID=""

child_pids() { # the web and worker pids that `tessera dev run` printed
	sed -n 's/.*started web (pid \([0-9]*\)) and worker (pid \([0-9]*\)).*/\1 \2/p' "$LOG" 2>/dev/null | tail -1
}

cleanup() {
	local rc=$?
	set +e
	if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
		say "cleanup: stopping make run (process group $RUN_PID)"
		kill -TERM -- "-$RUN_PID" 2>/dev/null
		for _ in $(seq 1 $((STOP_TIMEOUT * 2))); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.5; done
		kill -KILL -- "-$RUN_PID" 2>/dev/null
	fi
	for pid in $(child_pids); do
		if kill -0 "$pid" 2>/dev/null; then
			say "cleanup: killing leftover process $pid"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
		fi
	done
	if [ -d "$TESSERA_DATA_DIR" ]; then
		make --no-print-directory stop >/dev/null 2>&1
	fi
	if [ "$rc" -ne 0 ] && [ -f "$LOG" ]; then
		say "---- last 80 lines of the make run log ----"
		tail -n 80 "$LOG"
		for f in "$TESSERA_DATA_DIR/postgres/log" "$TESSERA_DATA_DIR/redis/redis.log"; do
			[ -f "$f" ] && { say "---- tail of $f ----"; tail -n 20 "$f"; }
		done
	fi
	if [ -z "${SMOKE_KEEP:-}" ]; then rm -rf "$DATA_DIR"; else say "kept $DATA_DIR"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fetch() { # fetch URL [HOST] -> body on stdout; non-zero unless 200
	local url=$1 host=${2:-}
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 5 ${host:+-H "Host: $host"} "$url"
	else
		.venv/bin/python - "$url" "$host" <<-'EOF'
			import sys, urllib.request
			req = urllib.request.Request(sys.argv[1], headers={"Host": sys.argv[2]} if sys.argv[2] else {})
			with urllib.request.urlopen(req, timeout=5) as resp:
			    sys.stdout.write(resp.read().decode())
		EOF
	fi
}

say "data folder $TESSERA_DATA_DIR, port $PORT, $TIMEOUT s to become ready"
say "starting: make run (log: $LOG)"
# Its own process group (setsid does not fork here: a background job of a script is not a
# group leader), so the whole tree can be signalled at once.
setsid make --no-print-directory run </dev/null >"$LOG" 2>&1 &
RUN_PID=$!

started=$(date +%s)
ready=""
while :; do
	elapsed=$(($(date +%s) - started))
	kill -0 "$RUN_PID" 2>/dev/null || fail "make run exited early (after ${elapsed} s)"
	[ "$elapsed" -le "$TIMEOUT" ] || fail "not ready within $TIMEOUT s"
	if fetch "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
		ok=1
		for entry in "${TENANTS[@]}"; do
			slug=${entry%%|*} text=${entry#*|}
			# the home page needs a sign-in; the sign-in page names the clinic
			body=$(fetch "http://127.0.0.1:$PORT/login" "$slug.localhost:$PORT" 2>/dev/null) || { ok=""; break; }
			grep -qF "$text" <<<"$body" || { ok=""; break; }
		done
		if [ -n "$ok" ]; then
			ready=$elapsed
			break
		fi
	fi
	sleep 1
done
say "ready after ${ready} s: /healthz answers; riverside, northside and harbor serve their sign-in pages"
fetch "http://127.0.0.1:$PORT/login" "localhost:$PORT" >/dev/null || fail "the platform sign-in page did not answer 200"
say "platform sign-in page answers at http://localhost:$PORT/login"
if fetch "http://127.0.0.1:$PORT/login" "nosuchclinic.localhost:$PORT" >/dev/null 2>&1; then
	fail "an unknown tenant's host answered 200"
fi
say "an unknown tenant's host answers 404"

read -r web_pid worker_pid <<<"$(child_pids)" || true
[ -n "${web_pid:-}" ] && [ -n "${worker_pid:-}" ] || fail "make run did not report its web and worker processes"

say "stopping make run with SIGTERM"
kill -TERM -- "-$RUN_PID"
for _ in $(seq 1 $((STOP_TIMEOUT * 2))); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.5; done
kill -0 "$RUN_PID" 2>/dev/null && fail "make run did not stop within $STOP_TIMEOUT s"
wait "$RUN_PID" 2>/dev/null || true
RUN_PID=""
for pid in "$web_pid" "$worker_pid"; do
	kill -0 "$pid" 2>/dev/null && fail "process $pid outlived make run"
done
grep -q '\[tessera dev\] stopped' "$LOG" || fail "tessera dev run did not report a clean stop"
say "web and worker stopped cleanly"

say "stopping the embedded servers: make stop"
out=$(make --no-print-directory stop)
echo "$out"
grep -q postgres <<<"$out" && grep -q redis <<<"$out" || fail "make stop did not stop both PostgreSQL and Redis"
for _ in $(seq 1 20); do [ -e "$TESSERA_DATA_DIR/postgres/postmaster.pid" ] || break; sleep 0.5; done
[ -e "$TESSERA_DATA_DIR/postgres/postmaster.pid" ] && fail "PostgreSQL still running after make stop"
say "OK: embedded smoke test passed in $(($(date +%s) - started)) s"
