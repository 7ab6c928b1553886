#!/usr/bin/env bash
# tapd must not define a C function that one of the shared libraries it loads also exports. If it did,
# the dynamic linker would bind that library's calls to tapd's copy (symbol interposition): that is how
# cuse/stream_open.cc once replaced writev() for the whole process — libfuse's replies, the TUN backend's
# transmit, and ASan's own writev interceptor all went through it. Documented hooks only
# (fuse_session_custom_io for FUSE I/O).
#
# What counts: every function (nm type T, W or i) defined in the executable, in its symbol table or its
# dynamic symbol table, whose name one of its libraries (ldd) exports as a function. C++ names (_Z...)
# are left out: the C++ runtime's inline functions are emitted in both places by design (vague linkage).
set -euo pipefail
exe=${1:?usage: no_interposition_test.sh PATH-TO-EXECUTABLE}
for tool in nm ldd awk; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is needed (binutils, libc-bin)"; exit 1; }
done

libs=$(ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
[ -n "$libs" ] || { echo "FAIL: ldd found no shared libraries for $exe"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for lib in $libs; do
  nm -D --defined-only "$lib" | awk '$2 ~ /^[TWi]$/ {sub(/@.*/, "", $3); print $3}'
done | sort -u >"$tmp/lib"
{ nm --defined-only "$exe" 2>/dev/null || true; nm -D --defined-only "$exe"; } |
  awk '$2 ~ /^[TWi]$/ && $3 !~ /^_Z/ {sub(/@.*/, "", $3); print $3}' | sort -u >"$tmp/exe"

# The check must read what it claims to: libc's writev and read are among the library functions, and
# the executable defines some function of its own.
for f in writev read; do
  grep -qx "$f" "$tmp/lib" || { echo "FAIL: $f not found among the libraries' functions (nm output changed?)"; exit 1; }
done
[ -s "$tmp/exe" ] || { echo "FAIL: no functions found in $exe"; exit 1; }

both=$(comm -12 "$tmp/exe" "$tmp/lib")
if [ -n "$both" ]; then
  echo "FAIL: $exe defines functions its shared libraries export (symbol interposition):"
  for s in $both; do
    printf '  %s (exported by' "$s"
    for lib in $libs; do
      nm -D --defined-only "$lib" | awk -v s="$s" '$2 ~ /^[TWi]$/ {sub(/@.*/, "", $3); if ($3 == s) f = 1} END {exit !f}' &&
        printf ' %s' "$(basename "$lib")"
    done
    echo ')'
  done
  exit 1
fi
echo "PASS: $(wc -l <"$tmp/exe") functions defined in $(basename "$exe"), none exported by its $(echo "$libs" | wc -l) libraries"
