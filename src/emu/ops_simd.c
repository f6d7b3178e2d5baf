/* SPDX-License-Identifier: MIT */
/*
 * SSE2 integer SIMD and logic on XMM registers, the forms compilers emit:
 * PXOR POR PAND PANDN (and XORPS/XORPD/ANDPS/ANDPD/ORPS/ORPD/ANDNPS/ANDNPD),
 * PCMPEQB/W/D, PCMPGTB/W/D, PADDB/W/D/Q, PSUBB/W/D/Q, PSHUFD, PUNPCKL/H
 * BW/WD/DQ/QDQ, PMOVMSKB; FXSAVE/FXRSTOR and LDMXCSR/STMXCSR.
 * A 16-byte memory source must be 16-byte aligned (#GP(0)).  Availability:
 * CR0.EM -> #UD, CR4.OSFXSR clear -> #UD, CR0.TS -> #NM.  MMX register forms
 * are not implemented (V3_X_UNSUPPORTED).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

static int avail(struct v3_emu_ctx *ctx)
{
    const struct v3_core *c = ctx->core;
    if ((c->cr0 & V3_CR0_EM) || !(c->cr4 & V3_CR4_OSFXSR))
        return v3_exc_ud(ctx);
    if (c->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    return V3_X_NEXT;
}

static int src128(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                  uint8_t out[16])
{
    if (op->kind == V3_OPK_REG && op->cls == V3_RC_XMM) {
        memcpy(out, ctx->core->fpu.xmm[op->reg & 15], 16);
        return V3_X_NEXT;
    }
    if (op->kind == V3_OPK_MEM) {
        uint64_t la;
        int st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), 16, V3_ACCESS_READ, &la);
        if (st)
            return st;
        if (la & 15)
            return v3_exc_gp0(ctx);
        return v3_mem_read_op(ctx, in, op, out, 16, V3_ACCESS_READ);
    }
    return V3_X_UNSUPPORTED;
}

#define LANES(T, n) T a_[n], b_[n]; memcpy(a_, a, 16); memcpy(b_, b, 16)

static int op_binop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint8_t a[16], b[16];
    int st;
    if ((st = avail(ctx)))
        return st;
    if (in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = src128(ctx, in, &in->op[1], b)))
        return st;
    memcpy(a, ctx->core->fpu.xmm[in->op[0].reg & 15], 16);
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS: case ZYDIS_MNEMONIC_XORPD:
        for (int i = 0; i < 16; i++) a[i] ^= b[i];
        break;
    case ZYDIS_MNEMONIC_POR: case ZYDIS_MNEMONIC_ORPS: case ZYDIS_MNEMONIC_ORPD:
        for (int i = 0; i < 16; i++) a[i] |= b[i];
        break;
    case ZYDIS_MNEMONIC_PAND: case ZYDIS_MNEMONIC_ANDPS: case ZYDIS_MNEMONIC_ANDPD:
        for (int i = 0; i < 16; i++) a[i] &= b[i];
        break;
    case ZYDIS_MNEMONIC_PANDN: case ZYDIS_MNEMONIC_ANDNPS: case ZYDIS_MNEMONIC_ANDNPD:
        for (int i = 0; i < 16; i++) a[i] = (uint8_t)(~a[i] & b[i]);
        break;
    case ZYDIS_MNEMONIC_PCMPEQB:
        for (int i = 0; i < 16; i++) a[i] = a[i] == b[i] ? 0xff : 0;
        break;
    case ZYDIS_MNEMONIC_PCMPGTB:
        for (int i = 0; i < 16; i++) a[i] = (int8_t)a[i] > (int8_t)b[i] ? 0xff : 0;
        break;
    case ZYDIS_MNEMONIC_PADDB:
        for (int i = 0; i < 16; i++) a[i] = (uint8_t)(a[i] + b[i]);
        break;
    case ZYDIS_MNEMONIC_PSUBB:
        for (int i = 0; i < 16; i++) a[i] = (uint8_t)(a[i] - b[i]);
        break;
    case ZYDIS_MNEMONIC_PCMPEQW: case ZYDIS_MNEMONIC_PCMPGTW:
    case ZYDIS_MNEMONIC_PADDW: case ZYDIS_MNEMONIC_PSUBW: {
        LANES(uint16_t, 8);
        for (int i = 0; i < 8; i++) {
            switch (in->mnemonic) {
            case ZYDIS_MNEMONIC_PCMPEQW: a_[i] = a_[i] == b_[i] ? 0xffff : 0; break;
            case ZYDIS_MNEMONIC_PCMPGTW: a_[i] = (int16_t)a_[i] > (int16_t)b_[i] ? 0xffff : 0; break;
            case ZYDIS_MNEMONIC_PADDW: a_[i] = (uint16_t)(a_[i] + b_[i]); break;
            default: a_[i] = (uint16_t)(a_[i] - b_[i]); break;
            }
        }
        memcpy(a, a_, 16);
        break;
    }
    case ZYDIS_MNEMONIC_PCMPEQD: case ZYDIS_MNEMONIC_PCMPGTD:
    case ZYDIS_MNEMONIC_PADDD: case ZYDIS_MNEMONIC_PSUBD: {
        LANES(uint32_t, 4);
        for (int i = 0; i < 4; i++) {
            switch (in->mnemonic) {
            case ZYDIS_MNEMONIC_PCMPEQD: a_[i] = a_[i] == b_[i] ? ~0u : 0; break;
            case ZYDIS_MNEMONIC_PCMPGTD: a_[i] = (int32_t)a_[i] > (int32_t)b_[i] ? ~0u : 0; break;
            case ZYDIS_MNEMONIC_PADDD: a_[i] = a_[i] + b_[i]; break;
            default: a_[i] = a_[i] - b_[i]; break;
            }
        }
        memcpy(a, a_, 16);
        break;
    }
    case ZYDIS_MNEMONIC_PADDQ: case ZYDIS_MNEMONIC_PSUBQ: {
        LANES(uint64_t, 2);
        for (int i = 0; i < 2; i++)
            a_[i] = in->mnemonic == ZYDIS_MNEMONIC_PADDQ ? a_[i] + b_[i] : a_[i] - b_[i];
        memcpy(a, a_, 16);
        break;
    }
    case ZYDIS_MNEMONIC_PUNPCKLBW: case ZYDIS_MNEMONIC_PUNPCKHBW:
    case ZYDIS_MNEMONIC_PUNPCKLWD: case ZYDIS_MNEMONIC_PUNPCKHWD:
    case ZYDIS_MNEMONIC_PUNPCKLDQ: case ZYDIS_MNEMONIC_PUNPCKHDQ:
    case ZYDIS_MNEMONIC_PUNPCKLQDQ: case ZYDIS_MNEMONIC_PUNPCKHQDQ: {
        unsigned w, hi;
        uint8_t r[16];
        switch (in->mnemonic) {
        case ZYDIS_MNEMONIC_PUNPCKLBW: w = 1; hi = 0; break;
        case ZYDIS_MNEMONIC_PUNPCKHBW: w = 1; hi = 8; break;
        case ZYDIS_MNEMONIC_PUNPCKLWD: w = 2; hi = 0; break;
        case ZYDIS_MNEMONIC_PUNPCKHWD: w = 2; hi = 8; break;
        case ZYDIS_MNEMONIC_PUNPCKLDQ: w = 4; hi = 0; break;
        case ZYDIS_MNEMONIC_PUNPCKHDQ: w = 4; hi = 8; break;
        case ZYDIS_MNEMONIC_PUNPCKLQDQ: w = 8; hi = 0; break;
        default: w = 8; hi = 8; break;
        }
        for (unsigned i = 0; i < 8 / w; i++) {
            memcpy(r + 2 * i * w, a + hi + i * w, w);
            memcpy(r + (2 * i + 1) * w, b + hi + i * w, w);
        }
        memcpy(a, r, 16);
        break;
    }
    default:
        return V3_X_UNSUPPORTED;
    }
    memcpy(ctx->core->fpu.xmm[in->op[0].reg & 15], a, 16);
    return V3_X_NEXT;
}

static int op_pshufd(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint8_t b[16];
    uint32_t s[4], r[4];
    unsigned imm = (unsigned)in->op[2].val;
    int st;
    if ((st = avail(ctx)))
        return st;
    if (in->op[0].kind != V3_OPK_REG || in->op[0].cls != V3_RC_XMM)
        return V3_X_UNSUPPORTED;
    if ((st = src128(ctx, in, &in->op[1], b)))
        return st;
    memcpy(s, b, 16);
    for (int i = 0; i < 4; i++)
        r[i] = s[(imm >> (2 * i)) & 3];
    memcpy(ctx->core->fpu.xmm[in->op[0].reg & 15], r, 16);
    return V3_X_NEXT;
}

static int op_pmovmskb(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    const uint8_t *x;
    uint64_t m = 0;
    int st;
    if ((st = avail(ctx)))
        return st;
    if (in->op[1].kind != V3_OPK_REG || in->op[1].cls != V3_RC_XMM || in->op[0].kind != V3_OPK_REG)
        return V3_X_UNSUPPORTED;
    x = ctx->core->fpu.xmm[in->op[1].reg & 15];
    for (int i = 0; i < 16; i++)
        m |= (uint64_t)(x[i] >> 7) << i;
    ctx->core->gpr[in->op[0].reg & 15] = m;
    return V3_X_NEXT;
}

/* ---------------------------------------------------------------- FXSAVE / MXCSR */

