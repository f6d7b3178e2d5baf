/* SPDX-License-Identifier: MIT */
/*
 * Nanoseconds of the VM clock against ticks of a device clock of @p hz
 * Hz (PIT, ACPI PM timer, TSC), without a 128-bit multiplication: the
 * whole seconds and the remainder are converted apart, so no intermediate
 * overflows for any 64-bit count while @p hz stays below 2^34.
 */
#ifndef V3_INTERNAL_TICKS_H
#define V3_INTERNAL_TICKS_H

#include <stdint.h>

#define V3_NS_PER_S 1000000000ull

/* Ticks of a @p hz clock in @p ns nanoseconds (rounded down). */
static inline uint64_t v3_ns_to_ticks(uint64_t ns, uint64_t hz)
{
    return ns / V3_NS_PER_S * hz + ns % V3_NS_PER_S * hz / V3_NS_PER_S;
}

/* The first nanosecond at which v3_ns_to_ticks() reaches @p ticks (rounded up). */
static inline uint64_t v3_ticks_to_ns_up(uint64_t ticks, uint64_t hz)
{
    return ticks / hz * V3_NS_PER_S + (ticks % hz * V3_NS_PER_S + hz - 1) / hz;
}

#endif
