/* SPDX-License-Identifier: MIT */
/*
 * SSE/SSE2/SSE3/SSE4.1 floating point: arithmetic, comparisons,
 * conversions, ADDSUB/HADD/HSUB, ROUND, DPPS/DPPD.
 *
 * The arithmetic itself runs on the host's SSE unit (the emulator targets
 * x86-64 hosts), so results, NaN propagation, DAZ/FTZ and the MXCSR flags are
 * those of the host CPU bit for bit.  Each operation runs between a save and
 * a restore of the host MXCSR, with the guest's rounding control, DAZ and
 * FTZ, its status flags cleared and ALL exceptions masked: the host never
 * traps.  The guest outcome is then derived from the raised flags (SDM
 * vol. 1, 11.5.2):
 *   - no raised flag unmasked in the guest MXCSR: the result is stored and
 *     the flags are ORed into the guest MXCSR;
 *   - an unmasked pre-computation exception (IE, DE, ZE) in any lane: only
 *     the pre-computation flags are set, the destination is unchanged, and
 *     the guest gets #XM (CR4.OSXMMEXCPT set) or #UD (clear);
 *   - otherwise an unmasked post-computation exception (OE, UE, PE): all
 *     raised flags are set, the destination is unchanged, #XM / #UD.
 *   With UM clear, hardware reports UE for an exact tiny result too (and
 *   FTZ does not apply): the host runs without FTZ then, and a denormal
 *   result lane adds UE.
 * On an unmasked overflow or underflow fault the host sets PE from the
 *   rounding of the unbounded-exponent result: ADD/SUB/MUL/DIV recompute it
 *   lane by lane (unbounded_pe).  Known difference, with unmasked OE/UE
 *   only: for the other instructions (HADD/HSUB/ADDSUB, conversions, DPPS)
 *   PE is that of the delivered (overflowed or denormalised) result.
 *   DPPS/DPPD with an unmasked exception are replayed stage by stage
 *   (dp_fault_flags), since a later stage's fault keeps the earlier flags.
 * Availability and alignment as the integer SIMD family (vec.h): a 16-byte
 * memory operand must be 16-byte aligned; scalar (m32/m64) operands need not.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include "emu/vec.h"

typedef long long v2di __attribute__((vector_size(16)));

#define MX_PRE   0x07u     /* IE DE ZE */
#define MX_FLAGS 0x3fu

union fv {
    v2di v;
    uint8_t b[16];
    uint32_t d[4];
    uint64_t q[2];
};

static uint32_t host_enter(uint32_t guest, uint32_t *saved)
{
    uint32_t m = (guest & ~MX_FLAGS) | 0x1f80u;   /* guest RC/DAZ/FTZ, all masked, flags clear */
    __asm__ volatile("stmxcsr %0" : "=m"(*saved) : : "memory");
    __asm__ volatile("ldmxcsr %0" : : "m"(m) : "memory");
    return m;
}

static uint32_t host_leave(const uint32_t *saved)
{
    uint32_t m;
    __asm__ volatile("stmxcsr %0" : "=m"(m) : : "memory");
    __asm__ volatile("ldmxcsr %0" : : "m"(*saved) : "memory");
    return m & MX_FLAGS;
}

#define OP2(MN, INS) case ZYDIS_MNEMONIC_##MN: \
    __asm__ volatile(INS " %1, %0" : "+x"(a->v) : "x"(b->v) : "memory"); return 0;

