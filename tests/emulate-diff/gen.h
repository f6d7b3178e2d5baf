/* SPDX-License-Identifier: MIT */
/* Random test-case generator for the emulator differential tests: one
 * instruction with a memory operand, random registers, flags and memory. */
#ifndef EMU_DIFF_GEN_H
#define EMU_DIFF_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include "v3native.h"

#define SCR_PAGES 3                 /* data page 0, data page 1, stack page */
#define SCR_SIZE  (SCR_PAGES * 4096)

enum fam {
    FAM_MOV, FAM_MOVX, FAM_MOVBE, FAM_CMOV, FAM_SETCC, FAM_ALU, FAM_TEST, FAM_UNARY, FAM_XCHG, FAM_CMPXCHG,
    FAM_CMPXCHGB, FAM_BT, FAM_BSF, FAM_SHIFT, FAM_SHD, FAM_MUL, FAM_DIV, FAM_PUSHPOP, FAM_STRING,
    FAM_SSE, FAM_MMX, FAM_LOCKUD, FAM_SIMD, FAM_NCOUNT
};
extern const char *const fam_names[FAM_NCOUNT];

struct layout {
    int mode;                       /* 16, 32, 64 */
    uint64_t scr;                   /* scratch (3 pages) */
    uint64_t code;                  /* code page; the snippet sits in its first 0x100 bytes + offset */
};

struct tcase {
    int mode;
    uint64_t scr;                   /* scratch base (from the layout) */
    int fam;
    char form[24];
    struct v3n_insn insn;
    uint64_t rip;
    uint64_t gpr[16];
    uint64_t rflags;
    uint64_t fs_base, gs_base;
    unsigned nflags;                /* V3N_SET_FS/GS/MMX */
    uint8_t xmm[16][16];
    uint64_t mm[8];
    uint32_t mxcsr;                 /* with V3N_MXCSR in nflags, else 1F80H */
    uint8_t mem[SCR_SIZE];          /* scratch contents */
    uint64_t undef;                 /* architecturally undefined RFLAGS bits for this case */
    uint64_t prim;                  /* linear address of the first access (fault address) */
    unsigned prim_access;           /* V3_ACCESS_READ/WRITE */
    int width;                      /* expected bytes per hook call (0: do not check) */
    bool noncanon;                  /* address is non-canonical on purpose */
    bool no_access;                 /* no memory access at all (REP with count 0) */
    bool string;                    /* REP-able string instruction (may need re-entry) */
};

struct rng { uint64_t s; };
static inline uint64_t rnd(struct rng *r)
{
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
static inline uint64_t rndn(struct rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

/** Do not generate deliberately misaligned SSE operands (Unicorn does not check alignment). */
extern int gen_no_misalign;

/** Generate one case of family @p fam (-1: random family) for @p lay. */
void gen_case(struct rng *r, const struct layout *lay, int fam, struct tcase *c);

#endif
