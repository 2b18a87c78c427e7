/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.h - entry points of the operation-sequence fuzzer (fuzz_ops.c),
 * shared by the libFuzzer build and the plain replay driver (replay.c).
 */
#ifndef NMR_FUZZ_OPS_H
#define NMR_FUZZ_OPS_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
