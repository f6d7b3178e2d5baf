/* SPDX-License-Identifier: MIT */
/*
 * x87 transcendentals: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS,
 * FSINCOS - our own implementation (no libm).
 *
 * Arithmetic: "double-extended-double" numbers (an unevaluated sum hi + lo
 * of two 80-bit values, about 128 significant bits), built from the exact
 * error-free transformations (two-sum, Dekker's product with the 2^32 + 1
 * split) on the host's long double, which gcc and clang compile to inline
 * x87 instructions (no library calls; the process runs with the default
 * x87 control word: 64-bit precision, round to nearest).  Each function is a
 * Taylor/atanh series on a reduced argument, evaluated to about 2^-120
 * relative; the final hi + lo is rounded once, on the host FPU under the
 * guest's control word, which gives the guest's precision and rounding
 * control, C1 (rounded up), PE, UE and OE as the hardware reports them.
 *
 * Trigonometric argument reduction follows the hardware: x is reduced
 * EXACTLY modulo P/2, where P is the 66-bit approximation of pi both AMD
 * and Intel x87 units use (P = 0xC90FDAA22168C234C * 2^-66; the host EPYC
 * agrees with it on 297 of 300 random arguments up to 2^63, against 90 of
 * 300 for the true pi - measured with tests/cpu/test_x87diff --trans and
 * an mpmath model).  The reduced argument is then treated as if it had
 * been reduced with the true pi, as the hardware does.  |x| >= 2^63 sets C2
 * and leaves the operand unchanged.
 *
 * Agreement with the host (AMD EPYC): the results here are the correctly
 * rounded values of the functions above; the hardware is not always
 * correctly rounded.  Measured with test_cpu_x87diff --trans --seed 7
 * --cases 200000 (random operands including special values, random rounding
 * and precision control): of 135240 results with normal operands and
 * results, 460 (0.34%) differ, all by one ulp (per instruction 0.09% for
 * FSINCOS to 0.47% for F2XM1); of 64611 with a denormal operand or result,
 * 613 (0.9%) differ; C1 (rounded up) or PE alone differ in 2.9% of the
 * cases.  The CTest run bounds: no difference of 16 ulp or more, at most
 * 5% of the results differing.
 *
 * Out-of-domain behaviour copies AMD: F2XM1 with |x| > 1 leaves the operand
 * (PE); FYL2XP1 computes log2(1 + x) for every x > -1 and gives x for
 * x <= -1 (PE); sin and tan of a denormal are rounded per RC.  Precision
 * control does not apply to the transcendentals (SDM vol. 1 8.1.5.2: only
 * to FADD FSUB(R) FMUL FDIV(R) FSQRT): results are always rounded to 64
 * bits, with the rounding control.
 *
 * AMD and Intel differ (not modelled: the guest sees these values whatever
 * the host): the last-bit rounding of the transcendental results (both
 * document "within 1 ulp"), and F2XM1 outside its domain [-1, 1] (results
 * undefined by both manuals).  Both use the same 66-bit pi reduction.
 */
#include <Zydis/Zydis.h>
#include "emu/x87.h"

typedef long double ld;

_Static_assert(sizeof(ld) >= 10 && __LDBL_MANT_DIG__ == 64, "x87 80-bit long double required");

struct dd {
    ld hi, lo;
};

#define LN2_HI 0xb17217f7d1cf79acp-64L
#define LN2_LO -0xd871319ff0342543p-130L
#define PI_HI 0xc90fdaa22168c235p-62L
#define PI_LO -0xece675d1fc8f8cbbp-128L
#define PI_2_HI 0xc90fdaa22168c235p-63L
#define PI_2_LO -0xece675d1fc8f8cbbp-129L
#define LOG2E_HI 0xb8aa3b295c17f0bcp-63L
#define LOG2E_LO -0x82f0025f2dc582eep-128L

/* ------------------------------------------------------------ double-extended-double */

static inline struct dd dd_make(ld hi, ld lo) { struct dd r = { hi, lo }; return r; }

static inline struct dd two_sum(ld a, ld b)
{
    ld s = a + b, bb = s - a;
    return dd_make(s, (a - (s - bb)) + (b - bb));
}

static inline struct dd quick_two_sum(ld a, ld b)
{
    ld s = a + b;
    return dd_make(s, b - (s - a));
}

static inline void split(ld a, ld *h, ld *l)
{
    ld c = 4294967297.0L * a;       /* 2^32 + 1 */
    *h = c - (c - a);
    *l = a - *h;
}

static inline struct dd two_prod(ld a, ld b)
{
    ld p = a * b, ah, al, bh, bl;
    split(a, &ah, &al);
    split(b, &bh, &bl);
    return dd_make(p, ((ah * bh - p) + ah * bl + al * bh) + al * bl);
}

