#!/usr/bin/env python3
"""Checks of the shop's picture (shop.svg, drawn by brookc --graph and Graphviz's dot).

  shop_graph.py topics SHOP.svg DECL.brook...
      The picture shows every topic the services touch, and nothing else besides the services:
      the expected topics are worked out here from the declarations, independently of brookc
      (its own reading of the libconfig files, and the naming rules of
      docs/failure-handling.md): declared topics, templates' and listeners' topics, each
      listener's retry topics (<topic>-retry-<delay_ms> per distinct delay, or <topic>-retry when
      every delay is the same; retry mode "topics" only) and dead-letter topic (<topic>-dlt, or
      dlt.topic; none when dlt.enabled is false or the topic is itself a -dlt topic). Retry
      topics and DLTs must be drawn in styles of their own.

  shop_graph.py current COMMITTED.svg BUILT.svg
      docs/shop.svg (shown by README.md) is the build's drawing: byte for byte when both come
      from the same Graphviz version; from another version, which lays out differently, the same
      nodes, edges and labels. Refresh it with `cmake --build build --target shop-graph-docs`.
"""
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


# ---- a small libconfig reader (the subset declarations use) ---------------------------------

TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)L{0,2})
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}\[\]()])
""", re.S | re.X)


def tokens(text):
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            yield m.lastgroup, m.group()


class Reader:
    def __init__(self, text):
        self.toks = list(tokens(text))
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, want=None):
        tok = self.peek()
        if want and tok[1] != want:
            raise SyntaxError(f"expected {want}, got {tok[1]}")
        self.i += 1
        return tok

    def settings(self, end):
        group = {}
        while self.peek()[1] != end:
            kind, name = self.take()
            if kind != "name":
                raise SyntaxError(f"expected a setting name, got {name}")
            self.take()  # = or :
            group[name] = self.value()
            if self.peek()[1] in (";", ","):
                self.take()
        return group

    def value(self):
        kind, tok = self.take()
        if tok == "{":
            v = self.settings("}")
            self.take("}")
            return v
        if tok in ("[", "("):
            close = "]" if tok == "[" else ")"
            items = []
            while self.peek()[1] != close:
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
            self.take(close)
            return items
        if kind == "str":
            s = bytes(tok[1:-1], "utf-8").decode("unicode_escape")
            while self.peek()[0] == "str":  # adjacent strings are one
                s += bytes(self.take()[1][1:-1], "utf-8").decode("unicode_escape")
            return s
        if kind == "num":
            t = tok.rstrip("L")
            return int(t, 0) if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|\d+)", t) else float(t)
        if tok in ("true", "false", "TRUE", "FALSE"):
            return tok.lower() == "true"
        raise SyntaxError(f"unexpected {tok}")


def read_declaration(path):
    with open(path, encoding="utf-8") as f:
        return Reader(f.read()).settings(None)


# ---- the topics a service touches -------------------------------------------------------------

def retry_topics(topic, retry):
    """docs/failure-handling.md: the waits before deliveries 2..attempts, capped."""
    if retry.get("mode", "blocking") != "topics" or retry.get("attempts", 3) <= 1:
        return []
    backoff = retry.get("backoff", {})
    delay = backoff.get("delay_ms", 1000)
    mult = float(backoff.get("multiplier", 1.0))
    cap = backoff.get("max_delay_ms", max(30000, delay))
    waits = []
    d = float(delay)
    for _ in range(retry.get("attempts", 3) - 1):
        waits.append(cap if d >= cap else int(d))
        d *= mult
    if len(set(waits)) == 1:
        return [f"{topic}-retry"]
    names = []
    for w in waits:
        if f"{topic}-retry-{w}" not in names:
            names.append(f"{topic}-retry-{w}")
    return names


def expected_topics(decls):
    plain, retry, dlt = set(), set(), set()
    for d in decls:
        plain.update(t["name"] for t in d.get("topics", []))
        plain.update(t["topic"] for t in d.get("templates", []))
        for listener in d.get("listeners", []):
            for topic in listener.get("topics", []):
                plain.add(topic)
                retry.update(retry_topics(topic, listener.get("retry", {})))
                dl = listener.get("dlt", {})
                if dl.get("enabled", True) and not topic.endswith("-dlt"):
                    dlt.add(dl.get("topic", f"{topic}-dlt"))
    return plain - retry - dlt, retry, dlt


# ---- the picture ------------------------------------------------------------------------------

def svg_nodes(path):
    """{label: the node's shape fill and stroke} of every node drawn."""
    nodes = {}
    for g in ET.parse(path).getroot().iter(SVG + "g"):
        if g.get("class") != "node":
            continue
        label = " ".join(t.text or "" for t in g.iter(SVG + "text"))
        shape = next((e for e in g if e.tag in (SVG + "ellipse", SVG + "polygon", SVG + "path")),
                     None)
        nodes[label] = (shape.get("fill"), shape.get("stroke")) if shape is not None else None
    return nodes


def check_topics(svg, decl_paths):
    decls = [read_declaration(p) for p in decl_paths]
    services = {d["service"]["name"] for d in decls}
    plain, retry, dlt = expected_topics(decls)
    nodes = svg_nodes(svg)
    errors = []
    for kind, names in (("topic", plain), ("retry topic", retry), ("dead-letter topic", dlt),
                        ("service", services)):
        for name in sorted(names - nodes.keys()):
            errors.append(f"{svg}: {kind} {name} is not drawn")
    for name in sorted(nodes.keys() - plain - retry - dlt - services):
        errors.append(f"{svg}: {name} is drawn but is no topic or service of the declarations")
    styles = {kind: {nodes[n] for n in names if n in nodes}
              for kind, names in (("topic", plain), ("retry", retry), ("dlt", dlt))}
    for kind, found in styles.items():
        if len(found) > 1:
            errors.append(f"{svg}: {kind} nodes are drawn in {len(found)} styles: {found}")
    if styles["retry"] & (styles["topic"] | styles["dlt"]) or styles["dlt"] & styles["topic"]:
        errors.append(f"{svg}: retry topics, DLTs and topics are not told apart: {styles}")
    if not retry or not dlt:
        errors.append(f"{svg}: the shop has retry topics and DLTs; none found in the declarations")
    for e in errors:
        print(e)
    print(f"{svg}: {len(services)} services, {len(plain)} topics, {len(retry)} retry topics, "
          f"{len(dlt)} dead-letter topics expected")
    return not errors


def structure(path):
    """Nodes, edges and the labels of both, whatever the layout."""
    items = set()
    for g in ET.parse(path).getroot().iter(SVG + "g"):
        if g.get("class") in ("node", "edge"):
            title = g.find(SVG + "title").text
            label = " ".join(t.text or "" for t in g.iter(SVG + "text"))
            items.add((g.get("class"), title, label))
    return items


def graphviz_version(path):
    with open(path, encoding="utf-8") as f:
        m = re.search(r"Generated by graphviz version ([^\n]*)", f.read())
    return m.group(1).strip() if m else None


def check_current(committed, built):
    with open(committed, "rb") as a, open(built, "rb") as b:
        if a.read() == b.read():
            print(f"{committed} is the build's drawing")
            return True
    if graphviz_version(committed) == graphviz_version(built):
        print(f"{committed} differs from {built}: refresh it with "
              "`cmake --build build --target shop-graph-docs`")
        return False
    if structure(committed) == structure(built):
        print(f"{committed}: drawn by graphviz {graphviz_version(committed)}, the build's by "
              f"{graphviz_version(built)}: same nodes, edges and labels")
        return True
    print(f"{committed} shows other nodes or edges than {built}: refresh it with "
          "`cmake --build build --target shop-graph-docs`")
    for x in sorted(structure(committed) ^ structure(built)):
        print(f"  {'only in docs' if x in structure(committed) else 'only in build'}: {x}")
    return False


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "topics":
        ok = check_topics(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "current":
        ok = check_current(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok else 1)
