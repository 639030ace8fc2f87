"""Reads a Brook dead-letter topic with Python's confluent_kafka, as a Spring or Python service
would, and decodes its failure headers with Spring's encodings, for Brook's interop test
(tests/interop/dlt_python.c). A dead letter of a listener with retry topics names them as
Spring's retry topics do (kafka_original-*, kafka_exception-*), a plain one kafka_dlt-*.

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


def names(retry_topics):
    """The text headers and the sized ones, by Spring's naming for that kind of forward."""
    og, ex = ("kafka_original", "kafka_exception") if retry_topics else (
        "kafka_dlt-original", "kafka_dlt-exception")
    text = (og + "-topic", og + "-timestamp-type", "kafka_dlt-original-consumer-group",
            ex + "-fqcn", ex + "-message")
    sizes = {og + "-partition": 4, og + "-offset": 8, og + "-timestamp": 8}
    return text, sizes


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
            headers[name] = value  # the last of a name, as Java's Headers.lastHeader()
        TEXT, SIZES = names("kafka_original-topic" in headers)
        og = list(SIZES)
        missing = [n for n in TEXT + tuple(SIZES) if n not in headers]
        wrong = [n for n, size in SIZES.items() if n in headers and len(headers[n]) != size]
        if missing or wrong:
            problems.append("%r: missing %s, wrong size %s" % (msg.value(), missing, wrong))
            continue
        (partition,) = struct.unpack(">i", headers[og[0]])
        (offset,) = struct.unpack(">q", headers[og[1]])
        (timestamp,) = struct.unpack(">q", headers[og[2]])
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
