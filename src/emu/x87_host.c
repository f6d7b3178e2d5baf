/* SPDX-License-Identifier: MIT */
/*
 * Exactly defined x87 operations executed on the host FPU (see x87.h).
 *
 * Each operation is one asm block: save the host control word, load an
 * environment with the guest's control word and condition codes (no
 * exception flags, all registers empty; see v3_x87_host), load the operands,
 * run the instruction, read the status word, clear the exception flags
 * again (an exception the guest left unmasked is thereby never delivered
 * on the host), mask all exceptions, store the results, empty the stack
 * (FFREE of every register) and restore the control word.  About 50 ns of
 * host CPU time per operation (AMD EPYC), FLDENV being the largest part.  All eight
 * x87 registers are declared clobbered, so the compiler keeps nothing in
 * the register stack across the block; at most three slots are used.
 *
 * The register forms are given as raw opcode bytes: the AT&T spelling of
 * the non-commutative register forms is notoriously swapped.
 */
#include "emu/x87.h"

#if !defined(__x86_64__) && !defined(__i386__)
#error "the x87 emulation runs the exactly-defined x87 operations on an x86 host FPU"
#endif

/* all exceptions masked: the stores after the operation may pop registers an
 * aborted operation left empty (an invalid operation nobody sees) */
static const uint16_t masked_cw = 0x37f;

/* empty every register (cheaper than FNINIT; TOP is left as it is, which
 * nothing depends on) */
#define FREE_ALL "ffree %%st(0)\n\tffree %%st(1)\n\tffree %%st(2)\n\tffree %%st(3)\n\t" \
                 "ffree %%st(4)\n\tffree %%st(5)\n\tffree %%st(6)\n\tffree %%st(7)\n\t"

#define L0 ""
#define L1 "fldt %[x]\n\t"
#define L2 "fldt %[y]\n\tfldt %[x]\n\t"
#define S0 ""
#define S1 "fstpt %[r0]\n\t"
#define S2 "fstpt %[r0]\n\tfstpt %[r1]\n\t"

