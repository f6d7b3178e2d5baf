/* SPDX-License-Identifier: MIT */
/*
 * src/emu/x87.h - the x87 register stack, status word and numeric exception
 * logic shared by the x87 handler files (ops_x87.c, ops_x87_trans.c) and the
 * x87 control instructions of ops_system.c.
 *
 * Register stack: core->fpu.st[i] is ST(i) (FXSAVE order), TOP is FSW[13:11]
 * and core->fpu.ftw the abridged tag word (bit per PHYSICAL register, 1 =
 * valid).  A pop rotates st[] (the old ST(0) becomes ST(7), still holding its
 * value but tagged empty), exactly as the physical registers are kept.
 */
#ifndef V3_EMU_X87_H
#define V3_EMU_X87_H

#include "emu/insn.h"

/* FSW bits */
#define X87_IE  0x0001u
#define X87_DE  0x0002u
#define X87_ZE  0x0004u
#define X87_OE  0x0008u
#define X87_UE  0x0010u
#define X87_PE  0x0020u
#define X87_SF  0x0040u
#define X87_ES  0x0080u
#define X87_C0  0x0100u
#define X87_C1  0x0200u
#define X87_C2  0x0400u
#define X87_C3  0x4000u
#define X87_B   0x8000u
#define X87_CC  (X87_C0 | X87_C1 | X87_C2 | X87_C3)

/* One 80-bit register value (little-endian: mantissa, then sign/exponent). */
struct x87v {
    uint8_t b[10];
};

static inline uint64_t x87v_mant(const struct x87v *v)
{
    uint64_t m;
    memcpy(&m, v->b, 8);
    return m;
}
static inline unsigned x87v_se(const struct x87v *v)
{
    return (unsigned)v->b[8] | ((unsigned)v->b[9] << 8);
}
static inline struct x87v x87v_make(unsigned se, uint64_t mant)
{
    struct x87v v;
    memcpy(v.b, &mant, 8);
    v.b[8] = (uint8_t)se;
    v.b[9] = (uint8_t)(se >> 8);
    return v;
}

static inline unsigned x87_top(const struct v3_fpu_state *f) { return (f->fsw >> 11) & 7; }
static inline int x87_valid(const struct v3_fpu_state *f, unsigned i)
{
    return (f->ftw >> ((x87_top(f) + i) & 7)) & 1;
}
static inline struct x87v x87_get(const struct v3_fpu_state *f, unsigned i)
{
    struct x87v v;
    memcpy(v.b, f->st[i & 7], 10);
    return v;
}
/** Write ST(i) and tag it valid. */
void v3_x87_put(struct v3_fpu_state *f, unsigned i, const struct x87v *v);
/** TOP-1 and write the new ST(0). */
void v3_x87_push(struct v3_fpu_state *f, const struct x87v *v);
/** Tag ST(0) empty and TOP+1. */
void v3_x87_pop(struct v3_fpu_state *f);

/** The QNaN floating-point indefinite (masked invalid-operation result). */
extern const struct x87v v3_x87_indefinite;

/**
 * Checks every x87 instruction starts with: #NM for CR0.EM or CR0.TS; then,
 * for a waiting instruction (@p waiting), a pending unmasked exception
 * (FSW.ES): #MF with CR0.NE = 1, otherwise FERR# is asserted once through
 * core->ferr and the instruction proceeds (as with IGNNE# asserted).
 * @p waiting = 2 is FWAIT: the pending-exception check without the #NM one
 * (its own #NM condition, CR0.MP && CR0.TS, is checked by the caller).
 */
int v3_x87_begin(struct v3_emu_ctx *ctx, int waiting);

/**
 * Record exceptions @p exc (IE..PE, SF) in FSW; set ES and B when one is
 * unmasked.  Returns the unmasked subset.
 */
unsigned v3_x87_raise(struct v3_fpu_state *f, unsigned exc);

