/* SPDX-License-Identifier: MIT */
/*
 * km.c - the kernel-mode layer's start: turns the verifier on when
 * libnmr-km is loaded (placeholder until the layer's sources land).
 */
#include "base/verify.h"

__attribute__((constructor)) static void km_start(void)
{
    nmr__verify_enable();
}
