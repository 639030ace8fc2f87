"""Produces keyed records with headers through Python's confluent_kafka, as a Python service
would, for Brook's interop test (tests/interop/python.c).

    /usr/bin/python3 py_produce_headers.py BOOTSTRAP TOPIC COUNT

Record i: key "py-key-<i>", value "py-value-<i>", the headers of headers_for(i). Prints one
line "key|partition" per delivered record; exits 1 if any delivery failed."""
import sys

from confluent_kafka import Producer


def headers_for(i):
    # Text, binary with NUL and high bytes, empty, null, a repeated name, a non-ASCII name.
    return [
        ("trace-id", "trace-%d" % i),
        ("bin", bytes([0, 1, 0xFF, 0x80, i % 256])),
        ("empty", b""),
        ("null", None),
        ("dup", b"first"),
        ("dup", b"second"),
        ("na\u00efve", "v\u00e4rde-%d" % i),
    ]


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    producer = Producer({
        "bootstrap.servers": bootstrap,
        # The Java client's partitioning for keyed records.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "enable.idempotence": True,
    })
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append("%s: %s" % (msg.key(), err))
        else:
            print("%s|%d" % (msg.key().decode("utf-8"), msg.partition()))

    for i in range(count):
        producer.produce(topic, key="py-key-%d" % i, value="py-value-%d" % i,
                         headers=headers_for(i), on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(30)
    if left:
        failures.append("%d records not delivered after 30 s" % left)
    for f in failures:
        print("delivery failed: " + f, file=sys.stderr)
    sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
