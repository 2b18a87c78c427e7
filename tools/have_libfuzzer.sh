#!/bin/sh
# SPDX-License-Identifier: MIT
# Exit 0 if clang can build a libFuzzer target here.
command -v clang >/dev/null 2>&1 || exit 1
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$dir/f.c"
clang -fsanitize=fuzzer "$dir/f.c" -o "$dir/f" >/dev/null 2>&1
