"""Reads a Brook dead-letter topic with Python's confluent_kafka, as a Spring or Python service
would, and decodes its kafka_dlt-* headers with Spring's encodings, for Brook's interop test
(tests/interop/dlt_python.c).

    /usr/bin/python3 py_dlt_headers.py BOOTSTRAP TOPIC COUNT

Prints one line per record:
    value|partition|original-topic|original-partition|original-offset|original-timestamp|
    timestamp-type|consumer-group|exception-fqcn|exception-message
(one line, '|'-separated). Spring's encodings (DeadLetterRecordManager): partition a 4-byte
big-endian int, offset and timestamp 8-byte big-endian longs, the rest UTF-8 text. Exits 1
when a header is missing or has the wrong size, or fewer than COUNT records arrive in 30 s."""
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer

TEXT = ("kafka_dlt-original-topic", "kafka_dlt-original-timestamp-type",
        "kafka_dlt-original-consumer-group", "kafka_dlt-exception-fqcn",
        "kafka_dlt-exception-message")
SIZES = {"kafka_dlt-original-partition": 4, "kafka_dlt-original-offset": 8,
         "kafka_dlt-original-timestamp": 8}


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "py-dlt-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    lines, problems = [], []
    deadline = time.monotonic() + 30
    while len(lines) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            problems.append(str(msg.error()))
            continue
        headers = {}
        for name, value in msg.headers() or []:
            headers.setdefault(name, value)  # the first of a name
        missing = [n for n in TEXT + tuple(SIZES) if n not in headers]
        wrong = [n for n, size in SIZES.items() if n in headers and len(headers[n]) != size]
        if missing or wrong:
            problems.append("%r: missing %s, wrong size %s" % (msg.value(), missing, wrong))
            continue
        (partition,) = struct.unpack(">i", headers["kafka_dlt-original-partition"])
        (offset,) = struct.unpack(">q", headers["kafka_dlt-original-offset"])
        (timestamp,) = struct.unpack(">q", headers["kafka_dlt-original-timestamp"])
        text = [headers[n].decode("utf-8") for n in TEXT]
        lines.append("|".join([msg.value().decode("utf-8"), str(msg.partition()), text[0],
                               str(partition), str(offset), str(timestamp), text[1], text[2],
                               text[3], text[4]]))
    consumer.close()
    for line in lines:
        print(line)
    for p in problems:
        print("problem: " + p, file=sys.stderr)
    if len(lines) < count:
        print("only %d of %d records in 30 s" % (len(lines), count), file=sys.stderr)
    sys.stdout.flush()
    return 1 if problems or len(lines) < count else 0


if __name__ == "__main__":
    sys.exit(main())