/** Recompute ES and B from the flags and the masks (after FLDCW, FLDENV, FRSTOR). */
void v3_x87_update_es(struct v3_fpu_state *f);

/** Stack underflow: IE|SF with C1 = 0.  Returns nonzero when IE is unmasked. */
int v3_x87_underflow(struct v3_fpu_state *f);
/** Stack overflow: IE|SF with C1 = 1.  Returns nonzero when IE is unmasked. */
int v3_x87_overflow(struct v3_fpu_state *f);

/* ---- host x87 execution (x86-64 hosts; src/emu/x87_host.c) ----
 * The operations whose results the SDM defines exactly (add, subtract,
 * multiply, divide, square root, remainder, scale, extract, round to
 * integer, compare, conversions, BCD) are the same on every x86 CPU; they are
 * executed on the host FPU under the guest's control word (precision,
 * rounding and exception masks), which gives the guest bit-exact results,
 * condition codes and exception flags, including the bias-adjusted results
 * of unmasked overflow/underflow.  The host's control word is restored and
 * its exception state cleared before returning, so nothing is left pending. */
enum x87h_op {
    X87H_ADD0, X87H_MUL0, X87H_SUB0, X87H_SUBR0, X87H_DIV0, X87H_DIVR0,   /* ST0 = ST0 op ST1 */
    X87H_ADD1, X87H_MUL1, X87H_SUB1, X87H_SUBR1, X87H_DIV1, X87H_DIVR1,   /* ST1 = ST1 op ST0 */
    X87H_ADDS, X87H_MULS, X87H_SUBS, X87H_SUBRS, X87H_DIVS, X87H_DIVRS,   /* ST0 op m32fp */
    X87H_ADDL, X87H_MULL, X87H_SUBL, X87H_SUBRL, X87H_DIVL, X87H_DIVRL,   /* ST0 op m64fp */
    X87H_ADDIS, X87H_MULIS, X87H_SUBIS, X87H_SUBRIS, X87H_DIVIS, X87H_DIVRIS, /* m16int */
    X87H_ADDIL, X87H_MULIL, X87H_SUBIL, X87H_SUBRIL, X87H_DIVIL, X87H_DIVRIL, /* m32int */
    X87H_COM, X87H_UCOM, X87H_COMS, X87H_COML, X87H_COMIS, X87H_COMIL, X87H_TST, X87H_XAM,
    X87H_SQRT, X87H_RNDINT, X87H_PREM, X87H_PREM1, X87H_SCALE, X87H_XTRACT,
    X87H_LD1, X87H_LDL2T, X87H_LDL2E, X87H_LDPI, X87H_LDLG2, X87H_LDLN2, X87H_LDZ,
    X87H_LDS, X87H_LDL, X87H_ILDS, X87H_ILDL, X87H_ILDLL, X87H_BLD,
    X87H_STS, X87H_STL, X87H_ISTS, X87H_ISTL, X87H_ISTPLL, X87H_ISTTPS, X87H_ISTTPL, X87H_ISTTPLL,
    X87H_BSTP,
    X87H_COUNT
};

struct x87h {
    uint16_t cw;          /* in: control word to run under */
    uint16_t sw;          /* in: condition codes C0-C3 to start from; out: status word after */
    uint8_t env[28];      /* internal */
    uint8_t x[16];        /* in: ST(0) (80-bit) */
    uint8_t y[16];        /* in: ST(1) (80-bit) for the two-register forms */
    uint8_t m[16];        /* in: memory operand */
    uint8_t o[16];        /* out: memory result */
    uint8_t r0[16];       /* out: ST(0) after */
    uint8_t r1[16];       /* out: ST(1) after */
};

/** Run @p op on the host FPU.  Unused inputs may hold anything.  The
 *  condition codes the operation leaves undefined keep their values. */
void v3_x87_host(enum x87h_op op, struct x87h *h);

/* ---- transcendentals (ops_x87_trans.c) ---- */
extern const struct v3_op_entry v3_ops_x87_trans[];

#endif