/* a = a OP b on the host (MXCSR already set up).  -1: unknown mnemonic */
static int host_op(unsigned mn, union fv *a, const union fv *b, unsigned imm)
{
    switch (mn) {
    OP2(ADDPS, "addps") OP2(ADDPD, "addpd") OP2(ADDSS, "addss") OP2(ADDSD, "addsd")
    OP2(SUBPS, "subps") OP2(SUBPD, "subpd") OP2(SUBSS, "subss") OP2(SUBSD, "subsd")
    OP2(MULPS, "mulps") OP2(MULPD, "mulpd") OP2(MULSS, "mulss") OP2(MULSD, "mulsd")
    OP2(DIVPS, "divps") OP2(DIVPD, "divpd") OP2(DIVSS, "divss") OP2(DIVSD, "divsd")
    OP2(MINPS, "minps") OP2(MINPD, "minpd") OP2(MINSS, "minss") OP2(MINSD, "minsd")
    OP2(MAXPS, "maxps") OP2(MAXPD, "maxpd") OP2(MAXSS, "maxss") OP2(MAXSD, "maxsd")
    OP2(SQRTPS, "sqrtps") OP2(SQRTPD, "sqrtpd") OP2(SQRTSS, "sqrtss") OP2(SQRTSD, "sqrtsd")
    OP2(RCPPS, "rcpps") OP2(RCPSS, "rcpss") OP2(RSQRTPS, "rsqrtps") OP2(RSQRTSS, "rsqrtss")
    OP2(ADDSUBPS, "addsubps") OP2(ADDSUBPD, "addsubpd") OP2(HADDPS, "haddps") OP2(HADDPD, "haddpd")
    OP2(HSUBPS, "hsubps") OP2(HSUBPD, "hsubpd")
    OP2(CVTPS2PD, "cvtps2pd") OP2(CVTPD2PS, "cvtpd2ps") OP2(CVTSS2SD, "cvtss2sd") OP2(CVTSD2SS, "cvtsd2ss")
    OP2(CVTDQ2PS, "cvtdq2ps") OP2(CVTPS2DQ, "cvtps2dq") OP2(CVTTPS2DQ, "cvttps2dq")
    OP2(CVTDQ2PD, "cvtdq2pd") OP2(CVTPD2DQ, "cvtpd2dq") OP2(CVTTPD2DQ, "cvttpd2dq")
    /* MMX conversions through their XMM equivalents on the low 64 bits (upper source lanes are zero) */
    case ZYDIS_MNEMONIC_CVTPI2PS: {
        union fv t = *b;
        t.q[1] = 0;
        __asm__ volatile("cvtdq2ps %1, %0" : "=x"(t.v) : "x"(t.v) : "memory");
        a->q[0] = t.q[0];
        return 0;
    }
    case ZYDIS_MNEMONIC_CVTPI2PD:
        __asm__ volatile("cvtdq2pd %1, %0" : "=x"(a->v) : "x"(b->v) : "memory");
        return 0;
    case ZYDIS_MNEMONIC_CVTPS2PI: case ZYDIS_MNEMONIC_CVTTPS2PI: {
        union fv t = *b;
        t.q[1] = 0;
        if (mn == ZYDIS_MNEMONIC_CVTPS2PI)
            __asm__ volatile("cvtps2dq %1, %0" : "=x"(t.v) : "x"(t.v) : "memory");
        else
            __asm__ volatile("cvttps2dq %1, %0" : "=x"(t.v) : "x"(t.v) : "memory");
        a->q[0] = t.q[0];
        a->q[1] = 0;
        return 0;
    }
    case ZYDIS_MNEMONIC_CVTPD2PI: case ZYDIS_MNEMONIC_CVTTPD2PI: {
        union fv t;
        if (mn == ZYDIS_MNEMONIC_CVTPD2PI)
            __asm__ volatile("cvtpd2dq %1, %0" : "=x"(t.v) : "x"(b->v) : "memory");
        else
            __asm__ volatile("cvttpd2dq %1, %0" : "=x"(t.v) : "x"(b->v) : "memory");
        a->q[0] = t.q[0];
        a->q[1] = 0;
        return 0;
    }
#define CMPC(INS, K) case K: __asm__ volatile(INS " %2, %1, %0" : "+x"(a->v) : "x"(b->v), "i"(K) : "memory"); break;
#define CMP8(MN, INS) case ZYDIS_MNEMONIC_##MN: switch (imm & 7) { \
        CMPC(INS, 0) CMPC(INS, 1) CMPC(INS, 2) CMPC(INS, 3) CMPC(INS, 4) CMPC(INS, 5) CMPC(INS, 6) \
        CMPC(INS, 7) } return 0;
    CMP8(CMPPS, "cmpps") CMP8(CMPPD, "cmppd") CMP8(CMPSS, "cmpss") CMP8(CMPSD, "cmpsd")
    /* ROUND: imm[2] clear: imm[1:0] is the rounding mode (set in the host MXCSR by the caller) */
    case ZYDIS_MNEMONIC_ROUNDPS: __asm__ volatile("roundps $4, %1, %0" : "=x"(a->v) : "x"(b->v) : "memory"); return 0;
    case ZYDIS_MNEMONIC_ROUNDPD: __asm__ volatile("roundpd $4, %1, %0" : "=x"(a->v) : "x"(b->v) : "memory"); return 0;
    case ZYDIS_MNEMONIC_ROUNDSS: __asm__ volatile("roundss $4, %1, %0" : "+x"(a->v) : "x"(b->v) : "memory"); return 0;
    case ZYDIS_MNEMONIC_ROUNDSD: __asm__ volatile("roundsd $4, %1, %0" : "+x"(a->v) : "x"(b->v) : "memory"); return 0;
#define DP(INS, K) case K: __asm__ volatile(INS " %2, %1, %0" : "+x"(a->v) : "x"(b->v), "i"(K) : "memory"); break;
#define DP4(I, K) DP(I, K) DP(I, K + 1) DP(I, K + 2) DP(I, K + 3)
#define DP16(I, K) DP4(I, K) DP4(I, K + 4) DP4(I, K + 8) DP4(I, K + 12)
#define DP64(I, K) DP16(I, K) DP16(I, K + 16) DP16(I, K + 32) DP16(I, K + 48)
    case ZYDIS_MNEMONIC_DPPS:
        switch (imm & 0xff) { DP64("dpps", 0) DP64("dpps", 64) DP64("dpps", 128) DP64("dpps", 192) }
        return 0;
    case ZYDIS_MNEMONIC_DPPD:
        switch (imm & 0x33) {
        DP("dppd", 0x00) DP("dppd", 0x01) DP("dppd", 0x02) DP("dppd", 0x03)
        DP("dppd", 0x10) DP("dppd", 0x11) DP("dppd", 0x12) DP("dppd", 0x13)
        DP("dppd", 0x20) DP("dppd", 0x21) DP("dppd", 0x22) DP("dppd", 0x23)
        DP("dppd", 0x30) DP("dppd", 0x31) DP("dppd", 0x32) DP("dppd", 0x33)
        }
        return 0;
    default:
        return -1;
    }
}

