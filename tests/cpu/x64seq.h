/* SPDX-License-Identifier: MIT */
/*
 * Random 64-bit instruction sequences for the software-CPU differential test.
 *
 * A sequence is straight-line code with forward branches (Jcc, JMP, LOOP,
 * JRCXZ, CALL/RET pairs), PUSH/POP, general-purpose and SSE2 integer
 * instructions, with memory operands inside a scratch buffer addressed
 * through R15 (never written) or RIP-relative.  The generator tracks which
 * arithmetic flags are undefined at each point and never lets an
 * instruction consume them, so the final state is fully defined apart from
 * the flags in x64seq::undef_flags.
 */
#ifndef V3_TEST_X64SEQ_H
#define V3_TEST_X64SEQ_H

#include <stddef.h>
#include <stdint.h>

/* Layout of the shared window (same linear addresses natively and in the guest). */
#define X64_WINDOW     0x20001000ull          /* code (the v3native snippet address) */
#define X64_CODE_SIZE  0x1000u
#define X64_SCRATCH    0x20100000ull          /* data: R15 points here */
#define X64_SCRATCH_SIZE 0x1000u
#define X64_STACK_TOP  0x20102000ull          /* stack page below this */

struct x64seq {
    int bits;                 /* 16, 32 or 64 */
    uint64_t code_addr;       /* address the code runs at */
    uint8_t code[X64_CODE_SIZE - 16];
    size_t len;               /* bytes of code, not counting the terminator */
    unsigned ninsns;          /* instructions generated */
    uint64_t undef_flags;     /* RFLAGS arithmetic bits undefined at the end */
};

struct x64seq_opts {
    unsigned min_insns, max_insns;
    int sse;                  /* include SSE2 integer instructions */
    int strcmp_only;          /* (64-bit) only PCMPESTRI/M, PCMPISTRI/M (and MOVs of their lengths) */
    int simd;                 /* (64-bit) also MMX and SSE-SSE4.2 integer SIMD, CRC32 (needs the MMX state compared) */
    int branches;             /* include control flow */
    int stack;                /* include PUSH/POP/CALL/RET/PUSHF/POPF */
    /* mode and layout; bits = 0 means 64-bit with the X64_* layout */
    int bits;                 /* 16, 32, 64: scratch base register R15 / EBP / BP */
    uint64_t code_addr, scratch_addr;
    unsigned scratch_size;
};

/* xorshift64* random numbers */
static inline uint64_t x64_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Generate one sequence from seed state @p rng. */
void x64seq_generate(struct x64seq *seq, const struct x64seq_opts *o, uint64_t *rng);

/* Disassemble @p seq to @p out (for mismatch reports). */
void x64seq_print(const struct x64seq *seq, void *file);

#endif
