#!/usr/bin/python3
"""Scrapes a Prometheus endpoint and prints what the Prometheus client's own parser reads.

    prom_scrape.py URL

One line per sample, labels sorted: `name{a="x",b="y"} value` (value as Python's repr of the
float); then `# families N`. Exits 1 when the endpoint does not answer 200 with the text format
0.0.4, or when the text does not parse. For tests/integration/http.c.
"""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    url = sys.argv[1]
    with urllib.request.urlopen(url, timeout=10) as r:
        status = r.status
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    if status != 200 or not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
        print(f"{url}: status {status}, Content-Type {ctype!r}", file=sys.stderr)
        return 1
    families = 0
    for family in text_string_to_metric_families(text):
        families += 1
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            print(f"{s.name}{{{labels}}} {float(s.value)!r}")
    print(f"# families {families}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