/* CPUID.1:ECX bits of the host for the SSE3 and SSE4.1 instructions: without them
 * the guest gets #UD (the model does not report them either) */
#define HOST_SSE3  (1u << 0)
#define HOST_SSE41 (1u << 19)
static int host_has(uint32_t bit)
{
    static uint32_t ecx;
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        uint32_t a = 1, b, c = 0, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        __atomic_store_n(&ecx, c, __ATOMIC_RELAXED);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return (__atomic_load_n(&ecx, __ATOMIC_RELAXED) & bit) != 0;
}

static uint32_t host_need(unsigned mn)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_ADDSUBPS: case ZYDIS_MNEMONIC_ADDSUBPD: case ZYDIS_MNEMONIC_HADDPS:
    case ZYDIS_MNEMONIC_HADDPD: case ZYDIS_MNEMONIC_HSUBPS: case ZYDIS_MNEMONIC_HSUBPD:
        return HOST_SSE3;
    case ZYDIS_MNEMONIC_ROUNDPS: case ZYDIS_MNEMONIC_ROUNDPD: case ZYDIS_MNEMONIC_ROUNDSS:
    case ZYDIS_MNEMONIC_ROUNDSD: case ZYDIS_MNEMONIC_DPPS: case ZYDIS_MNEMONIC_DPPD:
        return HOST_SSE41;
    default:
        return 0;
    }
}

/*
 * Result lanes of the operations that can underflow: 'f' single or 'd'
 * double, and how many lanes from lane 0.  Used when UM is clear: hardware
 * then reports UE for any tiny result, exact ones included, which the
 * masked host run does not flag.
 */
static int uflow_lanes(unsigned mn, char *type)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_ADDPS: case ZYDIS_MNEMONIC_SUBPS: case ZYDIS_MNEMONIC_MULPS:
    case ZYDIS_MNEMONIC_DIVPS: case ZYDIS_MNEMONIC_ADDSUBPS: case ZYDIS_MNEMONIC_HADDPS:
    case ZYDIS_MNEMONIC_HSUBPS:
        *type = 'f';
        return 4;
    case ZYDIS_MNEMONIC_ADDSS: case ZYDIS_MNEMONIC_SUBSS: case ZYDIS_MNEMONIC_MULSS:
    case ZYDIS_MNEMONIC_DIVSS: case ZYDIS_MNEMONIC_CVTSD2SS:
        *type = 'f';
        return 1;
    case ZYDIS_MNEMONIC_CVTPD2PS:
        *type = 'f';
        return 2;
    case ZYDIS_MNEMONIC_ADDPD: case ZYDIS_MNEMONIC_SUBPD: case ZYDIS_MNEMONIC_MULPD:
    case ZYDIS_MNEMONIC_DIVPD: case ZYDIS_MNEMONIC_ADDSUBPD: case ZYDIS_MNEMONIC_HADDPD:
    case ZYDIS_MNEMONIC_HSUBPD:
        *type = 'd';
        return 2;
    case ZYDIS_MNEMONIC_ADDSD: case ZYDIS_MNEMONIC_SUBSD: case ZYDIS_MNEMONIC_MULSD:
    case ZYDIS_MNEMONIC_DIVSD:
        *type = 'd';
        return 1;
    default:
        return 0;
    }
}