#define MXCSR_MASK 0xffffu

static int mem_la(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned len, unsigned acc,
                  unsigned align, uint64_t *la)
{
    const struct v3_operand *op = &in->op[0];
    int st;
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), len, acc, la);
    if (st)
        return st;
    if (align && (*la & (align - 1)))
        return v3_exc_gp0(ctx);
    return V3_X_NEXT;
}

/* FXSAVE/FXRSTOR checks: #UD with CR0.EM, #NM with CR0.TS, then the
 * 512-byte, 16-byte aligned memory operand (#GP if misaligned) */
static int fx_check(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned access)
{
    struct v3_core *c = ctx->core;
    uint64_t la;
    if (c->cr0 & V3_CR0_EM)
        return v3_exc_ud(ctx);
    if (c->cr0 & V3_CR0_TS)
        return v3_exc_nm(ctx);
    return mem_la(ctx, in, 512, access, 16, &la);
}

static int op_fxsave(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint8_t buf[512];
    int st;
    if ((st = fx_check(ctx, in, V3_ACCESS_WRITE)))
        return st;
    memcpy(buf, &c->fpu, 512);
    if (in->mnemonic == ZYDIS_MNEMONIC_FXSAVE) {
        /* legacy format: FIP/FDP as 32-bit offsets with selectors (kept 0) */
        uint32_t fip = (uint32_t)c->fpu.fip, fdp = (uint32_t)c->fpu.fdp;
        memset(buf + 8, 0, 16);
        memcpy(buf + 8, &fip, 4);
        memcpy(buf + 16, &fdp, 4);
    }
    return v3_mem_write_op(ctx, in, &in->op[0], buf, 512);
}

