#!/usr/bin/env bash
# Installs the peer stream processors the benchmarks compare with (Quix Streams and Faust, both
# Python) into their own virtualenv, so their pinned client libraries never meet the test
# suite's confluent-kafka. Prints the virtualenv's path. Safe to run repeatedly.
#
#   PEERS_VENV=DIR scripts/install-peers.sh   # default: ~/.cache/kstreams-bench-peers
set -euo pipefail

VENV="${PEERS_VENV:-$HOME/.cache/kstreams-bench-peers}"
if ! "$VENV/bin/python" -c 'import quixstreams, faust' 2>/dev/null; then
    echo "== installing Quix Streams and Faust into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q quixstreams==3.28.1 faust-streaming==0.15.3 >&2
fi
echo "$VENV"