static int has_denormal(const union fv *r, char type, int n)
{
    for (int i = 0; i < n; i++) {
        if (type == 'f') {
            if (!(r->d[i] & 0x7f800000u) && (r->d[i] & 0x007fffffu))
                return 1;
        } else if (!(r->q[i] & 0x7ff0000000000000ull) && (r->q[i] & 0x000fffffffffffffull)) {
            return 1;
        }
    }
    return 0;
}

/*
 * DPPS/DPPD with an unmasked exception: the hardware runs the multiply stage
 * and then the add stages (SDM DP_primitive), and a fault in a later stage
 * keeps the flags of the earlier ones.  Re-run stage by stage on the host
 * (masked) and return the flags the guest sees at the first stage with an
 * unmasked exception: all flags of the stages before, then that stage's
 * pre-computation flags only if one of those is unmasked, else all of it.
 */
static uint32_t dp_fault_flags(uint32_t guest, unsigned mn, const union fv *a, const union fv *b,
                               unsigned imm)
{
    uint32_t masks = (guest >> 7) & MX_FLAGS, acc = 0, st, saved;
    union fv x = *a, y = *b, p, q;
    int nl = mn == ZYDIS_MNEMONIC_DPPS ? 4 : 2;
    for (int i = 0; i < nl; i++)
        if (!(imm >> (4 + i) & 1)) {        /* unselected lane: +0.0 * +0.0, no flags */
            if (nl == 4) x.d[i] = y.d[i] = 0;
            else x.q[i] = y.q[i] = 0;
        }
    for (int stage = 0; stage < 3; stage++) {
        host_enter(guest, &saved);
        if (stage == 0) {
            if (nl == 4) __asm__ volatile("mulps %1, %0" : "+x"(x.v) : "x"(y.v) : "memory");
            else __asm__ volatile("mulpd %1, %0" : "+x"(x.v) : "x"(y.v) : "memory");
        } else if (nl == 2) {               /* DPPD: one add */
            p = x; q = x;
            q.q[0] = x.q[1];
            __asm__ volatile("addsd %1, %0" : "+x"(p.v) : "x"(q.v) : "memory");
            x = p;
        } else if (stage == 1) {            /* DPPS: t0+t1 and t2+t3 */
            p = x; q = x;
            p.d[1] = x.d[2]; q.d[0] = x.d[1]; q.d[1] = x.d[3]; p.d[2] = p.d[3] = q.d[2] = q.d[3] = 0;
            __asm__ volatile("addps %1, %0" : "+x"(p.v) : "x"(q.v) : "memory");
            x = p;
        } else {                            /* DPPS: the two sums */
            p = x; q = x;
            q.d[0] = x.d[1];
            __asm__ volatile("addss %1, %0" : "+x"(p.v) : "x"(q.v) : "memory");
            x = p;
        }
        st = host_leave(&saved);
        if (st & ~masks) {
            if (st & ~masks & MX_PRE)
                return acc | (st & MX_PRE);
            return acc | st;
        }
        acc |= st;
        if (nl == 2 && stage == 1)
            break;
    }
    return acc;
}

/*
 * PE of an unmasked overflow/underflow fault of ADD/SUB/MUL/DIV (PS, PD, SS,
 * SD).  The hardware reports the inexactness of each lane's result rounded
 * with an unbounded exponent.  Per lane: a lane without overflow/underflow
 * gives its ordinary PE; for one with, the operands are rescaled by powers of
 * two so the result is normal (MUL/DIV: significands in [1,2); ADD/SUB on
 * overflow: both divided by 4) and the host's PE of that is taken; an
 * ADD/SUB result that underflows is always exact.  Returns -1 for other
 * instructions (their PE stays that of the delivered result).
 */
