#!/bin/sh
# Builds the libFuzzer target of Brook's Avro decoders with clang and runs it briefly.
#   tests/fuzz/build.sh BROOKC OUT_DIR [RUNS]
# Needs clang with libFuzzer; prints "skipped" and succeeds when clang is absent.
set -eu
BROOKC=$1
OUT=$2
RUNS=${3:-20000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang not found, skipped"; exit 0; }
S=$SRC/tests/codegen/valid/alltypes/schemas
mkdir -p "$OUT/corpus"
"$BROOKC" --schemas "$S/common.avsc" "$S/md5.avsc" "$S/node.avsc" "$S/mutual.avsc" "$S/all.avsc" \
  --name fuzz --out "$OUT"
clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$SRC/framework/include" -I"$SRC/framework/src" -I"$OUT" \
  "$SRC/tests/fuzz/fuzz_avro_decode.c" "$OUT/fuzz.brook.c" "$SRC/framework/src/serde/avro.c" \
  "$SRC/framework/src/serde/avro_resolve.c" "$SRC/framework/src/core/buf.c" "$SRC/framework/src/core/error.c" \
  -ljansson -lm -o "$OUT/fuzz_avro_decode"
"$OUT/fuzz_avro_decode" -runs="$RUNS" -max_len=4096 "$OUT/corpus"