static struct dd dd_add(struct dd x, struct dd y)
{
    struct dd s = two_sum(x.hi, y.hi), t = two_sum(x.lo, y.lo);
    s.lo += t.hi;
    s = quick_two_sum(s.hi, s.lo);
    s.lo += t.lo;
    return quick_two_sum(s.hi, s.lo);
}

static struct dd dd_neg(struct dd x) { return dd_make(-x.hi, -x.lo); }
static struct dd dd_sub(struct dd x, struct dd y) { return dd_add(x, dd_neg(y)); }

static struct dd dd_mul(struct dd x, struct dd y)
{
    struct dd p = two_prod(x.hi, y.hi);
    p.lo += x.hi * y.lo + x.lo * y.hi;
    return quick_two_sum(p.hi, p.lo);
}

static struct dd dd_mul_ld(struct dd x, ld y)
{
    struct dd p = two_prod(x.hi, y);
    p.lo += x.lo * y;
    return quick_two_sum(p.hi, p.lo);
}

static struct dd dd_div(struct dd x, struct dd y)
{
    ld q1 = x.hi / y.hi;
    struct dd r = dd_sub(x, dd_mul_ld(y, q1));
    ld q2 = r.hi / y.hi;
    r = dd_sub(r, dd_mul_ld(y, q2));
    ld q3 = r.hi / y.hi;
    struct dd q = quick_two_sum(q1, q2);
    return dd_add(q, dd_make(q3, 0));
}

static struct dd dd_div_ld(struct dd x, ld y) { return dd_div(x, dd_make(y, 0)); }

static ld hsqrt(ld x)
{
    __asm__("fsqrt" : "+t"(x));
    return x;
}

static struct dd dd_sqrt(struct dd a)
{
    ld s = hsqrt(a.hi);
    if (s == 0)
        return dd_make(0, 0);
    /* one Newton step: s + (a - s^2) / (2s) */
    struct dd e = dd_sub(a, two_prod(s, s));
    return quick_two_sum(s, e.hi / (2 * s));
}

/* ------------------------------------------------------------ functions on reduced arguments */

/* sin(r), cos(r) for |r| <= 0.8 */
static struct dd dd_sin(struct dd r)
{
    struct dd r2 = dd_mul(r, r), s = dd_make(1, 0);
    for (int k = 18; k >= 1; k--)
        s = dd_sub(dd_make(1, 0), dd_div_ld(dd_mul(r2, s), (ld)((2 * k) * (2 * k + 1))));
    return dd_mul(r, s);
}

static struct dd dd_cos(struct dd r)
{
    struct dd r2 = dd_mul(r, r), s = dd_make(1, 0);
    for (int k = 18; k >= 1; k--)
        s = dd_sub(dd_make(1, 0), dd_div_ld(dd_mul(r2, s), (ld)((2 * k - 1) * (2 * k))));
    return s;
}

/* e^t - 1 for |t| <= 0.7 */
static struct dd dd_expm1(struct dd t)
{
    struct dd s = dd_make(1, 0);
    for (int k = 34; k >= 2; k--)
        s = dd_add(dd_make(1, 0), dd_div_ld(dd_mul(t, s), (ld)k));
    return dd_mul(t, s);
}

/* 2 atanh(s) = ln((1+s)/(1-s)) for |s| <= 0.18 */
static struct dd dd_2atanh(struct dd s)
{
    struct dd s2 = dd_mul(s, s), sum = dd_make(0, 0);
    for (int k = 30; k >= 0; k--)
        sum = dd_add(dd_div_ld(dd_make(1, 0), (ld)(2 * k + 1)), dd_mul(s2, sum));
    return dd_mul_ld(dd_mul(s, sum), 2);
}

/* atan(r) for 0 <= r <= 1: three argument halvings, then the series */
static struct dd dd_atan01(struct dd r)
{
    for (int i = 0; i < 3; i++) {
        struct dd h = dd_sqrt(dd_add(dd_make(1, 0), dd_mul(r, r)));
        r = dd_div(r, dd_add(dd_make(1, 0), h));
    }
    struct dd r2 = dd_mul(r, r), sum = dd_make(0, 0);
    for (int k = 24; k >= 0; k--) {
        struct dd c = dd_div_ld(dd_make(1, 0), (ld)(2 * k + 1));
        sum = dd_add(k & 1 ? dd_neg(c) : c, dd_mul(r2, sum));
    }
    return dd_mul_ld(dd_mul(r, sum), 8);
}