static int scalar_of(unsigned mn, int *dbl, int *lanes, char *kind)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_ADDPS: case ZYDIS_MNEMONIC_ADDSS: *kind = '+'; break;
    case ZYDIS_MNEMONIC_SUBPS: case ZYDIS_MNEMONIC_SUBSS: *kind = '-'; break;
    case ZYDIS_MNEMONIC_MULPS: case ZYDIS_MNEMONIC_MULSS: *kind = '*'; break;
    case ZYDIS_MNEMONIC_DIVPS: case ZYDIS_MNEMONIC_DIVSS: *kind = '/'; break;
    case ZYDIS_MNEMONIC_ADDPD: case ZYDIS_MNEMONIC_ADDSD: *kind = '+'; break;
    case ZYDIS_MNEMONIC_SUBPD: case ZYDIS_MNEMONIC_SUBSD: *kind = '-'; break;
    case ZYDIS_MNEMONIC_MULPD: case ZYDIS_MNEMONIC_MULSD: *kind = '*'; break;
    case ZYDIS_MNEMONIC_DIVPD: case ZYDIS_MNEMONIC_DIVSD: *kind = '/'; break;
    default: return -1;
    }
    switch (mn) {
    case ZYDIS_MNEMONIC_ADDPS: case ZYDIS_MNEMONIC_SUBPS: case ZYDIS_MNEMONIC_MULPS: case ZYDIS_MNEMONIC_DIVPS:
        *dbl = 0; *lanes = 4; break;
    case ZYDIS_MNEMONIC_ADDSS: case ZYDIS_MNEMONIC_SUBSS: case ZYDIS_MNEMONIC_MULSS: case ZYDIS_MNEMONIC_DIVSS:
        *dbl = 0; *lanes = 1; break;
    case ZYDIS_MNEMONIC_ADDPD: case ZYDIS_MNEMONIC_SUBPD: case ZYDIS_MNEMONIC_MULPD: case ZYDIS_MNEMONIC_DIVPD:
        *dbl = 1; *lanes = 2; break;
    default:
        *dbl = 1; *lanes = 1; break;
    }
    return 0;
}

