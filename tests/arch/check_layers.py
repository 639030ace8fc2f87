#!/usr/bin/python3
"""The runtime's folders (framework/src/<module>/) form layers: a file may include headers of
its own module and of the modules below it, never above, so there is no cycle between them.
Also checks that a module's header exposes no other module's struct layout.

    check_layers.py FRAMEWORK_SRC_DIR
"""
import pathlib
import re
import sys

# Lowest first; each module may use the ones before it.
LAYERS = ["core", "config", "registry", "kafka", "serde", "produce", "request", "recover", "consume",
          "http", "app"]
# The header a module offers the others (the rest of its headers are its own).
HEADER = {m: f"{m}/{m}.h" for m in LAYERS}
HEADER["config"] = "config/decl.h"
# The brook command (cli/, docs/cli.md) is a program on top of every module, not part of
# libbrook; besides the modules' headers it uses app's provisioning (`brook topics apply`) and
# serde's bounds-checked Avro reader (the schema resolver).
LAYERS.append("cli")
HEADER["cli"] = "cli/cli.h"
ALSO_OFFERED = {("cli", "app/provision.h"), ("cli", "serde/avro_resolve.h")}

src = pathlib.Path(sys.argv[1])
problems = []
for path in sorted(src.rglob("*.[ch]")):
    module = path.relative_to(src).parts[0]
    if module not in LAYERS:
        problems.append(f"{path}: not in a module folder ({', '.join(LAYERS)})")
        continue
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r'#include "([a-z_]+)/', line)
        if not m or m.group(1) == "brook":
            continue
        target = m.group(1)
        if target not in LAYERS:
            problems.append(f"{path}:{line_no}: includes unknown module {target}")
        elif LAYERS.index(target) > LAYERS.index(module):
            problems.append(f"{path}:{line_no}: {module} includes {target}, a module above it")
        elif target != module and not line.startswith(f'#include "{HEADER[target]}"') and not any(
                module == m and line.startswith(f'#include "{h}"') for m, h in ALSO_OFFERED):
            problems.append(f"{path}:{line_no}: includes {target}'s private header ({line.strip()})")

for p in problems:
    print(p)
print(f"layers: {len(problems)} problem(s) in {src}")
sys.exit(1 if problems else 0)