#define HX(name, load, body, store)                                                         \
    static void hx_##name(struct x87h *h)                                                   \
    {                                                                                       \
        uint16_t save;                                                                      \
        __asm__ volatile("fnstcw %[save]\n\t"                                               \
                         "fldenv %[env]\n\t"                                                \
                         load body "\n\t"                                                   \
                         "fnstsw %[sw]\n\t"                                                 \
                         "fnclex\n\t"                                                       \
                         "fldcw %[masked]\n\t"                                              \
                         store                                                              \
                         FREE_ALL                                                           \
                         "fldcw %[save]"                                                    \
                         : [save] "+m"(save), [sw] "=m"(h->sw), [r0] "=m"(h->r0),           \
                           [r1] "=m"(h->r1), [o] "=m"(h->o)                                 \
                         : [masked] "m"(masked_cw), [env] "m"(h->env), [x] "m"(h->x), [y] "m"(h->y), [m] "m"(h->m)     \
                         : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",      \
                           "st(7)", "memory");                                              \
    }

#define ARITH(K, D8, DC, at)                                                                \
    HX(K##0, L2, ".byte 0xd8," #D8, S2)                                                     \
    HX(K##1, L2, ".byte 0xdc," #DC, S2)                                                     \
    HX(K##S, L1, "f" at "s %[m]", S1)                                                       \
    HX(K##L, L1, "f" at "l %[m]", S1)                                                       \
    HX(K##IS, L1, "fi" at "s %[m]", S1)                                                     \
    HX(K##IL, L1, "fi" at "l %[m]", S1)

ARITH(ADD, 0xc1, 0xc1, "add")
ARITH(MUL, 0xc9, 0xc9, "mul")
ARITH(SUB, 0xe1, 0xe9, "sub")
ARITH(SUBR, 0xe9, 0xe1, "subr")
ARITH(DIV, 0xf1, 0xf9, "div")
ARITH(DIVR, 0xf9, 0xf1, "divr")

HX(COM, L2, ".byte 0xd8,0xd1", S2)
HX(UCOM, L2, ".byte 0xdd,0xe1", S2)
HX(COMS, L1, "fcoms %[m]", S1)
HX(COML, L1, "fcoml %[m]", S1)
HX(COMIS, L1, "ficoms %[m]", S1)
HX(COMIL, L1, "ficoml %[m]", S1)
HX(TST, L1, "ftst", S1)
HX(XAM, L1, "fxam", S1)
HX(SQRT, L1, "fsqrt", S1)
HX(RNDINT, L1, "frndint", S1)
HX(PREM, L2, "fprem", S2)
HX(PREM1, L2, "fprem1", S2)
HX(SCALE, L2, "fscale", S2)
HX(XTRACT, L1, "fxtract", S2)
HX(LD1, L0, "fld1", S1)
HX(LDL2T, L0, "fldl2t", S1)
HX(LDL2E, L0, "fldl2e", S1)
HX(LDPI, L0, "fldpi", S1)
HX(LDLG2, L0, "fldlg2", S1)
HX(LDLN2, L0, "fldln2", S1)
HX(LDZ, L0, "fldz", S1)
HX(LDS, L0, "flds %[m]", S1)
HX(LDL, L0, "fldl %[m]", S1)
HX(ILDS, L0, "filds %[m]", S1)
HX(ILDL, L0, "fildl %[m]", S1)
HX(ILDLL, L0, "fildll %[m]", S1)
HX(BLD, L0, "fbld %[m]", S1)
HX(STS, L1, "fsts %[o]", S1)
HX(STL, L1, "fstl %[o]", S1)
HX(ISTS, L1, "fists %[o]", S1)
HX(ISTL, L1, "fistl %[o]", S1)
HX(ISTPLL, L1, "fistpll %[o]", S0)
HX(ISTTPS, L1, "fisttps %[o]", S0)
HX(ISTTPL, L1, "fisttpl %[o]", S0)
HX(ISTTPLL, L1, "fisttpll %[o]", S0)
HX(BSTP, L1, "fbstp %[o]", S0)


static void (*const hx_tab[X87H_COUNT])(struct x87h *) = {
    hx_ADD0, hx_MUL0, hx_SUB0, hx_SUBR0, hx_DIV0, hx_DIVR0,
    hx_ADD1, hx_MUL1, hx_SUB1, hx_SUBR1, hx_DIV1, hx_DIVR1,
    hx_ADDS, hx_MULS, hx_SUBS, hx_SUBRS, hx_DIVS, hx_DIVRS,
    hx_ADDL, hx_MULL, hx_SUBL, hx_SUBRL, hx_DIVL, hx_DIVRL,
    hx_ADDIS, hx_MULIS, hx_SUBIS, hx_SUBRIS, hx_DIVIS, hx_DIVRIS,
    hx_ADDIL, hx_MULIL, hx_SUBIL, hx_SUBRIL, hx_DIVIL, hx_DIVRIL,
    hx_COM, hx_UCOM, hx_COMS, hx_COML, hx_COMIS, hx_COMIL, hx_TST, hx_XAM,
    hx_SQRT, hx_RNDINT, hx_PREM, hx_PREM1, hx_SCALE, hx_XTRACT,
    hx_LD1, hx_LDL2T, hx_LDL2E, hx_LDPI, hx_LDLG2, hx_LDLN2, hx_LDZ,
    hx_LDS, hx_LDL, hx_ILDS, hx_ILDL, hx_ILDLL, hx_BLD,
    hx_STS, hx_STL, hx_ISTS, hx_ISTL, hx_ISTPLL, hx_ISTTPS, hx_ISTTPL, hx_ISTTPLL,
    hx_BSTP,
};

void v3_x87_host(enum x87h_op op, struct x87h *h)
{
    /* 32-bit protected-mode environment: FCW, FSW (TOP 0, the condition
     * codes, no exception flags), tag word all empty, pointers 0 */
    uint32_t env[7] = { 0xffff0000u | h->cw, 0xffff0000u | (h->sw & X87_CC), 0xffffffffu, 0, 0, 0, 0xffff0000u };
    memcpy(h->env, env, sizeof(env));
    if ((unsigned)op < X87H_COUNT)
        hx_tab[op](h);
}