/* one scalar operation on lane 0 of the host; returns the raised flags */
static uint32_t scalar_run(uint32_t guest, int dbl, char kind, uint64_t x, uint64_t y)
{
    union fv a, b;
    uint32_t saved;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.q[0] = x;
    b.q[0] = y;
    host_enter(guest, &saved);
    if (dbl) {
        switch (kind) {
        case '+': __asm__ volatile("addsd %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        case '-': __asm__ volatile("subsd %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        case '*': __asm__ volatile("mulsd %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        default: __asm__ volatile("divsd %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        }
    } else {
        switch (kind) {
        case '+': __asm__ volatile("addss %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        case '-': __asm__ volatile("subss %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        case '*': __asm__ volatile("mulss %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        default: __asm__ volatile("divss %1, %0" : "+x"(a.v) : "x"(b.v) : "memory"); break;
        }
    }
    return host_leave(&saved);
}

/* the significand of a finite nonzero value as a number in [1,2), sign kept */
static uint64_t to_unit(uint64_t v, int dbl)
{
    unsigned mbits = dbl ? 52 : 23, ebits = dbl ? 11 : 8;
    uint64_t mmask = (1ull << mbits) - 1, sign = v & (1ull << (mbits + ebits));
    uint64_t exp = (v >> mbits) & ((1ull << ebits) - 1), sig = v & mmask;
    if (!exp)                                   /* denormal: normalise the significand */
        while (sig && !(sig >> mbits))
            sig <<= 1;
    uint64_t bias = (1ull << (ebits - 1)) - 1;
    return sign | (bias << mbits) | (sig & mmask);
}

static int unbounded_pe(uint32_t guest, unsigned mn, const union fv *a, const union fv *b)
{
    int dbl, lanes, pe = 0;
    char kind;
    if (scalar_of(mn, &dbl, &lanes, &kind))
        return -1;
    unsigned mbits = dbl ? 52 : 23;
    uint64_t emask = dbl ? 0x7ffull : 0xffull;
    uint64_t mag = (1ull << (mbits + (dbl ? 11 : 8))) - 1;    /* all but the sign */
    for (int i = 0; i < lanes; i++) {
        uint64_t x = dbl ? a->q[i] : a->d[i], y = dbl ? b->q[i] : b->d[i];
        uint32_t f = scalar_run(guest, dbl, kind, x, y);
        if (!(f & 0x18u)) {                      /* no overflow/underflow in this lane */
            pe |= (f & 0x20u) != 0;
            continue;
        }
        if (kind == '*' || kind == '/') {
            f = scalar_run(guest, dbl, kind, to_unit(x, dbl), to_unit(y, dbl));
            pe |= (f & 0x20u) != 0;
        } else if (f & 0x08u) {                  /* ADD/SUB overflow: both / 4 */
            uint64_t ex = (x >> mbits) & emask, ey = (y >> mbits) & emask;
            if ((ex <= 2 && (x & mag)) || (ey <= 2 && (y & mag))) {
                pe = 1;                          /* a tiny operand below the huge one's ulp */
                continue;
            }
            if (ex > 2) x -= 2ull << mbits;
            if (ey > 2) y -= 2ull << mbits;
            f = scalar_run(guest, dbl, kind, x, y);
            pe |= (f & 0x20u) != 0;
        }
        /* ADD/SUB underflow: exact */
    }
    return pe;
}

/* Store or fault per the rules above.  Returns V3_X_NEXT when the result may be stored. */
/* #XM with CR4.OSXMMEXCPT, else #UD */
static int fp_fault(struct v3_emu_ctx *ctx)
{
    if (ctx->core->cr4 & V3_CR4_OSXMMEXCPT)
        return v3_raise(ctx, V3_EXC_XM, 0, 0);
    return v3_exc_ud(ctx);
}

static int fp_outcome(struct v3_emu_ctx *ctx, uint32_t raised)
{
    struct v3_core *c = ctx->core;
    uint32_t unmasked = raised & ~(c->fpu.mxcsr >> 7) & MX_FLAGS;
    if (!unmasked) {
        c->fpu.mxcsr |= raised;
        return V3_X_NEXT;
    }
    if (unmasked & MX_PRE)
        c->fpu.mxcsr |= raised & MX_PRE;
    else
        c->fpu.mxcsr |= raised;
    return fp_fault(ctx);
}

static int op_fp(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    union fv a, b;
    unsigned imm = 0, mn = in->mnemonic;
    uint32_t saved, raised, guest;
    int st, r;
    if (in->nops < 2 || d->kind != V3_OPK_REG || (d->cls != V3_RC_XMM && d->cls != V3_RC_MMX))
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_check(ctx, in)))
        return st;
    if (host_need(mn) && !host_has(host_need(mn)))
        return v3_exc_ud(ctx);
    if (in->nops >= 3 && in->op[2].kind == V3_OPK_IMM)
        imm = (unsigned)in->op[2].val & 0xff;
    if ((st = v3_vec_read(ctx, in, s, 1, b.b)))
        return st;
    memset(&a, 0, sizeof(a));
    if (d->cls == V3_RC_XMM)
        memcpy(a.b, c->fpu.xmm[d->reg & 15], 16);
    else
        memcpy(a.b, c->fpu.st[d->reg & 7], 8);
    guest = c->fpu.mxcsr;
    if ((mn == ZYDIS_MNEMONIC_ROUNDPS || mn == ZYDIS_MNEMONIC_ROUNDPD || mn == ZYDIS_MNEMONIC_ROUNDSS ||
         mn == ZYDIS_MNEMONIC_ROUNDSD) && !(imm & 4))
        guest = (guest & ~0x6000u) | (imm & 3) << 13;
    /* UM clear: FTZ does not apply, and an exact tiny result reports UE too */
    int um_clear = !(guest & 0x800u);
    if (um_clear)
        guest &= ~0x8000u;
    union fv a_in = a;
    host_enter(guest, &saved);
    r = host_op(mn, &a, &b, imm);
    raised = host_leave(&saved);
    if (r)
        return V3_X_UNSUPPORTED;
    if (um_clear && !(raised & MX_PRE & ~(c->fpu.mxcsr >> 7))) {
        char type = 0;
        int n = uflow_lanes(mn, &type);
        if (n && has_denormal(&a, type, n))
            raised |= 0x10u;
    }
    if ((mn == ZYDIS_MNEMONIC_ROUNDPS || mn == ZYDIS_MNEMONIC_ROUNDPD || mn == ZYDIS_MNEMONIC_ROUNDSS ||
         mn == ZYDIS_MNEMONIC_ROUNDSD) && (imm & 8))
        raised &= ~0x20u;    /* imm[3]: precision exception suppressed */
    if ((raised & 0x18u & ~(c->fpu.mxcsr >> 7)) && !(raised & MX_PRE & ~(c->fpu.mxcsr >> 7))) {
        int pe = unbounded_pe(guest, mn, &a_in, &b);
        if (pe >= 0)
            raised = (raised & ~0x20u) | (pe ? 0x20u : 0);
    }
    if ((mn == ZYDIS_MNEMONIC_DPPS || mn == ZYDIS_MNEMONIC_DPPD) &&
        (raised & ~(c->fpu.mxcsr >> 7) & MX_FLAGS)) {
        c->fpu.mxcsr |= dp_fault_flags(guest, mn, &a_in, &b, imm);
        return fp_fault(ctx);
    }
    if ((st = fp_outcome(ctx, raised)))
        return st;
    v3_vec_set(c, d, a.b);
    if (v3_vec_uses(in, V3_RC_MMX))
        v3_vec_mmx_enter(c);
    return V3_X_NEXT;
}

/* COMISS/UCOMISS/COMISD/UCOMISD xmm, xmm/m: ZF PF CF, OF SF AF cleared */
static int op_comis(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    union fv a, b;
    uint32_t saved, raised;
    uint8_t zf, pf, cf;
    int st;
    if (in->nops < 2 || in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if ((st = v3_vec_read(ctx, in, &in->op[1], 1, b.b)))
        return st;
    memcpy(a.b, c->fpu.xmm[in->op[0].reg & 15], 16);
    host_enter(c->fpu.mxcsr, &saved);
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_COMISS:
        __asm__ volatile("comiss %3, %4" : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf) : "x"(b.v), "x"(a.v) : "memory");
        break;
    case ZYDIS_MNEMONIC_UCOMISS:
        __asm__ volatile("ucomiss %3, %4" : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf) : "x"(b.v), "x"(a.v) : "memory");
        break;
    case ZYDIS_MNEMONIC_COMISD:
        __asm__ volatile("comisd %3, %4" : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf) : "x"(b.v), "x"(a.v) : "memory");
        break;
    default:
        __asm__ volatile("ucomisd %3, %4" : "=@ccz"(zf), "=@ccp"(pf), "=@ccc"(cf) : "x"(b.v), "x"(a.v) : "memory");
        break;
    }
    raised = host_leave(&saved);
    if ((st = fp_outcome(ctx, raised)))
        return st;
    v3_flags_replace_arith(c, (zf ? V3_FLAG_ZF : 0) | (pf ? V3_FLAG_PF : 0) | (cf ? V3_FLAG_CF : 0));
    return V3_X_NEXT;
}