static int op_fxrstor(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    struct v3_fpu_state f;
    int st;
    if ((st = fx_check(ctx, in, V3_ACCESS_READ)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], &f, 512, V3_ACCESS_READ)))
        return st;
    if (f.mxcsr & ~MXCSR_MASK)
        return v3_exc_gp0(ctx);
    if (in->mnemonic == ZYDIS_MNEMONIC_FXRSTOR) {
        f.fip &= 0xffffffffull;
        f.fdp &= 0xffffffffull;
    }
    f.mxcsr_mask = c->fpu.mxcsr_mask;
    memcpy(f.rsvd1, c->fpu.rsvd1, sizeof(f.rsvd1));
    c->fpu = f;
    return V3_X_NEXT;
}

static int op_ldmxcsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint32_t v;
    uint64_t la;
    int st;
    if ((st = avail(ctx)))
        return st;
    if ((st = mem_la(ctx, in, 4, V3_ACCESS_READ, 0, &la)))
        return st;
    if ((st = v3_mem_read_op(ctx, in, &in->op[0], &v, 4, V3_ACCESS_READ)))
        return st;
    if (v & ~MXCSR_MASK)
        return v3_exc_gp0(ctx);
    ctx->core->fpu.mxcsr = v;
    return V3_X_NEXT;
}

