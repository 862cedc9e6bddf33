#!/usr/bin/env bash
# scripts/bench.sh — the figures of docs/performance.md, measured side by side
# in one run on the same generated files (`make bench` calls this).
#
# Every measured process is pinned to one core (taskset -c $BENCH_CPU) and run
# under /usr/bin/time, start-up and final commit included. Each row reports
# wall-clock events/s and events per CPU-second (user+sys): on a machine shared
# with other work the second is the robust per-core figure.
#
# Environment (defaults in brackets):
#   OUT               output directory [out]; data goes to $OUT/bench (kept
#                     between runs: files are regenerated only when missing)
#   BENCH_EVENTS      events of the main workload [5000000]
#   BENCH_KEYS        distinct (instance, db, template, minute) keys [2000000]
#   BENCH_PARTITIONS  partitions of the kfake topic [4]
#   BENCH_CPU         core the measured process is pinned to [0]; helpers
#                     (generator, kfake broker) run on BENCH_HELPER_CPU [1]
#   BENCH_BIG         1: the 20 M-key RSS run (a 10.7 GB file, a few minutes;
#                     not for CI), 0: skip it [1]
#   BENCH_BIG_EVENTS, BENCH_BIG_KEYS, BENCH_BIG_INSTANCES, BENCH_BIG_DBS
#                     shape of that run [25000000, 20000000, 40, 10]
#   BENCH_PROFILE     1: also a CPU profile of the JSON-lines sqlagg run, to
#                     $OUT/bench/sqlagg-jsonl.prof [0]
#   BENCH_ONLY        space-separated subset of: fingerprint baseline jsonl
#                     arrow kafka big micro [all]
#   BENCH_MICRO       1: finish with the packages' Go micro-benchmarks [0]
set -euo pipefail

GO=${GO:-go}
OUT=${OUT:-out}
EVENTS=${BENCH_EVENTS:-5000000}
KEYS=${BENCH_KEYS:-2000000}
PARTS=${BENCH_PARTITIONS:-4}
CPU=${BENCH_CPU:-0}
HELPER=${BENCH_HELPER_CPU:-1}
BIG=${BENCH_BIG:-1}
BIG_EVENTS=${BENCH_BIG_EVENTS:-25000000}
BIG_KEYS=${BENCH_BIG_KEYS:-20000000}
BIG_INSTANCES=${BENCH_BIG_INSTANCES:-40}
BIG_DBS=${BENCH_BIG_DBS:-10}
PROFILE=${BENCH_PROFILE:-0}
MICRO=${BENCH_MICRO:-0}
ONLY=${BENCH_ONLY:-fingerprint baseline jsonl arrow kafka big micro}

D=$OUT/bench
BIN=$D/bin
RESULTS=$D/results.md
mkdir -p "$BIN"

want() { [[ " $ONLY " == *" $1 "* ]]; }
log() { echo "bench: $*" >&2; }

# --- build (not pinned: compiling is not what we measure) -------------------
log "building das, baseline, kfakeload"
CGO_ENABLED=0 $GO build -o "$BIN/das" ./cmd/das
CGO_ENABLED=0 $GO build -o "$BIN/baseline" ./internal/baseline/cmd/baseline
CGO_ENABLED=0 $GO build -o "$BIN/kfakeload" ./internal/baseline/cmd/kfakeload

# --- data ---------------------------------------------------------------------
# The issue's workload: 500 templates, mean statement ≈ 241 bytes, 2 M keys per
# 5 M events. --keys makes das gen choose the rate (events per second of event
# time) that gives that many distinct keys over its default 4 instances x 3 dbs.
GEN_FLAGS=(--events "$EVENTS" --templates 500 --mean-sql 241 --keys "$KEYS" --seed 1)
NAME=w$EVENTS-k$KEYS
gen() { # gen FILE FORMAT FLAGS…
	local file=$1 format=$2
	shift 2
	if [[ ! -s $file ]]; then
		log "generating $file"
		taskset -c "$HELPER" "$BIN/das" gen --format "$format" "$@" --output "$file" 2>"$file.gen.log"
	fi
}
gen "$D/$NAME.jsonl" jsonl "${GEN_FLAGS[@]}"
if want arrow; then gen "$D/$NAME.arrow" arrow "${GEN_FLAGS[@]}"; fi
# Read the inputs once so that no measured run pays for the page cache
# (the first reader of a cold 2 GB file spends seconds in the kernel).
warm() { taskset -c "$HELPER" cat "$@" >/dev/null; }
warm "$D/$NAME.jsonl"
if want arrow; then warm "$D/$NAME.arrow"; fi

