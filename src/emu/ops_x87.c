/* SPDX-License-Identifier: MIT */
/*
 * x87 FPU: the load/store/arithmetic instructions compilers emit, on the
 * host's 80-bit extended type (x86-64 long double), with the register stack
 * kept in core->fpu in FXSAVE order (st[i] is ST(i)), TOP in FSW[13:11] and
 * the abridged tag word in ftw (bit per physical register).
 *
 * CR0.EM or CR0.TS give #NM before anything else.  Results are rounded with
 * the host's default control (round to nearest, 64-bit precision); the
 * guest's FCW precision and rounding controls are honoured for FIST/FISTP
 * rounding only.  Numeric exceptions are not reported (the status flags are
 * not set) and stack overflow/underflow is not detected: an empty register
 * reads as +0.  Transcendental instructions and BCD forms are not
 * implemented (V3_X_UNSUPPORTED).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

typedef long double ext_t;

static inline unsigned fpu_top(const struct v3_fpu_state *f) { return (f->fsw >> 11) & 7; }
static inline void set_top(struct v3_fpu_state *f, unsigned t)
{
    f->fsw = (uint16_t)((f->fsw & ~0x3800) | ((t & 7) << 11));
}

static ext_t st_get(const struct v3_fpu_state *f, unsigned i)
{
    ext_t v = 0;
    if (f->ftw & (1u << ((fpu_top(f) + i) & 7)))
        memcpy(&v, f->st[i], 10);
    return v;
}

static void st_set(struct v3_fpu_state *f, unsigned i, ext_t v)
{
    memset(f->st[i], 0, 16);
    memcpy(f->st[i], &v, 10);
    f->ftw |= (uint8_t)(1u << ((fpu_top(f) + i) & 7));
}

static void fpush(struct v3_fpu_state *f, ext_t v)
{
    memmove(f->st[1], f->st[0], 16 * 7);
    set_top(f, fpu_top(f) - 1);
    st_set(f, 0, v);
}

static void fpop(struct v3_fpu_state *f)
{
    f->ftw &= (uint8_t)~(1u << fpu_top(f));
    memmove(f->st[0], f->st[1], 16 * 7);
    memset(f->st[7], 0, 16);
    set_top(f, fpu_top(f) + 1);
}

static int nm_check(struct v3_emu_ctx *ctx)
{
    if (ctx->core->cr0 & (V3_CR0_EM | V3_CR0_TS))
        return v3_exc_nm(ctx);
    return V3_X_NEXT;
}

/* Read a memory operand as a floating (real) value of its size. */
static int read_real(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                     ext_t *v)
{
    uint8_t b[10];
    int st;
    if ((st = v3_mem_read_op(ctx, in, op, b, op->size, V3_ACCESS_READ)))
        return st;
    if (op->size == 4) {
        float x;
        memcpy(&x, b, 4);
        *v = x;
    } else if (op->size == 8) {
        double x;
        memcpy(&x, b, 8);
        *v = x;
    } else if (op->size == 10) {
        ext_t x = 0;
        memcpy(&x, b, 10);
        *v = x;
    } else {
        return V3_X_UNSUPPORTED;
    }
    return V3_X_NEXT;
}

static int read_int(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                    ext_t *v)
{
    uint64_t raw = 0;
    int st;
    if (op->size != 2 && op->size != 4 && op->size != 8)
        return V3_X_UNSUPPORTED;
    if ((st = v3_mem_read_op(ctx, in, op, &raw, op->size, V3_ACCESS_READ)))
        return st;
    *v = (ext_t)(int64_t)v3_sext(raw, op->size);
    return V3_X_NEXT;
}

/* Round to an integer with the FCW rounding control. */
static ext_t round_rc(ext_t v, unsigned rc)
{
    ext_t t = (ext_t)(int64_t)v;           /* truncation (|v| < 2^63 here) */
    ext_t frac = v - t;
    switch (rc) {
    case 0: {                              /* nearest, ties to even */
        ext_t a = frac < 0 ? -frac : frac;
        if (a > 0.5L || (a == 0.5L && ((int64_t)t & 1)))
            t += frac < 0 ? -1 : 1;
        return t;
    }
    case 1: return frac < 0 ? t - 1 : t;   /* down */
    case 2: return frac > 0 ? t + 1 : t;   /* up */
    default: return t;                     /* toward zero */
    }
}