static int op_stmxcsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint32_t v = ctx->core->fpu.mxcsr;
    uint64_t la;
    int st;
    if ((st = avail(ctx)))
        return st;
    if ((st = mem_la(ctx, in, 4, V3_ACCESS_WRITE, 0, &la)))
        return st;
    return v3_mem_write_op(ctx, in, &in->op[0], &v, 4);
}

const struct v3_op_entry v3_ops_simd[] = {
    { ZYDIS_MNEMONIC_PXOR, 0, op_binop },   { ZYDIS_MNEMONIC_POR, 0, op_binop },
    { ZYDIS_MNEMONIC_PAND, 0, op_binop },   { ZYDIS_MNEMONIC_PANDN, 0, op_binop },
    { ZYDIS_MNEMONIC_XORPS, 0, op_binop },  { ZYDIS_MNEMONIC_XORPD, 0, op_binop },
    { ZYDIS_MNEMONIC_ORPS, 0, op_binop },   { ZYDIS_MNEMONIC_ORPD, 0, op_binop },
    { ZYDIS_MNEMONIC_ANDPS, 0, op_binop },  { ZYDIS_MNEMONIC_ANDPD, 0, op_binop },
    { ZYDIS_MNEMONIC_ANDNPS, 0, op_binop }, { ZYDIS_MNEMONIC_ANDNPD, 0, op_binop },
    { ZYDIS_MNEMONIC_PCMPEQB, 0, op_binop }, { ZYDIS_MNEMONIC_PCMPEQW, 0, op_binop },
    { ZYDIS_MNEMONIC_PCMPEQD, 0, op_binop }, { ZYDIS_MNEMONIC_PCMPGTB, 0, op_binop },
    { ZYDIS_MNEMONIC_PCMPGTW, 0, op_binop }, { ZYDIS_MNEMONIC_PCMPGTD, 0, op_binop },
    { ZYDIS_MNEMONIC_PADDB, 0, op_binop },  { ZYDIS_MNEMONIC_PADDW, 0, op_binop },
    { ZYDIS_MNEMONIC_PADDD, 0, op_binop },  { ZYDIS_MNEMONIC_PADDQ, 0, op_binop },
    { ZYDIS_MNEMONIC_PSUBB, 0, op_binop },  { ZYDIS_MNEMONIC_PSUBW, 0, op_binop },
    { ZYDIS_MNEMONIC_PSUBD, 0, op_binop },  { ZYDIS_MNEMONIC_PSUBQ, 0, op_binop },
    { ZYDIS_MNEMONIC_PUNPCKLBW, 0, op_binop }, { ZYDIS_MNEMONIC_PUNPCKHBW, 0, op_binop },
    { ZYDIS_MNEMONIC_PUNPCKLWD, 0, op_binop }, { ZYDIS_MNEMONIC_PUNPCKHWD, 0, op_binop },
    { ZYDIS_MNEMONIC_PUNPCKLDQ, 0, op_binop }, { ZYDIS_MNEMONIC_PUNPCKHDQ, 0, op_binop },
    { ZYDIS_MNEMONIC_PUNPCKLQDQ, 0, op_binop }, { ZYDIS_MNEMONIC_PUNPCKHQDQ, 0, op_binop },
    { ZYDIS_MNEMONIC_PSHUFD, 0, op_pshufd },
    { ZYDIS_MNEMONIC_PMOVMSKB, 0, op_pmovmskb },
    { ZYDIS_MNEMONIC_FXSAVE, 0, op_fxsave },  { ZYDIS_MNEMONIC_FXSAVE64, 0, op_fxsave },
    { ZYDIS_MNEMONIC_FXRSTOR, 0, op_fxrstor }, { ZYDIS_MNEMONIC_FXRSTOR64, 0, op_fxrstor },
    { ZYDIS_MNEMONIC_LDMXCSR, 0, op_ldmxcsr },
    { ZYDIS_MNEMONIC_STMXCSR, 0, op_stmxcsr },
    { 0, 0, NULL },
};