/* ln(x) for a finite x > 0 given as mantissa and unbiased exponent */
static struct dd dd_ln_pos(ld x)
{
    /* x = m * 2^e with m in [sqrt(1/2), sqrt(2)) */
    struct x87v v;
    memcpy(v.b, &x, 10);
    int e = (int)(x87v_se(&v) & 0x7fff) - 16383;
    uint64_t mant = x87v_mant(&v);
    if ((x87v_se(&v) & 0x7fff) == 0) {        /* denormal: normalise */
        int sh = __builtin_clzll(mant);
        mant <<= sh;
        e = -16382 - sh;
    }
    struct x87v mv = x87v_make(16383, mant);
    ld m;
    memcpy(&m, mv.b, 10);
    if (m > 1.41421356237309504880L) {
        m *= 0.5L;
        e++;
    }
    struct dd s = dd_div(dd_make(m - 1, 0), dd_make(m + 1, 0));   /* m - 1, m + 1 exact */
    struct dd lnm = dd_2atanh(s);
    return dd_add(dd_mul_ld(dd_make(LN2_HI, LN2_LO), (ld)e), lnm);
}

/* ------------------------------------------------------------ guest interface */

static const struct x87v x87v_one = { { 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f } };

enum cls { C_ZERO, C_DENORM, C_NORMAL, C_INF, C_QNAN, C_SNAN, C_UNSUPP };

static enum cls classify(const struct x87v *v)
{
    unsigned e = x87v_se(v) & 0x7fff;
    uint64_t m = x87v_mant(v);
    if (e == 0)
        return m ? C_DENORM : C_ZERO;
    if (!(m >> 63))
        return C_UNSUPP;
    if (e == 0x7fff) {
        if (!(m << 1))
            return C_INF;
        return (m >> 62) & 1 ? C_QNAN : C_SNAN;
    }
    return C_NORMAL;
}

static ld to_ld(const struct x87v *v)
{
    ld x = 0;
    struct x87v t = *v;
    if ((x87v_se(&t) & 0x7fff) == 0 && (x87v_mant(&t) >> 63))  /* pseudo-denormal: exponent 1 */
        t = x87v_make((x87v_se(&t) & 0x8000) | 1, x87v_mant(&t));
    memcpy(&x, t.b, 10);
    return x;
}

/* Round hi + lo under the guest control word; returns the exceptions
 * (PE UE OE) with C1 in *c1.  @p din: the input was denormal (DE). */
static unsigned round_out(const struct v3_fpu_state *f, struct dd v, struct x87v *out, unsigned *c1)
{
    struct x87h h;
    memset(&h, 0, sizeof(h));
    memcpy(h.x, &v.hi, 10);
    memcpy(h.y, &v.lo, 10);
    h.cw = (uint16_t)(f->fcw | 0x300);   /* precision control does not apply to transcendentals */
    h.sw = f->fsw;
    v3_x87_host(X87H_ADD0, &h);
    memcpy(out->b, h.r0, 10);
    *c1 = h.sw & X87_C1;
    return h.sw & (X87_PE | X87_UE | X87_OE);
}

/* Round v * 2^-128 (a value computed scaled up, so that nothing underflowed
 * on the way) under the guest control word. */
#define TINY 0x1p-16000L
static unsigned round_out_scaled(const struct v3_fpu_state *f, struct dd v, struct x87v *out, unsigned *c1)
{
    ld a = v.hi < 0 ? -v.hi : v.hi;
    if (a >= 0x1p-16254L || a == 0) {
        /* a normal result: rounded in the scaled domain, then scaled exactly */
        struct x87v rs;
        ld rv;
        unsigned e = round_out(f, v, &rs, c1);
        memcpy(&rv, rs.b, 10);
        rv *= 0x1p-128L;
        memcpy(out->b, &rv, 10);
        return e;
    }
    /* a denormal result: hi rounded to odd with lo as the sticky part, then
     * the single rounding to the denormal precision by FSCALE */
    struct x87v h;
    memcpy(h.b, &v.hi, 10);
    uint64_t m = x87v_mant(&h);
    unsigned se = x87v_se(&h);
    if (v.lo != 0) {
        if ((v.lo < 0) != (v.hi < 0)) {        /* |v| < |hi|: truncate */
            if (m == 1ull << 63) {
                m = ~0ull;
                se--;
            } else {
                m--;
            }
        }
        m |= 1;
    }
    h = x87v_make(se, m);
    struct x87h hh;
    ld sc = -128.0L;
    memset(&hh, 0, sizeof(hh));
    memcpy(hh.x, h.b, 10);
    memcpy(hh.y, &sc, 10);
    hh.cw = (uint16_t)(f->fcw | 0x300);
    hh.sw = f->fsw;
    v3_x87_host(X87H_SCALE, &hh);
    memcpy(out->b, hh.r0, 10);
    *c1 = hh.sw & X87_C1;
    return hh.sw & (X87_PE | X87_UE | X87_OE);
}

/* The host's NaN propagation (quieting, IE for SNaN and unsupported
 * formats, choice between two NaNs) through an exact host operation. */
