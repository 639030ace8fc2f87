#!/usr/bin/python3
"""Makes the Python environment of the schema registry tests: a virtualenv of Debian's
python3 with requirements.txt (Python's confluent_kafka with its Schema Registry serializers
and fastavro, from PyPI), cached in ${BROOK_REGISTRY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/brook}
under pyregistry-<hash of requirements.txt>, and writes LINK: a script that runs its
interpreter (a symlink would not do: Python finds its virtualenv from the path it is run by).

    pyenv.py LINK

A cached environment is used as it is (no pip run). Only the standard library is used.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
CHECK = "import confluent_kafka.schema_registry.avro, fastavro"


def cache_root():
    root = os.environ.get("BROOK_REGISTRY_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "brook")
    return os.path.abspath(root)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    link = os.path.abspath(sys.argv[1])
    with open(REQUIREMENTS, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    env_dir = os.path.join(root, "pyregistry-" + digest)
    python = os.path.join(env_dir, "bin", "python")
    with open(os.path.join(root, "pyregistry.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(env_dir, "ready")):
            shutil.rmtree(env_dir, ignore_errors=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", env_dir], check=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "-r", REQUIREMENTS], check=True)
            subprocess.run([python, "-c", CHECK], check=True)
            open(os.path.join(env_dir, "ready"), "w").close()
    tmp = link + ".tmp"
    with open(tmp, "w") as f:
        f.write(f'#!/bin/sh\nexec "{python}" "$@"\n')
    os.chmod(tmp, 0o755)
    os.replace(tmp, link)
    print(link, "->", python)


if __name__ == "__main__":
    main()