static int op_fld(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *op = &in->op[in->nops > 1 ? 1 : 0];
    ext_t v;
    int st;
    if ((st = nm_check(ctx)))
        return st;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_FLD1:   v = 1.0L; break;
    case ZYDIS_MNEMONIC_FLDZ:   v = 0.0L; break;
    case ZYDIS_MNEMONIC_FILD:
        if ((st = read_int(ctx, in, op, &v)))
            return st;
        break;
    default:
        if (op->kind == V3_OPK_REG)
            v = st_get(f, op->reg & 7);
        else if ((st = read_real(ctx, in, op, &v)))
            return st;
        break;
    }
    fpush(f, v);
    return V3_X_NEXT;
}

static int op_fst(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    const struct v3_operand *op = &in->op[0];
    bool pop = in->mnemonic == ZYDIS_MNEMONIC_FSTP || in->mnemonic == ZYDIS_MNEMONIC_FISTP;
    bool integer = in->mnemonic == ZYDIS_MNEMONIC_FIST || in->mnemonic == ZYDIS_MNEMONIC_FISTP;
    ext_t v;
    int st;
    if ((st = nm_check(ctx)))
        return st;
    v = st_get(f, 0);
    if (op->kind == V3_OPK_REG) {
        st_set(f, op->reg & 7, v);
    } else if (integer) {
        unsigned sz = op->size;
        ext_t r = round_rc(v, (f->fcw >> 10) & 3);
        ext_t lim = sz == 2 ? 32768.0L : sz == 4 ? 2147483648.0L : 9223372036854775808.0L;
        uint64_t out;
        if (r >= lim || r < -lim || r != r)
            out = 1ull << (sz * 8 - 1);        /* integer indefinite */
        else
            out = (uint64_t)(int64_t)r;
        if ((st = v3_mem_write_op(ctx, in, op, &out, sz)))
            return st;
    } else {
        uint8_t b[10];
        if (op->size == 4) {
            float x = (float)v;
            memcpy(b, &x, 4);
        } else if (op->size == 8) {
            double x = (double)v;
            memcpy(b, &x, 8);
        } else if (op->size == 10) {
            memcpy(b, &v, 10);
        } else {
            return V3_X_UNSUPPORTED;
        }
        if ((st = v3_mem_write_op(ctx, in, op, b, op->size)))
            return st;
    }
    if (pop)
        fpop(f);
    return V3_X_NEXT;
}

/* FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR and their P / FI forms. */
static int op_farith(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned m = in->mnemonic, dst = 0;
    bool pop = false, rev = false;
    int kind;           /* 0 add, 1 sub, 2 mul, 3 div */
    ext_t a, b, r;
    int st;

    if ((st = nm_check(ctx)))
        return st;
    switch (m) {
    case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FIADD: kind = 0; break;
    case ZYDIS_MNEMONIC_FADDP: kind = 0; pop = true; break;
    case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FISUB: kind = 1; break;
    case ZYDIS_MNEMONIC_FSUBP: kind = 1; pop = true; break;
    case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FISUBR: kind = 1; rev = true; break;
    case ZYDIS_MNEMONIC_FSUBRP: kind = 1; rev = true; pop = true; break;
    case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FIMUL: kind = 2; break;
    case ZYDIS_MNEMONIC_FMULP: kind = 2; pop = true; break;
    case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FIDIV: kind = 3; break;
    case ZYDIS_MNEMONIC_FDIVP: kind = 3; pop = true; break;
    case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FIDIVR: kind = 3; rev = true; break;
    default: kind = 3; rev = true; pop = true; break;     /* FDIVRP */
    }
    bool integer = m == ZYDIS_MNEMONIC_FIADD || m == ZYDIS_MNEMONIC_FISUB || m == ZYDIS_MNEMONIC_FISUBR ||
                   m == ZYDIS_MNEMONIC_FIMUL || m == ZYDIS_MNEMONIC_FIDIV || m == ZYDIS_MNEMONIC_FIDIVR;
    const struct v3_operand *mem = NULL;
    for (unsigned i = 0; i < in->nops; i++)
        if (in->op[i].kind == V3_OPK_MEM)
            mem = &in->op[i];
    if (mem) {
        a = st_get(f, 0);
        if ((st = integer ? read_int(ctx, in, mem, &b) : read_real(ctx, in, mem, &b)))
            return st;
    } else if (in->nops >= 2) {
        dst = in->op[0].reg & 7;
        a = st_get(f, dst);
        b = st_get(f, in->op[1].reg & 7);
    } else {                                   /* FADDP with no operands: ST(1) op ST(0) */
        dst = 1;
        a = st_get(f, 1);
        b = st_get(f, 0);
    }
    if (rev) {
        ext_t t = a;
        a = b;
        b = t;
    }
    switch (kind) {
    case 0: r = a + b; break;
    case 1: r = a - b; break;
    case 2: r = a * b; break;
    default: r = a / b; break;
    }
    st_set(f, dst, r);
    if (pop)
        fpop(f);
    return V3_X_NEXT;
}