static unsigned nan_result(const struct v3_fpu_state *f, const struct x87v *a, const struct x87v *b,
                           struct x87v *out)
{
    struct x87h h;
    memset(&h, 0, sizeof(h));
    memcpy(h.x, a->b, 10);
    memcpy(h.y, b ? b->b : a->b, 10);
    h.cw = (uint16_t)(f->fcw | 0x3f);
    h.sw = f->fsw;
    v3_x87_host(b ? X87H_ADD0 : X87H_SQRT, &h);
    memcpy(out->b, h.r0, 10);
    return h.sw & 0x3f;
}

/* Commit: record @p exc; unless an unmasked IE/DE/ZE aborts, write the
 * results (ST(0) and optionally a pushed value) and set C1. */
static int commit(struct v3_fpu_state *f, unsigned exc, unsigned c1, const struct x87v *st0,
                  const struct x87v *push, unsigned c2)
{
    unsigned unm = exc & ~(unsigned)f->fcw & 0x3f;
    if (c2 != 1)                                /* the trigonometric forms: C2 = 0 (in range) */
        f->fsw = (uint16_t)((f->fsw & ~X87_C2) | c2);
    if (unm & (X87_IE | X87_DE | X87_ZE)) {     /* aborted before any result */
        v3_x87_raise(f, exc & (X87_IE | X87_DE | X87_ZE));
        return V3_X_NEXT;
    }
    v3_x87_raise(f, exc);
    f->fsw = (uint16_t)((f->fsw & ~X87_C1) | c1);
    if (st0)
        v3_x87_put(f, 0, st0);
    if (push)
        v3_x87_push(f, push);
    return V3_X_NEXT;
}

/* x mod P/2 (P the hardware's 66-bit pi) for x >= 0, |x| < 2^63: the
 * reduced argument in [-P/4, P/4] and the quadrant n (mod 4). */
static struct dd reduce(const struct x87v *v, unsigned *quad)
{
    ld x = to_ld(v);
    if (x < 0)
        x = -x;
    if (x <= 0.78539816339744830961L) {
        *quad = 0;
        return dd_make(x, 0);
    }
    const unsigned __int128 pm = ((unsigned __int128)0xCull << 64) | 0x90FDAA22168C234Cull;  /* P/2 * 2^67 */
    uint64_t m = x87v_mant(v);
    int sh = (int)(x87v_se(v) & 0x7fff) - 16383 - 63 + 67;   /* X = m << sh, sh in [3, 66] */
    unsigned __int128 r = 0;
    uint64_t q = 0;
    for (int i = 63 + sh; i >= 0; i--) {
        unsigned bit = (i >= sh && i - sh < 64) ? (unsigned)((m >> (i - sh)) & 1) : 0;
        r = (r << 1) | bit;
        q <<= 1;
        if (r >= pm) {
            r -= pm;
            q |= 1;
        }
    }
    int neg = 0;
    if (2 * r > pm) {
        r = pm - r;
        q++;
        neg = 1;
    }
    /* r * 2^-67: 68 bits, exact as hi + lo */
    ld hi = (ld)(uint64_t)(r >> 4) * 0x1p-63L, lo = (ld)(uint64_t)(r & 15) * 0x1p-67L;
    struct dd red = quick_two_sum(hi, lo);
    *quad = (unsigned)(q & 3);
    return neg ? dd_neg(red) : red;
}