# --- measuring ----------------------------------------------------------------
ROWS=()
LOGS=()
# measure LABEL EVENTS CMD…: runs CMD pinned under /usr/bin/time, keeps its
# output in $D/LABEL.log and adds a row to the results table.
measure() {
	local label=$1 events=$2
	shift 2
	local slug=${label//[^A-Za-z0-9]/-}
	LOGS+=("$D/$slug.log")
	log "running: $label"
	/usr/bin/time -f "%e %U %S %M" -o "$D/$slug.time" taskset -c "$CPU" "$@" >"$D/$slug.log" 2>&1 || {
		log "FAILED: $label (see $D/$slug.log)"
		tail -5 "$D/$slug.log" >&2
		ROWS+=("| $label | failed | | | | | |")
		return 0
	}
	local wall user sys rss
	read -r wall user sys rss <"$D/$slug.time"
	ROWS+=("$(awk -v l="$label" -v n="$events" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
		c = u + s
		printf "| %s | %d | %.2f s | %.2f s | %.0f k | **%.0f k** | %.0f MiB |", l, n, w, c, n / w / 1000, (c > 0 ? n / c / 1000 : 0), r / 1024
	}')")
}
records_of() { # the "records read" line of a das run log
	awk '/^records read/ {print $3}' "$1"
}

# --- 1. fingerprinting alone: das vs parser.NormalizeDigest --------------------
FP_OUT=""
if want fingerprint; then
	log "fingerprint benchmark (das vs parser.NormalizeDigest)"
	$GO test -c -o "$BIN/fingerprint.test" ./operators/fingerprint/
	taskset -c "$CPU" "$BIN/fingerprint.test" -test.run '^$' -test.bench '^BenchmarkFingerprint$' \
		-test.benchtime 2s -test.cpu 1 >"$D/fingerprint.log" 2>&1
	FP_OUT=$(awk '/^BenchmarkFingerprint\// {
		name = $1; sub(/^BenchmarkFingerprint\//, "", name)
		ws = ""; cs = ""; ns = ""; bs = ""
		for (i = 2; i < NF; i++) {
			if ($(i+1) == "stmts/s") ws = $i
			if ($(i+1) == "stmts/cpu-s") cs = $i
			if ($(i+1) == "ns/op") ns = $i
			if ($(i+1) == "bytes/stmt") bs = $i
		}
		who = (name ~ /^tidb_/) ? "parser.NormalizeDigest" : "das fingerprint"
		sub(/^tidb_/, "", name)
		printf "| %s | %s | %.0f | %s | %.2f M | **%.2f M** |\n", name, who, bs, ns, ws / 1e6, cs / 1e6
	}' "$D/fingerprint.log")
fi

# --- 2. the plain Go loop (internal/baseline) ---------------------------------
if want baseline; then
	measure "baseline: decode only" "$EVENTS" "$BIN/baseline" -mode decode -input "$D/$NAME.jsonl"
	measure "baseline: decode + map, no fingerprint" "$EVENTS" "$BIN/baseline" -mode map -input "$D/$NAME.jsonl"
	measure "baseline: decode + NormalizeDigest + map" "$EVENTS" "$BIN/baseline" -mode digest -input "$D/$NAME.jsonl"
fi

# --- 3. das run sqlagg ----------------------------------------------------------
dasrun() { # dasrun LABEL EVENTS SLUG INPUT [FLAGS…]
	local label=$1 events=$2 slug=$3 input=$4
	shift 4
	rm -rf "$D/state-$slug" "$D/pq-$slug"
	measure "$label" "$events" "$BIN/das" run sqlagg --input "$input" --state "$D/state-$slug" --parquet "$D/pq-$slug" "$@"
}
if want jsonl; then
	dasrun "das run sqlagg: JSON lines" "$EVENTS" jsonl "$D/$NAME.jsonl"
fi
if want arrow; then
	dasrun "das run sqlagg: Arrow IPC" "$EVENTS" arrow "arrow:$D/$NAME.arrow"
fi

KFAKE_PID=""
stop_kfake() {
	if [[ -n $KFAKE_PID ]]; then
		exec 3>&- || true
		kill "$KFAKE_PID" 2>/dev/null || true
		wait "$KFAKE_PID" 2>/dev/null || true
		KFAKE_PID=""
	fi
}
trap stop_kfake EXIT
if want kafka; then
	log "loading $EVENTS records into a kfake topic with $PARTS partitions (on core $HELPER)"
	rm -f "$D/kfake.stdin"
	mkfifo "$D/kfake.stdin"
	taskset -c "$HELPER" "$BIN/kfakeload" -input "$D/$NAME.jsonl" -topic das.sql-events -partitions "$PARTS" \
		<"$D/kfake.stdin" >"$D/kfakeload.log" 2>&1 &
	KFAKE_PID=$!
	exec 3>"$D/kfake.stdin" # kfakeload serves until this closes
	for _ in $(seq 1200); do
		grep -q '^kfakeload ready' "$D/kfakeload.log" && break
		kill -0 "$KFAKE_PID" 2>/dev/null || break
		sleep 0.5
	done
	ADDR=$(awk '/^kfakeload ready/ {print $3}' "$D/kfakeload.log")
	if [[ -z $ADDR ]]; then
		log "kfakeload did not become ready:"
		cat "$D/kfakeload.log" >&2
		ROWS+=("| das run sqlagg: kfake, $PARTS partitions | failed | | | | | |")
	else
		log "$(cat "$D/kfakeload.log")"
		dasrun "das run sqlagg: kfake, $PARTS partitions" "$EVENTS" kafka "kafka://$ADDR/das.sql-events" --kafka-stop-at-end
	fi
	stop_kfake
	rm -f "$D/kfake.stdin"
fi

# --- 4. 20 M distinct keys: peak RSS (not for CI) -------------------------------
BIG_NAME=w$BIG_EVENTS-k$BIG_KEYS-i$BIG_INSTANCES-d$BIG_DBS
if [[ $BIG == 1 ]] && want big; then
	gen "$D/$BIG_NAME.jsonl" jsonl --events "$BIG_EVENTS" --templates 500 --mean-sql 241 \
		--instances "$BIG_INSTANCES" --dbs "$BIG_DBS" --keys "$BIG_KEYS" --seed 1
	warm "$D/$BIG_NAME.jsonl"
	dasrun "das run sqlagg: JSON lines, 20 M keys" "$BIG_EVENTS" big "$D/$BIG_NAME.jsonl"
	# (the plain loop is not run here: its map would need several GiB; the
	# issue compares this run with the plain loop at 2 M keys)
fi

# --- 5. CPU profile of the JSON-lines run (extra run, not in the table) --------
if [[ $PROFILE == 1 ]]; then
	log "profiling das run sqlagg on $NAME.jsonl"
	rm -rf "$D/state-prof" "$D/pq-prof"
	DAS_CPUPROFILE="$D/sqlagg-jsonl.prof" taskset -c "$CPU" "$BIN/das" run sqlagg --input "$D/$NAME.jsonl" \
		--state "$D/state-prof" --parquet "$D/pq-prof" >"$D/profile-run.log" 2>&1
	$GO tool pprof -top -nodecount 40 "$BIN/das" "$D/sqlagg-jsonl.prof" >"$D/sqlagg-jsonl.top.txt" 2>/dev/null || true
	$GO tool pprof -top -cum -nodecount 60 "$BIN/das" "$D/sqlagg-jsonl.prof" >"$D/sqlagg-jsonl.cum.txt" 2>/dev/null || true
fi

# --- report --------------------------------------------------------------------
{
	echo "# make bench results"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "workload: das gen ${GEN_FLAGS[*]}"
	[[ -s $D/$NAME.jsonl.gen.log ]] && sed 's/^/    /' "$D/$NAME.jsonl.gen.log"
	if [[ $BIG == 1 ]] && want big; then
		echo "20 M-key workload: das gen --events $BIG_EVENTS --templates 500 --mean-sql 241 --instances $BIG_INSTANCES --dbs $BIG_DBS --keys $BIG_KEYS --seed 1"
		[[ -s $D/$BIG_NAME.jsonl.gen.log ]] && sed 's/^/    /' "$D/$BIG_NAME.jsonl.gen.log"
	fi
	if [[ -n $FP_OUT ]]; then
		echo
		echo "## Fingerprinting alone (one goroutine locked to its thread, pinned to core $CPU)"
		echo
		echo "| statements | fingerprinter | bytes/stmt | ns/stmt | stmts/s (wall) | stmts / CPU-s |"
		echo "|---|---|---|---|---|---|"
		echo "$FP_OUT"
	fi
	if [[ ${#ROWS[@]} -gt 0 ]]; then
		echo
		echo "## Whole processes pinned to core $CPU (start-up and final commit included)"
		echo
		echo "| what | events | wall | CPU (user+sys) | events/s (wall) | events / CPU-s | peak RSS |"
		echo "|---|---|---|---|---|---|---|"
		printf '%s\n' "${ROWS[@]}"
	fi
	echo
	echo "## Output of each run"
	for f in "${LOGS[@]}"; do
		[[ -s $f ]] || continue
		echo
		echo "$(basename "$f" .log):"
		grep -E '^(mode=|records read|rows written|dead-lettered|checkpoints|elapsed)' "$f" | sed 's/^/    /'
	done
} >"$RESULTS"
cat "$RESULTS"
log "results in $RESULTS"

# --- 6. the packages' micro-benchmarks (optional) -------------------------------
if [[ $MICRO == 1 ]] && want micro; then
	$GO test -run '^$' -bench . -benchmem -benchtime 1s -cpu 1 ./internal/sketch/ ./internal/baseline/ ./jobs/sqlagg/ ./operators/... ./sources/... ./sinks/... | tee "$D/micro.txt"
fi
