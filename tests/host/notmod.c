/* SPDX-License-Identifier: MIT */
/*
 * notmod.c - a shared object that is not an NPI module (no entry points of
 * <nmr/module.h>): nmrhost must refuse it and unmap it.
 */
int notmod_answer(void);
__attribute__((visibility("default"))) int notmod_answer(void)
{
    return 42;
}
