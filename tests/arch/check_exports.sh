#!/bin/sh
# libbrook.so exports its public API only: every defined dynamic symbol is a brook_ function
# or variable declared in brook/brook.h or brook/avro.h (brook__avro_* and brook__arena_* are
# the generated code's documented runtime, in brook/avro.h).
#
#   check_exports.sh LIBBROOK_SO INCLUDE_DIR
lib=$1
inc=$2
bad=0
for sym in $(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//'); do
    case $sym in
    _init | _fini | __bss_start | _edata | _end) continue ;; # the linker's own
    esac
    if ! grep -qw "$sym" "$inc/brook/brook.h" "$inc/brook/avro.h"; then
        echo "exported but not in a public header: $sym"
        bad=1
    fi
done
echo "exports: $(nm -D --defined-only "$lib" | wc -l) symbol(s) defined in $lib"
exit $bad
