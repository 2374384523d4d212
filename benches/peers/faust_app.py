"""The bench workloads w1 and w2 on Faust (faust-streaming), for comparison with kstreams on the
same broker.

    python faust_app.py --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
        --workload w1|w2 [--guarantee at-least-once|exactly-once] [--state-dir DIR]

w1: keep amount >= 50 and write {"user","page" upper-cased,"amount"} with the same key.
w2: the running count per user (decimal string) for every record, from a Faust table in
RocksDB (rocksdict) with its changelog topic. Runs until SIGTERM.
"""

import argparse
import json
import sys

import faust


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--application-id", required=True)
    p.add_argument("--workload", choices=["w1", "w2"], required=True)
    p.add_argument("--guarantee", choices=["at-least-once", "exactly-once"], default="at-least-once")
    p.add_argument("--state-dir", default="state")
    p.add_argument("--partitions", type=int, default=2)
    a = p.parse_args()

    app = faust.App(
        a.application_id,
        broker=f"kafka://{a.bootstrap}",
        store="rocksdb://",  # faust uses rocksdict when python-rocksdb is absent
        datadir=a.state_dir,
        processing_guarantee=a.guarantee.replace("-", "_"),
        topic_partitions=a.partitions,
        # As the kstreams bench: Kafka Streams' 100 ms linger.
        producer_linger_ms=100,
        web_enabled=False,
    )
    source = app.topic(a.input, key_serializer="raw", value_serializer="raw")
    sink = app.topic(a.output, key_serializer="raw", value_serializer="raw")

    if a.workload == "w1":

        @app.agent(source)
        async def w1(stream):
            async for key, value in stream.items():
                v = json.loads(value)
                if v.get("amount", 0) >= 50:
                    out = {"user": v["user"], "page": v["page"].upper(), "amount": v["amount"]}
                    await sink.send(key=key, value=json.dumps(out, separators=(",", ":")).encode())

    else:
        counts = app.Table("counts", default=int, partitions=a.partitions)

        @app.agent(source)
        async def w2(stream):
            async for key, _value in stream.items():
                n = counts[key] + 1
                counts[key] = n
                await sink.send(key=key, value=str(n).encode())

    print("faust app starting", file=sys.stderr, flush=True)
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
