/* SPDX-License-Identifier: MIT */
/*
 * visibility.h - how libnmr's own objects name the data they share.
 *
 * Every symbol is hidden unless NMR_API exports it (the build's default
 * visibility), but a plain extern declaration does not tell the compiler
 * so: position-independent code then reads the variable through the
 * global offset table, one load more on every API call that tests a
 * flag.  A declaration marked NMR_INTERNAL_DATA is read directly.  Only
 * for data libnmr itself defines and never exports (libnmr-km, another
 * library, cannot refer to it).
 */
#ifndef NMR_SRC_VISIBILITY_H
#define NMR_SRC_VISIBILITY_H

#define NMR_INTERNAL_DATA __attribute__((visibility("hidden")))

#endif
