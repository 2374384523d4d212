"""The bench workloads w1 and w2 on Quix Streams, for comparison with kstreams on the same broker.

    python quix_app.py --bootstrap HOST:PORT --input TOPIC --output TOPIC --application-id ID
        --workload w1|w2 [--guarantee at-least-once|exactly-once] [--state-dir DIR]

w1: keep amount >= 50 and write {"user","page" upper-cased,"amount"} with the same key.
w2: the running count per user (decimal string) for every record, from Quix's RocksDB state
(with its changelog topic). Runs until SIGTERM.
"""

import argparse
import sys

from quixstreams import Application


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--application-id", required=True)
    p.add_argument("--workload", choices=["w1", "w2"], required=True)
    p.add_argument("--guarantee", choices=["at-least-once", "exactly-once"], default="at-least-once")
    p.add_argument("--state-dir", default="state")
    # Accepted for a common command line; Quix reads the topics' partition counts.
    p.add_argument("--partitions", type=int, default=2)
    a = p.parse_args()

    app = Application(
        broker_address=a.bootstrap,
        consumer_group=a.application_id,
        auto_offset_reset="earliest",
        processing_guarantee=a.guarantee,
        state_dir=a.state_dir,
        # Exactly-once commits (and so shows output) every 100 ms, as Kafka Streams' and the
        # engine's exactly-once default; Quix's own default is 5 s.
        commit_interval=0.1 if a.guarantee == "exactly-once" else 5.0,
        # As the kstreams bench: Kafka Streams' 100 ms linger, and tansu holds an empty fetch
        # for the whole wait, so the same 5 ms wait.
        producer_extra_config={"linger.ms": 100},
        consumer_extra_config={"fetch.wait.max.ms": 5},
    )
    if a.workload == "w1":
        source = app.topic(a.input, key_deserializer="str", value_deserializer="json")
        sink = app.topic(a.output, key_serializer="str", value_serializer="json")
        sdf = app.dataframe(source)
        sdf = sdf.filter(lambda v: v.get("amount", 0) >= 50)
        sdf = sdf.apply(
            lambda v: {"user": v["user"], "page": v["page"].upper(), "amount": v["amount"]}
        )
    else:
        source = app.topic(a.input, key_deserializer="str", value_deserializer="bytes")
        sink = app.topic(a.output, key_serializer="str", value_serializer="str")
        sdf = app.dataframe(source)

        def count(_value, state):
            n = state.get("n", 0) + 1
            state.set("n", n)
            return str(n)

        sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(sink)
    print("quix app starting", file=sys.stderr, flush=True)
    app.run()


if __name__ == "__main__":
    main()