static int op_funary(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    ext_t v;
    int st;
    if ((st = nm_check(ctx)))
        return st;
    v = st_get(f, 0);
    if (in->mnemonic == ZYDIS_MNEMONIC_FCHS)
        v = -v;
    else
        v = v < 0 ? -v : v;
    st_set(f, 0, v);
    return V3_X_NEXT;
}

static int op_fxch(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    unsigned i = 1;
    int st;
    if ((st = nm_check(ctx)))
        return st;
    for (unsigned k = 0; k < in->nops; k++)
        if (in->op[k].kind == V3_OPK_REG && (in->op[k].reg & 7))
            i = in->op[k].reg & 7;
    ext_t a = st_get(f, 0), b = st_get(f, i);
    st_set(f, 0, b);
    st_set(f, i, a);
    return V3_X_NEXT;
}

/* FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF from ST(0) vs ST(i). */
static int op_fcomi(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    unsigned i = in->nops >= 2 ? (in->op[1].reg & 7) : 1;
    uint64_t fl;
    int st;
    if ((st = nm_check(ctx)))
        return st;
    ext_t a = st_get(f, 0), b = st_get(f, i);
    if (a != a || b != b)
        fl = V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF;
    else if (a < b)
        fl = V3_FLAG_CF;
    else if (a == b)
        fl = V3_FLAG_ZF;
    else
        fl = 0;
    v3_flags_set(c, V3_FLAG_ZF | V3_FLAG_PF | V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_AF, fl);
    if (in->mnemonic == ZYDIS_MNEMONIC_FCOMIP || in->mnemonic == ZYDIS_MNEMONIC_FUCOMIP)
        fpop(f);
    return V3_X_NEXT;
}

/* FNSAVE / FRSTOR: 94/108-byte image (16/32-bit operand size); FNSTENV /
 * FLDENV: its 14/28-byte environment header only. */
static uint16_t full_tags(const struct v3_fpu_state *f)
{
    uint16_t t = 0;
    unsigned top = fpu_top(f);
    for (unsigned p = 0; p < 8; p++) {
        unsigned tag = 3;
        if (f->ftw & (1u << p)) {
            const uint8_t *r = f->st[(p - top) & 7];
            uint16_t se;
            uint64_t mant;
            memcpy(&mant, r, 8);
            memcpy(&se, r + 8, 2);
            if ((se & 0x7fff) == 0x7fff)
                tag = 2;
            else if ((se & 0x7fff) == 0)
                tag = mant ? 2 : 1;
            else
                tag = (mant >> 63) ? 0 : 2;
        }
        t |= (uint16_t)(tag << (p * 2));
    }
    return t;
}

