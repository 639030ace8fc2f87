#!/usr/bin/python3
"""The fault matrix: a Brook service relaying keyed records on a 3-broker Kafka cluster while
brokers and services fail, checked by a reader that is not Brook (Python confluent_kafka).

    faults.py RELAY_BINARY [--only a,c] [--records N] [--report FILE]

The cluster is the one in $BROOK_TEST_KAFKA (tests/kafka/kafka-cluster start DIR --brokers 3).
Per scenario: a producer sends N records "k<key>:<seq>" (per-key sequence numbers, idempotent,
acks=all) at a steady rate to fm.<s>.in; brook-relay instances (listener -> template) copy them
to fm.<s>.out; the fault is injected mid-stream; a reader consumes fm.<s>.out from the start and
counts records lost, per-key order violations (a record seen for the first time after a later
record of its key was seen) and duplicates (at-least-once allows them), and the longest time
no output arrived after the fault began (time to recover). Exit status 1 if any scenario lost
a record or broke per-key order.

Scenario (g) runs the relays exactly-once: there the read_committed reader must see no
duplicate, and a second, read_uncommitted reader must see some (the aborted transactions).
The input producer resends what it could not deliver (also after librdkafka's fatal
idempotence error, by a new producer), and "lost" counts only records that are in the input
topic and never reached the output: what the service lost. A record acknowledged to the input
producer but absent from the input topic (seen once in CI, with a partition leader SIGKILLed)
was lost before any service could read it; it is reported as inputs_missing and logged.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # python3-confluent-kafka

KEYS = 24
RATE = 1500  # records/s


def log(*a):
    print("faults:", *a, file=sys.stderr, flush=True)


class Cluster:
    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, "bootstrap")) as f:
            self.bootstrap = f.read().strip()

    def ctl(self, action, broker, *extra):
        subprocess.run([os.path.join(self.dir, "ctl"), action, str(broker)] + list(extra),
                       check=True)

    def brokers(self):
        with open(os.path.join(self.dir, "cluster.json")) as f:
            return [b["id"] for b in json.load(f)["brokers"]]

    def wait_healthy(self, timeout=120):
        """Until every broker is in the metadata and every partition has a leader and at least
        two replicas in sync: a scenario starts on a whole cluster, and leaves one behind."""
        deadline = time.time() + timeout
        want = len(self.brokers())
        while True:
            c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "fm-meta",
                          "log_level": 2})
            try:
                md = c.list_topics(timeout=10)
                parts = [p for t in md.topics.values() for p in t.partitions.values()]
                if len(md.brokers) == want and all(
                        p.leader >= 0 and len(p.isrs) >= min(2, want) for p in parts):
                    return
            except KafkaException:
                pass
            finally:
                c.close()
            if time.time() > deadline:
                raise SystemExit("faults: the cluster is not healthy within %d s" % timeout)
            time.sleep(0.5)

    def leader(self, topic, partition):
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "fm-meta", "log_level": 2})
        try:
            md = c.list_topics(topic, timeout=10)
            return md.topics[topic].partitions[partition].leader
        finally:
            c.close()


def java_hash(s):
    h = 0
    for ch in s.encode():
        h = (31 * h + ch) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def coordinator(cluster, group):
    """The broker leading the group's __consumer_offsets partition (Kafka's partitionFor)."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "fm-meta", "log_level": 2})
    try:
        md = c.list_topics("__consumer_offsets", timeout=10)
        n = len(md.topics["__consumer_offsets"].partitions)
    finally:
        c.close()
    return cluster.leader("__consumer_offsets", (java_hash(group) & 0x7FFFFFFF) % n)