/* CVTSI2SS/SD xmm, r/m32|64 */
static int op_cvtsi2s(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *s = &in->op[1];
    union fv a;
    uint64_t v;
    uint32_t saved, raised;
    int st, w;
    if (in->nops < 2 || in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    w = s->size == 8;
    if ((st = v3_op_read(ctx, in, s, w ? 8 : 4, &v)))
        return st;
    memcpy(a.b, c->fpu.xmm[in->op[0].reg & 15], 16);
    host_enter(c->fpu.mxcsr, &saved);
    if (in->mnemonic == ZYDIS_MNEMONIC_CVTSI2SS) {
        if (w) __asm__ volatile("cvtsi2ssq %1, %0" : "+x"(a.v) : "r"(v) : "memory");
        else __asm__ volatile("cvtsi2ssl %1, %0" : "+x"(a.v) : "r"((uint32_t)v) : "memory");
    } else {
        if (w) __asm__ volatile("cvtsi2sdq %1, %0" : "+x"(a.v) : "r"(v) : "memory");
        else __asm__ volatile("cvtsi2sdl %1, %0" : "+x"(a.v) : "r"((uint32_t)v) : "memory");
    }
    raised = host_leave(&saved);
    if ((st = fp_outcome(ctx, raised)))
        return st;
    memcpy(c->fpu.xmm[in->op[0].reg & 15], a.b, 16);
    return V3_X_NEXT;
}

/* CVT(T)SS2SI / CVT(T)SD2SI r32|64, xmm/m */
static int op_cvts2si(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0];
    union fv b;
    uint64_t v = 0;
    uint32_t saved, raised, v32 = 0;
    int st, w;
    if (in->nops < 2 || d->kind != V3_OPK_REG || d->cls != V3_RC_GPR)
        return V3_X_UNSUPPORTED;
    if ((st = v3_vec_avail(ctx, 0, 1)))
        return st;
    if ((st = v3_vec_read(ctx, in, &in->op[1], 0, b.b)))
        return st;
    w = d->size == 8;
    host_enter(c->fpu.mxcsr, &saved);
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_CVTSS2SI:
        if (w) __asm__ volatile("cvtss2si %1, %0" : "=r"(v) : "x"(b.v) : "memory");
        else __asm__ volatile("cvtss2si %1, %0" : "=r"(v32) : "x"(b.v) : "memory");
        break;
    case ZYDIS_MNEMONIC_CVTTSS2SI:
        if (w) __asm__ volatile("cvttss2si %1, %0" : "=r"(v) : "x"(b.v) : "memory");
        else __asm__ volatile("cvttss2si %1, %0" : "=r"(v32) : "x"(b.v) : "memory");
        break;
    case ZYDIS_MNEMONIC_CVTSD2SI:
        if (w) __asm__ volatile("cvtsd2si %1, %0" : "=r"(v) : "x"(b.v) : "memory");
        else __asm__ volatile("cvtsd2si %1, %0" : "=r"(v32) : "x"(b.v) : "memory");
        break;
    default:
        if (w) __asm__ volatile("cvttsd2si %1, %0" : "=r"(v) : "x"(b.v) : "memory");
        else __asm__ volatile("cvttsd2si %1, %0" : "=r"(v32) : "x"(b.v) : "memory");
        break;
    }
    raised = host_leave(&saved);
    if ((st = fp_outcome(ctx, raised)))
        return st;
    c->gpr[d->reg & 15] = w ? v : v32;
    return V3_X_NEXT;
}