static int op_fnsave_frstor(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state *f = &c->fpu;
    const struct v3_operand *op = &in->op[0];
    bool save = in->mnemonic == ZYDIS_MNEMONIC_FNSAVE || in->mnemonic == ZYDIS_MNEMONIC_FNSTENV;
    bool env = in->mnemonic == ZYDIS_MNEMONIC_FNSTENV || in->mnemonic == ZYDIS_MNEMONIC_FLDENV;
    unsigned hdr = in->opsize == 2 ? 14 : 28, es = in->opsize == 2 ? 2 : 4;
    unsigned len = env ? hdr : hdr + 80;
    uint8_t img[108];
    uint64_t ea = v3_op_ea(c, in, op);
    int st;

    if ((st = nm_check(ctx)))
        return st;
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if (save) {
        uint32_t w[7] = { f->fcw | 0xffff0000u, f->fsw | 0xffff0000u, full_tags(f) | 0xffff0000u,
                          (uint32_t)f->fip, 0, (uint32_t)f->fdp, 0xffff0000u };
        memset(img, 0, sizeof(img));
        for (unsigned i = 0; i < 7; i++)
            memcpy(img + i * es, &w[i], es);
        for (unsigned i = 0; i < 8; i++)
            memcpy(img + hdr + i * 10, f->st[i], 10);
        if ((st = v3_mem_write_seg(ctx, op->reg, ea, img, len, V3_ACCESS_WRITE)))
            return st;
        if (env) {
            f->fcw |= 0x3f;       /* FNSTENV then masks every exception */
            return V3_X_NEXT;
        }
        v3_fpu_init(f);           /* FNSAVE then initialises the FPU */
        return V3_X_NEXT;
    }
    if ((st = v3_mem_read_seg(ctx, op->reg, ea, img, len, V3_ACCESS_READ)))
        return st;
    uint16_t cw, sw, tw;
    memcpy(&cw, img, 2);
    memcpy(&sw, img + es, 2);
    memcpy(&tw, img + 2 * es, 2);
    f->fcw = cw;
    f->fsw = sw;
    f->ftw = 0;
    for (unsigned p = 0; p < 8; p++)
        if (((tw >> (p * 2)) & 3) != 3)
            f->ftw |= (uint8_t)(1u << p);
    if (env)
        return V3_X_NEXT;
    for (unsigned i = 0; i < 8; i++) {
        memset(f->st[i], 0, 16);
        memcpy(f->st[i], img + hdr + i * 10, 10);
    }
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_x87[] = {
    { ZYDIS_MNEMONIC_FLD, 0, op_fld },
    { ZYDIS_MNEMONIC_FLD1, 0, op_fld },
    { ZYDIS_MNEMONIC_FLDZ, 0, op_fld },
    { ZYDIS_MNEMONIC_FILD, 0, op_fld },
    { ZYDIS_MNEMONIC_FST, 0, op_fst },
    { ZYDIS_MNEMONIC_FSTP, 0, op_fst },
    { ZYDIS_MNEMONIC_FIST, 0, op_fst },
    { ZYDIS_MNEMONIC_FISTP, 0, op_fst },
    { ZYDIS_MNEMONIC_FADD, 0, op_farith },
    { ZYDIS_MNEMONIC_FADDP, 0, op_farith },
    { ZYDIS_MNEMONIC_FIADD, 0, op_farith },
    { ZYDIS_MNEMONIC_FSUB, 0, op_farith },
    { ZYDIS_MNEMONIC_FSUBP, 0, op_farith },
    { ZYDIS_MNEMONIC_FISUB, 0, op_farith },
    { ZYDIS_MNEMONIC_FSUBR, 0, op_farith },
    { ZYDIS_MNEMONIC_FSUBRP, 0, op_farith },
    { ZYDIS_MNEMONIC_FISUBR, 0, op_farith },
    { ZYDIS_MNEMONIC_FMUL, 0, op_farith },
    { ZYDIS_MNEMONIC_FMULP, 0, op_farith },
    { ZYDIS_MNEMONIC_FIMUL, 0, op_farith },
    { ZYDIS_MNEMONIC_FDIV, 0, op_farith },
    { ZYDIS_MNEMONIC_FDIVP, 0, op_farith },
    { ZYDIS_MNEMONIC_FIDIV, 0, op_farith },
    { ZYDIS_MNEMONIC_FDIVR, 0, op_farith },
    { ZYDIS_MNEMONIC_FDIVRP, 0, op_farith },
    { ZYDIS_MNEMONIC_FIDIVR, 0, op_farith },
    { ZYDIS_MNEMONIC_FCHS, 0, op_funary },
    { ZYDIS_MNEMONIC_FABS, 0, op_funary },
    { ZYDIS_MNEMONIC_FXCH, 0, op_fxch },
    { ZYDIS_MNEMONIC_FCOMI, 0, op_fcomi },
    { ZYDIS_MNEMONIC_FCOMIP, 0, op_fcomi },
    { ZYDIS_MNEMONIC_FUCOMI, 0, op_fcomi },
    { ZYDIS_MNEMONIC_FUCOMIP, 0, op_fcomi },
    { ZYDIS_MNEMONIC_FNSAVE, 0, op_fnsave_frstor },
    { ZYDIS_MNEMONIC_FRSTOR, 0, op_fnsave_frstor },
    { ZYDIS_MNEMONIC_FNSTENV, 0, op_fnsave_frstor },
    { ZYDIS_MNEMONIC_FLDENV, 0, op_fnsave_frstor },
    { 0, 0, NULL },
};