class Relays:
    """brook-relay processes of one scenario."""

    def __init__(self, binary, cluster, name, src, dst, group, logdir, eos=False):
        self.args = [binary, src, dst, group] + (["exactly-once"] if eos else [])
        self.name = name
        self.env = dict(os.environ, BROOK_BOOTSTRAP=cluster.bootstrap,
                        BROOK_LOG_LEVEL=os.environ.get("FAULTS_RELAY_LOG_LEVEL", "warn"),
                        BROOK_KAFKA_SESSION_TIMEOUT_MS="6000",
                        BROOK_KAFKA_HEARTBEAT_INTERVAL_MS="500")
        self.env.pop("BROOK_TEST_KAFKA", None)
        if eos:
            # One instance at a time, restarted under the same id: the new one fences the
            # producers the killed one left behind and aborts their open transactions.
            self.env["BROOK_INSTANCE_ID"] = "fm-" + name
        self.procs = []
        self.logdir = logdir
        self.started = 0
        self.killed = 0

    def totals(self):
        """Records handled and producers replaced by the instances that stopped cleanly (from
        their last line)."""
        handled = replaced = 0
        for i in range(1, self.started + 1):
            with open(os.path.join(self.logdir, "%s-relay-%d.log" % (self.name, i))) as f:
                for line in f:
                    if line.startswith("relay: handled "):
                        w = line.split()
                        handled += int(w[2])
                        replaced += int(w[w.index("producer_replacements") + 1])
        return handled, replaced

    def start(self):
        self.started += 1
        out = open(os.path.join(self.logdir, "%s-relay-%d.log" % (self.name, self.started)), "wb")
        p = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def kill(self, p):
        self.killed += 1
        p.kill()
        p.wait()
        self.procs.remove(p)

    def stop(self, p, timeout=60):
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout)
        self.procs.remove(p)
        if rc != 0:
            raise SystemExit("faults: a relay exited %d on SIGTERM" % rc)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)

    def show_logs(self, lines=20):
        for i in range(1, self.started + 1):
            path = os.path.join(self.logdir, "%s-relay-%d.log" % (self.name, i))
            with open(path, errors="replace") as f:
                tail = f.readlines()[-lines:]
            log("%s (last %d lines):\n%s" % (path, len(tail), "".join(tail)))

    def check_alive(self):
        for p in self.procs:
            if p.poll() is not None:
                raise SystemExit("faults: a relay died with status %d" % p.returncode)


class Reader(threading.Thread):
    """Reads the output topic from the start, recording when each record arrived."""

    def __init__(self, cluster, topic, isolation="read_committed"):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": cluster.bootstrap,
                           "group.id": "fm-reader-%s-%s" % (isolation, topic), "log_level": 2,
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "isolation.level": isolation})
        self.topic = topic
        self.records = []  # (arrival time, key, seq)
        self.where = {}    # (key, seq) -> (partition, offset) of its first copy
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.errors = []

    def partitions(self):
        """The topic's partitions once each has a leader (a loaded cluster may take a while)."""
        deadline = time.time() + 120
        while True:
            try:
                t = self.c.list_topics(self.topic, timeout=10).topics.get(self.topic)
                if t and not t.error and t.partitions and \
                        all(p.leader >= 0 for p in t.partitions.values()):
                    return sorted(t.partitions)
            except KafkaException:
                pass
            if time.time() > deadline:
                raise RuntimeError("no leaders for %s within 120 s" % self.topic)
            time.sleep(0.5)

    def run(self):
        try:
            self.c.assign([TopicPartition(self.topic, p, 0) for p in self.partitions()])
            while not self.done.is_set():
                for m in self.c.consume(500, 0.2):
                    if m.error():
                        continue
                    k, s = m.value().decode().split(":")
                    with self.lock:
                        self.records.append((time.time(), k, int(s)))
                        self.where.setdefault((k, int(s)), (m.partition(), m.offset()))
        except Exception as e:  # the scenario fails on it, saying why
            self.errors.append(repr(e))
        self.c.close()

    def check_alive(self):
        if self.errors:
            raise SystemExit("faults: the output reader failed: %s" % self.errors[0])

    def distinct(self):
        with self.lock:
            return len({(k, s) for _, k, s in self.records})