static int op_trig(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned mn = in->mnemonic, exc = 0, c1 = 0;
    bool pushes = mn == ZYDIS_MNEMONIC_FSINCOS || mn == ZYDIS_MNEMONIC_FPTAN;
    struct x87v x, r0, r1;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!x87_valid(f, 0)) {
        f->fsw &= (uint16_t)~X87_C2;
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        if (pushes)
            v3_x87_push(f, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    if (pushes && x87_valid(f, 7)) {
        f->fsw &= (uint16_t)~X87_C2;
        if (v3_x87_overflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 0, &v3_x87_indefinite);
        v3_x87_push(f, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    x = x87_get(f, 0);
    enum cls k = classify(&x);
    bool neg = (x87v_se(&x) & 0x8000) != 0;
    switch (k) {
    case C_QNAN: case C_SNAN: case C_UNSUPP:
        exc = nan_result(f, &x, NULL, &r0);
        return commit(f, exc, 0, &r0, pushes ? &r0 : NULL, 0);
    case C_INF:
        return commit(f, X87_IE, 0, &v3_x87_indefinite, pushes ? &v3_x87_indefinite : NULL, 0);
    case C_ZERO: {
        struct x87v one = x87v_make(16383, 1ull << 63);
        switch (mn) {
        case ZYDIS_MNEMONIC_FSIN: return commit(f, 0, 0, &x, NULL, 0);
        case ZYDIS_MNEMONIC_FCOS: return commit(f, 0, 0, &one, NULL, 0);
        case ZYDIS_MNEMONIC_FSINCOS: return commit(f, 0, 0, &x, &one, 0);
        default: return commit(f, 0, 0, &x, &one, 0);                  /* FPTAN */
        }
    }
    default:
        break;
    }
    if ((x87v_se(&x) & 0x7fff) >= 16383 + 63) {       /* out of range: C2 = 1, nothing else */
        f->fsw |= X87_C2;
        return V3_X_NEXT;
    }
    if (k == C_DENORM)
        exc |= X87_DE;
    {
        ld xv = to_ld(&x);
        if (xv < TINY && xv > -TINY) {
            /* sin x = x - x^3/6, tan x = x + x^3/3, cos x = 1 - x^2/2 with x in
             * the denormal range: computed scaled by 2^128, rounded once */
            struct dd sx = dd_make(xv * 0x1p128L, 0);
            struct dd ts = dd_add(sx, dd_make(-sx.hi * 0x1p-70L, 0));     /* |sin x| < |x| */
            struct dd tt = dd_add(sx, dd_make(sx.hi * 0x1p-70L, 0));      /* |tan x| > |x| */
            struct x87v one;
            unsigned e1, c1b = 0;
            unsigned e2 = round_out(f, dd_make(1, -0x1p-100L), &one, &c1b);
            switch (mn) {
            case ZYDIS_MNEMONIC_FSIN:
                e1 = round_out_scaled(f, ts, &r0, &c1);
                return commit(f, exc | e1 | X87_PE, c1, &r0, NULL, 0);
            case ZYDIS_MNEMONIC_FCOS:
                return commit(f, exc | e2, c1b, &one, NULL, 0);
            case ZYDIS_MNEMONIC_FSINCOS:
                e1 = round_out_scaled(f, ts, &r0, &c1);
                return commit(f, exc | e1 | e2 | X87_PE, c1b, &r0, &one, 0);
            default:
                e1 = round_out_scaled(f, tt, &r0, &c1);
                return commit(f, exc | e1 | X87_PE, c1, &r0, &x87v_one, 0);
            }
        }
    }

    unsigned quad;
    struct dd r = reduce(&x, &quad), s, c, a, b;
    if (r.hi < 0x1p-40L && r.hi > -0x1p-40L && quad == 0) {
        /* tiny: sin r = r - r^3/6 and tan r = r + r^3/3 with r^3 possibly
         * underflowing: a sticky term of the right sign instead */
        ld t = r.hi * 0x1p-70L;
        if (t == 0)
            t = r.hi > 0 ? 0x1p-16445L : -0x1p-16445L;
        s = dd_make(r.hi, -t);
        c = dd_make(1, r.hi == 0 ? 0 : -0x1p-100L);
        if (mn == ZYDIS_MNEMONIC_FPTAN)
            s = dd_make(r.hi, t);
    } else {
        s = dd_sin(r);
        c = dd_cos(r);
    }
    /* quadrant: sin(r + n pi/2), cos(r + n pi/2) */
    switch (quad) {
    case 0: a = s; b = c; break;
    case 1: a = c; b = dd_neg(s); break;
    case 2: a = dd_neg(s); b = dd_neg(c); break;
    default: a = dd_neg(c); b = s; break;
    }
    if (neg)
        a = dd_neg(a);                  /* sin odd, cos even */
    unsigned e1 = 0, e2 = 0, c1b = 0;
    struct x87v one = x87v_make(16383, 1ull << 63);
    switch (mn) {
    case ZYDIS_MNEMONIC_FSIN:
        e1 = round_out(f, a, &r0, &c1);
        return commit(f, exc | e1, c1, &r0, NULL, 0);
    case ZYDIS_MNEMONIC_FCOS:
        e1 = round_out(f, b, &r0, &c1);
        return commit(f, exc | e1, c1, &r0, NULL, 0);
    case ZYDIS_MNEMONIC_FSINCOS:
        e1 = round_out(f, a, &r0, &c1b);
        e2 = round_out(f, b, &r1, &c1);
        return commit(f, exc | e1 | e2, c1, &r0, &r1, 0);
    default: {                          /* FPTAN: ST(0) = tan, push 1 */
        struct dd t = (quad & 1) ? dd_neg(dd_div(c, s)) : dd_div(s, c);
        if (r.hi < 0x1p-40L && r.hi > -0x1p-40L && quad == 0)
            t = s;
        if (neg)
            t = dd_neg(t);
        e1 = round_out(f, t, &r0, &c1);
        return commit(f, exc | e1, c1, &r0, &one, 0);
    }
    }
}

/* F2XM1: ST(0) = 2^ST(0) - 1 */
static int op_f2xm1(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    struct x87v x, r0;
    unsigned exc = 0, c1 = 0;
    int st;
    (void)in;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!x87_valid(f, 0)) {
        if (!v3_x87_underflow(f))
            v3_x87_put(f, 0, &v3_x87_indefinite);
        return V3_X_NEXT;
    }
    x = x87_get(f, 0);
    switch (classify(&x)) {
    case C_QNAN: case C_SNAN: case C_UNSUPP:
        exc = nan_result(f, &x, NULL, &r0);
        return commit(f, exc, 0, &r0, NULL, 1);
    case C_INF:
        if (x87v_se(&x) & 0x8000)
            r0 = x87v_make(0xbfff, 1ull << 63);        /* -1 */
        else
            r0 = x;
        return commit(f, 0, 0, &r0, NULL, 1);
    case C_ZERO:
        return commit(f, 0, 0, &x, NULL, 1);
    case C_DENORM:
        exc |= X87_DE;
        break;
    default:
        break;
    }
    ld xv = to_ld(&x);
    struct dd res;
    if (xv > 1.0L || xv < -1.0L) {
        /* outside the domain (undefined by the SDM): AMD leaves the operand
         * and reports an inexact result (Intel computes something else) */
        exc |= X87_PE;
        return commit(f, exc, 0, &x, NULL, 1);
    }
    if (xv == 1.0L || xv == -1.0L) {
        /* exact (1, -1/2), yet AMD reports PE, and C1 for 1 */
        r0 = xv > 0 ? x : x87v_make(0xbffe, 1ull << 63);
        return commit(f, exc | X87_PE, xv > 0 ? X87_C1 : 0, &r0, NULL, 1);
    }
    if (xv < TINY && xv > -TINY) {
        /* x ln2 in the denormal range: computed scaled by 2^128 */
        res = dd_mul(dd_make(LN2_HI, LN2_LO), dd_make(xv * 0x1p128L, 0));
        res = dd_add(res, dd_make((res.hi < 0 ? -res.hi : res.hi) * 0x1p-70L, 0));
        unsigned e1 = round_out_scaled(f, res, &r0, &c1);
        return commit(f, exc | e1 | X87_PE, c1, &r0, NULL, 1);
    }
    if (xv < 0x1p-72L && xv > -0x1p-72L) {
        /* 2^x - 1 = x ln2 (1 + x ln2 / 2 + ...) */
        res = dd_mul(dd_make(LN2_HI, LN2_LO), dd_make(xv, 0));
        ld t = res.hi * 0x1p-70L;
        if (t == 0)
            t = 0x1p-16445L;
        if (xv > 0)
            res = dd_add(res, dd_make(t < 0 ? -t : t, 0));
        else
            res = dd_add(res, dd_make(t < 0 ? -t : t, 0));
    } else if (xv > 64 || xv < -64) {
        res = xv > 0 ? dd_make(0x1p64L, 0) : dd_make(-1, 0x1p-80L);   /* outside the domain */
    } else {
        /* 2^x = 2^i * 2^f; with |x| <= 1 (the domain) i = 0 */
        res = dd_expm1(dd_mul(dd_make(LN2_HI, LN2_LO), dd_make(xv, 0)));
    }
    unsigned e1 = round_out(f, res, &r0, &c1);
    return commit(f, exc | e1, c1, &r0, NULL, 1);
}

/* FYL2X, FYL2XP1, FPATAN: ST(1) = f(ST(1), ST(0)), then pop. */
static int op_fbin(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned mn = in->mnemonic, exc = 0, c1 = 0;
    struct x87v x, y, r;
    int st;

    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if (!x87_valid(f, 0) || !x87_valid(f, 1)) {
        if (v3_x87_underflow(f))
            return V3_X_NEXT;
        v3_x87_put(f, 1, &v3_x87_indefinite);
        v3_x87_pop(f);
        return V3_X_NEXT;
    }
    x = x87_get(f, 0);
    y = x87_get(f, 1);
    enum cls kx = classify(&x), ky = classify(&y);
    bool sx = (x87v_se(&x) & 0x8000) != 0, sy = (x87v_se(&y) & 0x8000) != 0;
    if (kx == C_QNAN || kx == C_SNAN || kx == C_UNSUPP || ky == C_QNAN || ky == C_SNAN || ky == C_UNSUPP) {
        exc = nan_result(f, &x, &y, &r);
        goto done;
    }
    if (kx == C_DENORM || ky == C_DENORM)
        exc |= X87_DE;                  /* (dropped again if the operation is invalid) */
    ld xv = to_ld(&x), yv = to_ld(&y);
    struct dd res;

    if (mn == ZYDIS_MNEMONIC_FPATAN) {
        /* atan2(y, x) */
        if (ky == C_ZERO || (kx == C_INF && ky != C_INF)) {
            if (!sx) {                                  /* +-0 */
                r = x87v_make(sy ? 0x8000 : 0, 0);
                goto done;
            }
            res = dd_make(PI_HI, PI_LO);                /* +-pi */
        } else if (ky == C_INF) {
            if (kx == C_INF)
                res = sx ? dd_mul_ld(dd_make(PI_HI, PI_LO), 0.75L) : dd_mul_ld(dd_make(PI_HI, PI_LO), 0.25L);
            else
                res = dd_make(PI_2_HI, PI_2_LO);
        } else {
            ld ay = yv < 0 ? -yv : yv, ax = xv < 0 ? -xv : xv;
            bool swap = ay > ax;
            {
                /* scale both so that the larger is near 1 (the quotient is
                 * unchanged; no intermediate overflows) */
                struct x87v t;
                ld big = swap ? ay : ax;
                memcpy(t.b, &big, 10);
                int e = (int)(x87v_se(&t) & 0x7fff) - 16383;
                if (e > 64 || e < -64) {
                    int k = -e;
                    if (k > 16000)
                        k = 16000;
                    struct x87v p2 = x87v_make((unsigned)(16383 + k), 1ull << 63);
                    ld p;
                    memcpy(&p, p2.b, 10);
                    ay *= p;
                    ax *= p;
                }
            }
            struct dd q = swap ? dd_div(dd_make(ax, 0), dd_make(ay, 0)) : dd_div(dd_make(ay, 0), dd_make(ax, 0));
            if (!swap && !sx && q.hi < TINY) {
                /* atan q = q in the denormal range: q scaled by 2^128 */
                struct dd qs = dd_div(dd_make(ay * 0x1p128L, 0), dd_make(ax, 0));
                if (qs.hi == 0)
                    qs = dd_make(0x1p-16400L, 0);       /* below every denormal: sticky only */
                qs = dd_add(qs, dd_make(-qs.hi * 0x1p-70L, 0));
                if (sy)
                    qs = dd_neg(qs);
                exc |= round_out_scaled(f, qs, &r, &c1) | X87_PE;
                goto done;
            }
            if (q.hi < 0x1p-40L && !swap && !sx) {
                /* tiny quotient: atan q = q - q^3/3 (q^3 may underflow) */
                ld t = q.hi * 0x1p-70L;
                if (t == 0)
                    t = 0x1p-16445L;
                res = dd_add(q, dd_make(-t, 0));
            } else {
                res = dd_atan01(q);
                if (swap)
                    res = dd_sub(dd_make(PI_2_HI, PI_2_LO), res);
                if (sx)
                    res = dd_sub(dd_make(PI_HI, PI_LO), res);
            }
        }
        if (sy)
            res = dd_neg(res);
    } else {
        /* y * log2(x) or y * log2(1 + x) */
        bool p1 = mn == ZYDIS_MNEMONIC_FYL2XP1;
        struct dd l;
        if (!p1) {
            if (sx && kx != C_ZERO) {                   /* log of a negative */
                exc |= X87_IE;
                r = v3_x87_indefinite;
                goto done;
            }
            if (kx == C_ZERO) {
                if (ky == C_ZERO) {
                    exc |= X87_IE;
                    r = v3_x87_indefinite;
                } else {
                    if (ky != C_INF)
                        exc |= X87_ZE;          /* a finite y: division by zero */
                    r = x87v_make(sy ? 0x7fff : 0xffff, 1ull << 63);   /* -inf * y */
                }
                goto done;
            }
            if (kx == C_INF) {
                if (ky == C_ZERO) {
                    exc |= X87_IE;
                    r = v3_x87_indefinite;
                } else {
                    r = x87v_make(sy ? 0xffff : 0x7fff, 1ull << 63);
                }
                goto done;
            }
            if (xv == 1.0L) {                           /* log2(1) = +0 */
                if (ky == C_INF) {
                    exc |= X87_IE;
                    r = v3_x87_indefinite;
                } else {
                    r = x87v_make(sy ? 0x8000 : 0, 0);
                }
                goto done;
            }
            if (ky == C_INF) {
                bool lneg = xv < 1.0L;
                r = x87v_make((lneg != sy) ? 0xffff : 0x7fff, 1ull << 63);
                goto done;
            }
            if (ky == C_ZERO) {
                r = x87v_make((xv < 1.0L) != sy ? 0x8000 : 0, 0);
                goto done;
            }
            l = dd_mul(dd_ln_pos(xv), dd_make(LOG2E_HI, LOG2E_LO));
        } else {
            if (kx == C_INF || ky == C_INF || kx == C_ZERO || ky == C_ZERO) {
                if (kx == C_ZERO && ky == C_INF) {
                    exc |= X87_IE;
                    r = v3_x87_indefinite;
                } else if (kx == C_ZERO || ky == C_ZERO) {
                    r = x87v_make(((sx != sy) && !(kx == C_INF && !sx && ky == C_ZERO)) ? 0x8000 : 0, 0);
                    if (kx == C_INF)
                        r = x87v_make(sy ? 0xffff : 0x7fff, 1ull << 63);
                    if (kx == C_INF && ky == C_ZERO) {
                        exc |= X87_IE;
                        r = v3_x87_indefinite;
                    }
                } else {
                    /* an infinite operand with a finite nonzero other */
                    bool lneg = sx;
                    if (kx == C_INF && sx) {
                        exc |= X87_IE;
                        r = v3_x87_indefinite;
                    } else {
                        r = x87v_make(((kx == C_INF ? 0 : lneg) != sy) ? 0xffff : 0x7fff, 1ull << 63);
                    }
                }
                goto done;
            }
            if (xv <= -1.0L) {
                /* outside the domain: AMD gives ST(0) and PE */
                exc |= X87_PE;
                r = x;
                goto done;
            }
            if (xv < TINY && xv > -TINY) {
                /* log2(1 + x) = x log2(e) in the denormal range: scaled by 2^128 */
                struct dd ls = dd_mul(dd_make(xv * 0x1p128L, 0), dd_make(LOG2E_HI, LOG2E_LO));
                ls = dd_add(ls, dd_make(-ls.hi * 0x1p-70L, 0));
                res = dd_mul_ld(ls, yv);        /* at most 2^512: no overflow */
                if (res.hi == 0)                /* below every denormal: sticky only */
                    res = dd_make(((ls.hi < 0) != sy) ? -0x1p-16400L : 0x1p-16400L, 0);
                exc |= round_out_scaled(f, res, &r, &c1) | X87_PE;
                goto done;
            }
            struct dd s = dd_div(dd_make(xv, 0), dd_add(dd_make(2, 0), dd_make(xv, 0)));
            if (s.hi > 0.17L || s.hi < -0.17L) {
                /* outside the SDM's domain, computed by AMD: ln(hi + lo) = ln hi + lo/hi */
                struct dd a = two_sum(1.0L, xv);
                l = dd_add(dd_ln_pos(a.hi), dd_make(a.lo / a.hi, 0));
            } else {
                l = dd_2atanh(s);
            }
            l = dd_mul(l, dd_make(LOG2E_HI, LOG2E_LO));
        }
        if ((yv < TINY && yv > -TINY) && (l.hi > 0x1p-200L || l.hi < -0x1p-200L)) {
            /* a denormal-range product: y scaled by 2^128 */
            res = dd_mul_ld(l, yv * 0x1p128L);
            if (res.hi == 0)
                res = dd_make(((l.hi < 0) != sy) ? -0x1p-16400L : 0x1p-16400L, 0);
            exc |= round_out_scaled(f, res, &r, &c1) | X87_PE;
            goto done;
        }
        res = dd_mul_ld(l, yv);
        if (res.hi == 0 && l.hi != 0) {
            /* the product underflowed: keep its sign, report it */
            bool rneg = (l.hi < 0) != sy;
            res = dd_make(rneg ? -0.0L : 0.0L, 0);
            exc |= X87_UE | X87_PE;
        }
    }
    {
        unsigned e1 = round_out(f, res, &r, &c1);
        exc |= e1;
    }
done:
    if (exc & X87_IE) {
        exc &= ~(unsigned)X87_DE;       /* an invalid operation reports no denormal */
        c1 = 0;
    }
    {
        unsigned unm = exc & ~(unsigned)f->fcw & 0x3f;
        if (unm & (X87_IE | X87_DE | X87_ZE)) {
            v3_x87_raise(f, exc & (X87_IE | X87_DE | X87_ZE));
            return V3_X_NEXT;
        }
        v3_x87_raise(f, exc);
        f->fsw = (uint16_t)((f->fsw & ~X87_C1) | c1);
        v3_x87_put(f, 1, &r);
        v3_x87_pop(f);
    }
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_x87_trans[] = {
    { ZYDIS_MNEMONIC_FSIN, 0, op_trig },
    { ZYDIS_MNEMONIC_FCOS, 0, op_trig },
    { ZYDIS_MNEMONIC_FSINCOS, 0, op_trig },
    { ZYDIS_MNEMONIC_FPTAN, 0, op_trig },
    { ZYDIS_MNEMONIC_F2XM1, 0, op_f2xm1 },
    { ZYDIS_MNEMONIC_FYL2X, 0, op_fbin },
    { ZYDIS_MNEMONIC_FYL2XP1, 0, op_fbin },
    { ZYDIS_MNEMONIC_FPATAN, 0, op_fbin },
    { 0, 0, NULL },
};