#define F(m) { ZYDIS_MNEMONIC_##m, 0, op_fp }
const struct v3_op_entry v3_ops_vfp[] = {
    F(ADDPS), F(ADDPD), F(ADDSS), F(ADDSD), F(SUBPS), F(SUBPD), F(SUBSS), F(SUBSD),
    F(MULPS), F(MULPD), F(MULSS), F(MULSD), F(DIVPS), F(DIVPD), F(DIVSS), F(DIVSD),
    F(MINPS), F(MINPD), F(MINSS), F(MINSD), F(MAXPS), F(MAXPD), F(MAXSS), F(MAXSD),
    F(SQRTPS), F(SQRTPD), F(SQRTSS), F(SQRTSD), F(RCPPS), F(RCPSS), F(RSQRTPS), F(RSQRTSS),
    F(ADDSUBPS), F(ADDSUBPD), F(HADDPS), F(HADDPD), F(HSUBPS), F(HSUBPD),
    F(CVTPS2PD), F(CVTPD2PS), F(CVTSS2SD), F(CVTSD2SS), F(CVTDQ2PS), F(CVTPS2DQ), F(CVTTPS2DQ),
    F(CVTDQ2PD), F(CVTPD2DQ), F(CVTTPD2DQ), F(CVTPI2PS), F(CVTPI2PD), F(CVTPS2PI), F(CVTTPS2PI),
    F(CVTPD2PI), F(CVTTPD2PI),
    F(CMPPS), F(CMPPD), F(CMPSS),
    F(ROUNDPS), F(ROUNDPD), F(ROUNDSS), F(ROUNDSD), F(DPPS), F(DPPD),
    { ZYDIS_MNEMONIC_COMISS, 0, op_comis }, { ZYDIS_MNEMONIC_UCOMISS, 0, op_comis },
    { ZYDIS_MNEMONIC_COMISD, 0, op_comis }, { ZYDIS_MNEMONIC_UCOMISD, 0, op_comis },
    { ZYDIS_MNEMONIC_CVTSI2SS, 0, op_cvtsi2s }, { ZYDIS_MNEMONIC_CVTSI2SD, 0, op_cvtsi2s },
    { ZYDIS_MNEMONIC_CVTSS2SI, 0, op_cvts2si }, { ZYDIS_MNEMONIC_CVTTSS2SI, 0, op_cvts2si },
    { ZYDIS_MNEMONIC_CVTSD2SI, 0, op_cvts2si }, { ZYDIS_MNEMONIC_CVTTSD2SI, 0, op_cvts2si },
    { 0, 0, NULL },
};
#undef F

/* CMPSD (the SSE2 compare): shares its mnemonic with the string instruction,
 * whose handler calls this for the 0F C2 encoding. */
int v3_op_vfp_cmpsd(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return op_fp(ctx, in);
}