class InputProducer:
    """Sends the scenario's input records, idempotent with acks=all. librdkafka's idempotent
    producer fails for good (a fatal error) when the brokers' sequence numbers and its own part
    ways, as when the whole cluster restarts under load: then a new producer resends, in order,
    every record the failed one had not had acknowledged (duplicates, never gaps)."""

    def __init__(self, cluster, topic):
        self.conf = {"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True,
                     "log_level": 2, "acks": "all", "linger.ms": 5,
                     "partitioner": "murmur2_random", "message.timeout.ms": 300000,
                     "error_cb": self.on_error}
        self.topic = topic
        self.pending = {}  # index -> (key, value), not yet acknowledged
        self.failed = []   # (index, error) of records to send again
        self.resent = 0
        self.fatal = False
        self.replaced = 0
        self.p = Producer(self.conf)

    def on_error(self, err):
        if err.fatal():
            self.fatal = err.str()

    def call(self, fn):
        """fn() on a producer. A fatal error (librdkafka raises it from poll and flush too) is
        noted for replace(); then None."""
        try:
            return fn()
        except KafkaException as e:
            if not e.args[0].fatal():
                raise
            self.fatal = e.args[0].str()
            return None

    def send(self, i, key, value):
        self.pending[i] = (key, value)
        p = self.p

        def dr(err, msg):
            if not err:
                self.pending.pop(i, None)
            elif p is self.p and not self.fatal:
                # Failed for good (a timeout, say): sent again, so that every input is in the
                # topic and "lost" counts only what the service lost.
                self.failed.append((i, err))
            # else: the failed producer's; the record stays pending and is resent
        while not self.fatal:
            try:
                self.call(lambda: p.produce(self.topic, key=key, value=value, on_delivery=dr))
                return
            except BufferError:
                self.call(lambda: p.poll(0.05))
        # pending: the replacement sends it

    def poll(self, timeout):
        self.call(lambda: self.p.poll(timeout))
        if self.fatal:
            self.replace()
        self.resend_failed()

    def resend_failed(self):
        failed, self.failed = self.failed, []
        for i, err in sorted(failed, key=lambda f: f[0]):
            log("input record %d failed (%s): sending it again" % (i, err))
            self.resent += 1
            self.send(i, *self.pending[i])

    def replace(self):
        log("the input producer failed for good (%s); a new one resends %d records"
            % (self.fatal, len(self.pending)))
        old = self.p
        try:
            old.purge()
            old.poll(0)
        except KafkaException:
            pass  # it failed for good; what it held is resent below
        self.replaced += 1
        self.p = Producer(self.conf)
        self.fatal = False
        for i in sorted(self.pending):
            self.send(i, *self.pending[i])

    def flush(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            left = self.call(lambda: self.p.flush(min(5, max(deadline - time.time(), 0))))
            if self.fatal:
                self.replace()
            elif self.failed:
                self.resend_failed()
            elif not left:
                break
        return len(self.pending)


def produce(cluster, topic, n, out, sent):
    p = InputProducer(cluster, topic)
    out.append(p)
    t0 = time.time()
    for i in range(n):
        key = "k%d" % (i % KEYS)
        seq = i // KEYS
        p.send(i, key, "%s:%d" % (key, seq))
        sent[0] = i + 1
        delay = t0 + (i + 1) / RATE - time.time()
        p.poll(max(delay, 0))
    left = p.flush(300)
    if left:
        # Reported by run_scenario (an exception here would end this thread silently).
        log("the input producer could not deliver %d records" % left)


def expected_records(n):
    """The (key, seq) pairs of the n input records."""
    return {("k%d" % (i % KEYS), i // KEYS) for i in range(n)}


def check(reader, n, fault_at, inputs=None):
    """inputs: the (key, seq) pairs a reader found in the input topic; records missing there
    were lost before the service could read them and count in inputs_missing, not in lost."""
    with reader.lock:
        recs = list(reader.records)
    first = {}
    violations = 0
    maxseq = {}
    for _, k, s in recs:
        if (k, s) in first:
            continue
        first[(k, s)] = True
        if s < maxseq.get(k, -1):
            violations += 1
        maxseq[k] = max(maxseq.get(k, -1), s)
    expected = expected_records(n)
    missing = expected - set(first)
    inputs_missing = len(expected - inputs) if inputs is not None else 0
    lost = len(missing & inputs) if inputs is not None else len(missing)
    dups = len(recs) - len(first)
    # Longest time without output after the fault began, while output was still due.
    times = [t for t, _, _ in recs if t >= fault_at]
    gaps = [b - a for a, b in zip([fault_at] + times, times)]
    return {"lost": lost, "inputs_missing": inputs_missing, "order_violations": violations,
            "duplicates": dups,
            "recover_s": round(max(gaps) if gaps else -1, 2), "records": n,
            "output_records": len(recs)}


def run_scenario(name, title, binary, cluster, n, logdir, fault, eos=False):
    # Names unique per run, so a rerun on the same cluster starts from empty topics.
    run = "%s.%x" % (name, int(time.time() * 1000) & 0xFFFFFF)
    src, dst, group = "fm.%s.in" % run, "fm.%s.out" % run, "fm-%s" % run
    cluster.wait_healthy()
    relays = Relays(binary, cluster, run, src, dst, group, logdir, eos)
    first = relays.start()
    # The relay provisions both topics; produce once they exist.
    deadline = time.time() + 60
    while True:
        relays.check_alive()
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "fm-meta", "log_level": 2})
        md = c.list_topics(timeout=10)
        c.close()
        if src in md.topics and dst in md.topics and not md.topics[dst].error:
            break
        if time.time() > deadline:
            raise SystemExit("faults: %s: topics not provisioned within 60 s" % name)
        time.sleep(0.2)
    reader = Reader(cluster, dst)
    reader.start()
    inputs_read = Reader(cluster, src)  # where each input is, should one be lost
    inputs_read.start()
    # Exactly-once: a read_uncommitted reader of the same topic sees what was aborted.
    uncommitted = Reader(cluster, dst, "read_uncommitted") if eos else None
    if uncommitted:
        uncommitted.start()
    sent = [0]
    inputs = []
    prod = threading.Thread(target=produce, args=(cluster, src, n, inputs, sent), daemon=True)
    t_start = time.time()
    prod.start()
    # Mid-stream: a third of the records sent.
    while sent[0] < n // 3:
        relays.check_alive()
        time.sleep(0.05)
    fault_at = time.time()
    log("%s: fault at %d records sent" % (name, sent[0]))
    fault(cluster, relays, first, sent, n, src, group)
    prod.join()
    deadline = time.time() + 180
    while reader.distinct() < n and time.time() < deadline:
        relays.check_alive()
        reader.check_alive()
        time.sleep(0.2)
    # A little longer, so late duplicates are counted too.
    settle = time.time() + 2
    while time.time() < settle:
        time.sleep(0.2)
    reader.done.set()
    reader.join()
    inputs_read.done.set()
    inputs_read.join()
    relays.stop_all()
    r = check(reader, n, fault_at, set(inputs_read.where))
    if r["inputs_missing"]:
        # Acknowledged to the input producer (idempotent, acks=all) yet not in the input topic:
        # lost by the brokers or the producer's client, before any Brook service saw them.
        log("%s: %d input record(s) acknowledged to the input producer are not in %s: %s" % (
            name, r["inputs_missing"], src, ", ".join(
                "%s:%d" % kq for kq in sorted(expected_records(n) - set(inputs_read.where))[:20])))
    if uncommitted:
        uncommitted.done.set()
        uncommitted.join()
        uncommitted.check_alive()
        r["uncommitted_duplicates"] = check(uncommitted, n, fault_at)["duplicates"]
    # Every output record was sent by a handler call, unless a producer wrote one twice: with
    # no instance killed (whose counts die with it), outputs - handler calls is what the
    # producers added.
    handled, replaced = relays.totals()
    r["producer_duplicates"] = r["output_records"] - handled if not relays.killed else None
    # Producers that failed for good and were replaced (see InputProducer): the input's, and
    # the relays' own (Brook replaces its producer; counts of killed instances are lost).
    r["producers_replaced"] = "%d/%d" % (inputs[0].replaced if inputs else 0, replaced)
    r["inputs_resent"] = inputs[0].resent if inputs else 0
    r["inputs_undelivered"] = len(inputs[0].pending) if inputs else n
    r.update(scenario=name, title=title, seconds=round(time.time() - t_start, 1),
             exactly_once=eos)
    log(json.dumps(r))
    if failed(r):
        relays.show_logs()
        missing = sorted(set(inputs_read.where) - set(reader.where))[:20]
        log("lost records and where they are in %s (partition, offset): %s" % (
            src, ", ".join("%s:%d@%s" % (k, q, inputs_read.where.get((k, q))) for k, q in missing)))
    return r


def failed(r):
    """At-least-once: nothing lost, per-key order kept, the producers added no duplicate.
    Exactly-once besides: a read_committed reader sees no duplicate. (A read_uncommitted one
    usually sees aborted records, which shows the check can tell the two apart; whether a
    SIGKILL leaves any in the log depends on its timing, so none is reported, not failed.)"""
    if r["lost"] or r["order_violations"] or r["producer_duplicates"] or r["inputs_undelivered"]:
        return True
    if r["exactly_once"] and not r["duplicates"] and not r["uncommitted_duplicates"]:
        log("%s: no aborted record reached the log this run (the kills fell between "
            "transactions' writes): read_committed could not be told apart here" % r["scenario"])
    return bool(r["exactly_once"] and r["duplicates"])


# ---- the faults: each runs mid-stream and returns once the fault is over ----

def wait_sent(sent, k):
    while sent[0] < k:
        time.sleep(0.05)


def leader_killed(cluster, relays, first, sent, n, src, group):
    b = cluster.leader(src, 0)
    log("killing broker %d, leader of %s[0]" % (b, src))
    cluster.ctl("kill", b)
    wait_sent(sent, sent[0] + 5 * RATE)  # 5 s of traffic without it
    cluster.ctl("start-broker", b)


def coordinator_killed(cluster, relays, first, sent, n, src, group):
    b = coordinator(cluster, group)
    log("killing broker %d, coordinator of group %s" % (b, group))
    cluster.ctl("kill", b)
    wait_sent(sent, sent[0] + 5 * RATE)
    cluster.ctl("start-broker", b)


def service_killed(cluster, relays, first, sent, n, src, group):
    p = first
    for i in range(3):
        log("SIGKILL relay (%d of 3)" % (i + 1))
        relays.kill(p)
        p = relays.start()
        wait_sent(sent, min(n, sent[0] + 2 * RATE))


def scaled(cluster, relays, first, sent, n, src, group):
    log("scaling 1 -> 3")
    extra = [relays.start(), relays.start()]
    wait_sent(sent, min(n, sent[0] + 4 * RATE))
    log("scaling 3 -> 1")
    for p in extra:
        relays.stop(p)


def broker_paused(cluster, relays, first, sent, n, src, group):
    b = cluster.leader(src, 0)
    log("SIGSTOP broker %d for 15 s (past the broker and consumer session timeouts)" % b)
    cluster.ctl("pause", b)
    wait_sent(sent, min(n, sent[0] + 15 * RATE))
    cluster.ctl("resume", b)


def cluster_restarted(cluster, relays, first, sent, n, src, group):
    ids = cluster.brokers()
    log("killing every broker, then starting them again")
    for b in ids:
        cluster.ctl("kill", b)
    for b in ids:
        cluster.ctl("start-broker", b, "--no-wait")
    for b in ids:
        cluster.ctl("wait", b)


def eos_killed(cluster, relays, first, sent, n, src, group):
    service_killed(cluster, relays, first, sent, n, src, group)
    dst = relays.args[2]
    b = cluster.leader(dst, 0)
    log("killing broker %d, leader of %s[0]" % (b, dst))
    cluster.ctl("kill", b)
    wait_sent(sent, min(n, sent[0] + 5 * RATE))
    cluster.ctl("start-broker", b)


SCENARIOS = [
    ("a", "leader of a busy partition SIGKILLed, restarted after 5 s", leader_killed),
    ("b", "group coordinator's broker SIGKILLed, restarted after 5 s", coordinator_killed),
    ("c", "the Brook service SIGKILLed and restarted, three times", service_killed),
    ("d", "scaled 1 -> 3 -> 1 instances", scaled),
    ("e", "one broker SIGSTOPped 15 s, then resumed", broker_paused),
    ("f", "the whole cluster SIGKILLed and restarted", cluster_restarted),
    ("g", "exactly-once: the service SIGKILLed three times, then the output's leader broker",
     eos_killed),
]
EXACTLY_ONCE = {"g"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("relay")
    ap.add_argument("--only", default="")
    ap.add_argument("--records", type=int, default=30000)
    ap.add_argument("--report", default="")
    a = ap.parse_args()
    d = os.environ.get("BROOK_TEST_KAFKA")
    if not d:
        sys.exit("faults: set BROOK_TEST_KAFKA to a 3-broker cluster (kafka-cluster start)")
    cluster = Cluster(d)
    logdir = os.path.join(d, "faults")
    os.makedirs(logdir, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    results = []
    for name, title, fault in SCENARIOS:
        if only and name not in only:
            continue
        results.append(run_scenario(name, title, a.relay, cluster, a.records, logdir, fault,
                                    name in EXACTLY_ONCE))
    cluster.wait_healthy()  # for the tests that use the cluster next
    lines = ["| scenario | records | lost | order violations | duplicates | added by the "
             "producer | recovery (s) | producers replaced (input/relay) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        pd = r["producer_duplicates"]
        lines.append("| (%s) %s | %d | %d | %d | %d | %s | %.1f | %s |" % (
            r["scenario"], r["title"], r["records"], r["lost"], r["order_violations"],
            r["duplicates"], "n/a (instances killed)" if pd is None else pd, r["recover_s"],
            r["producers_replaced"]))
    print("\n".join(lines))
    if a.report:
        with open(a.report, "w") as f:
            json.dump(results, f, indent=1)
    for r in results:
        if r["exactly_once"]:
            print("faults: (%s) exactly-once: %d duplicates read_committed, %d read_uncommitted"
                  % (r["scenario"], r["duplicates"], r["uncommitted_duplicates"]))
    bad = [r for r in results if failed(r)]
    passed = len(results) - len(bad)
    print("faults: %d passed, %d failed" % (passed, len(bad)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
