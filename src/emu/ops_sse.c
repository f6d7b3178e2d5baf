/* SPDX-License-Identifier: MIT */
/*
 * MMX/SSE data moves: MOVD MOVQ MOVDQA MOVDQU MOVAPS MOVUPS MOVAPD MOVUPD
 * MOVNTI MOVNTDQ MOVNTPS MOVNTPD LDDQU, and the scalar MOVSD/MOVSS.
 * Aligned forms raise #GP(0) on a linear address not 16-byte aligned.
 * Availability: CR0.EM -> #UD, CR4.OSFXSR clear -> #UD (SSE), CR0.TS -> #NM,
 * MMX with a pending unmasked x87 exception -> #MF.
 * An MMX register access puts the x87 unit in MMX state (TOP = 0, all tags
 * valid).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include "emu/vec.h"

static int uses_cls(const struct v3_insn *in, unsigned cls)
{
    for (unsigned i = 0; i < in->nops; i++)
        if (in->op[i].kind == V3_OPK_REG && in->op[i].cls == cls)
            return 1;
    return 0;
}

static int check_avail(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    int mmx = uses_cls(in, V3_RC_MMX), xmm = uses_cls(in, V3_RC_XMM);
    if (!mmx && !xmm)
        return V3_X_NEXT;     /* MOVNTI: plain GPR store */
    return v3_vec_avail(ctx, mmx, xmm);
}

static void mmx_enter(struct v3_core *c)
{
    c->fpu.fsw &= (uint16_t)~(7u << 11);
    c->fpu.ftw = 0xff;    /* abridged tag word: all valid */
}

/* read up to 16 bytes of operand @op into buf (zero padded) */
static int vread(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                 unsigned len, int aligned, uint8_t buf[16])
{
    struct v3_core *c = ctx->core;
    memset(buf, 0, 16);
    switch (op->kind) {
    case V3_OPK_REG:
        if (op->cls == V3_RC_XMM)
            memcpy(buf, c->fpu.xmm[op->reg & 15], len);
        else if (op->cls == V3_RC_MMX)
            memcpy(buf, c->fpu.st[op->reg & 7], len > 8 ? 8 : len);
        else if (op->cls == V3_RC_GPR) {
            uint64_t v = v3_gpr_get(c, op->reg & 15, len > 8 ? 8 : len);
            memcpy(buf, &v, len > 8 ? 8 : len);
        } else
            return V3_X_UNSUPPORTED;
        return V3_X_NEXT;
    case V3_OPK_MEM: {
        uint64_t la;
        int st = v3_seg_linear(ctx, op->reg, v3_op_ea(c, in, op), len, V3_ACCESS_READ, &la);
        if (st)
            return st;
        if (aligned && (la & 15))
            return v3_exc_gp0(ctx);
        return v3_mem_read_op(ctx, in, op, buf, len, V3_ACCESS_READ);
    }
    default:
        return V3_X_UNSUPPORTED;
    }
}

/* check a destination before anything is written (alignment, segment) */
static int vcheck_dst(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                      unsigned len, int aligned)
{
    if (op->kind != V3_OPK_MEM)
        return V3_X_NEXT;
    uint64_t la;
    int st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), len, V3_ACCESS_WRITE, &la);
    if (st)
        return st;
    if (aligned && (la & 15))
        return v3_exc_gp0(ctx);
    return V3_X_NEXT;
}

/* write @len bytes; @zext: a register destination is zeroed above @len */
static int vwrite(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                  unsigned len, int zext, const uint8_t buf[16])
{
    struct v3_core *c = ctx->core;
    switch (op->kind) {
    case V3_OPK_REG:
        if (op->cls == V3_RC_XMM) {
            if (zext)
                memset(c->fpu.xmm[op->reg & 15], 0, 16);
            memcpy(c->fpu.xmm[op->reg & 15], buf, len);
        } else if (op->cls == V3_RC_MMX) {
            if (zext)
                memset(c->fpu.st[op->reg & 7], 0, 8);
            memcpy(c->fpu.st[op->reg & 7], buf, len > 8 ? 8 : len);
            c->fpu.st[op->reg & 7][8] = 0xff;    /* exponent bits of an MMX write */
            c->fpu.st[op->reg & 7][9] = 0xff;
        } else if (op->cls == V3_RC_GPR) {
            uint64_t v = 0;
            memcpy(&v, buf, len > 8 ? 8 : len);
            v3_gpr_set(c, op->reg & 15, len > 8 ? 8 : len, v);
        } else
            return V3_X_UNSUPPORTED;
        return V3_X_NEXT;
    case V3_OPK_MEM:
        return v3_mem_write_op(ctx, in, op, buf, len);
    default:
        return V3_X_UNSUPPORTED;
    }
}

static int vmove(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned len, int aligned,
                 int zext)
{
    uint8_t buf[16];
    int st;
    if (in->nops < 2)
        return V3_X_UNSUPPORTED;
    if ((st = check_avail(ctx, in)))
        return st;
    if ((st = vcheck_dst(ctx, in, &in->op[0], len, aligned)))
        return st;
    if ((st = vread(ctx, in, &in->op[1], len, aligned, buf)))
        return st;
    if ((st = vwrite(ctx, in, &in->op[0], len, zext, buf)))
        return st;
    if (uses_cls(in, V3_RC_MMX))
        mmx_enter(ctx->core);
    return V3_X_NEXT;
}

static int op_movd(struct v3_emu_ctx *x, const struct v3_insn *in) { return vmove(x, in, 4, 0, 1); }
/* MOVQ: 8 bytes; an XMM destination is zeroed above (all MOVQ forms) */
static int op_movq(struct v3_emu_ctx *x, const struct v3_insn *in) { return vmove(x, in, 8, 0, 1); }
static int op_mova(struct v3_emu_ctx *x, const struct v3_insn *in) { return vmove(x, in, 16, 1, 0); }
static int op_movu(struct v3_emu_ctx *x, const struct v3_insn *in) { return vmove(x, in, 16, 0, 0); }
static int op_movnti(struct v3_emu_ctx *x, const struct v3_insn *in)
{
    return vmove(x, in, in->op[0].size, 0, 0);
}

/* MOVSD/MOVSS xmm, xmm/m: from memory zero the rest; register to register merges */
static int scalar_move(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned len)
{
    int zext = in->op[1].kind == V3_OPK_MEM;
    return vmove(ctx, in, len, 0, zext);
}
int v3_op_sse_movsd(struct v3_emu_ctx *ctx, const struct v3_insn *in) { return scalar_move(ctx, in, 8); }
static int op_movss(struct v3_emu_ctx *x, const struct v3_insn *in) { return scalar_move(x, in, 4); }

const struct v3_op_entry v3_ops_sse[] = {
    { ZYDIS_MNEMONIC_MOVD, 0, op_movd },
    { ZYDIS_MNEMONIC_MOVQ, 0, op_movq },
    { ZYDIS_MNEMONIC_MOVDQA, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVAPS, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVAPD, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVNTDQ, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVNTPS, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVNTPD, 0, op_mova },
    { ZYDIS_MNEMONIC_MOVDQU, 0, op_movu },
    { ZYDIS_MNEMONIC_MOVUPS, 0, op_movu },
    { ZYDIS_MNEMONIC_MOVUPD, 0, op_movu },
    { ZYDIS_MNEMONIC_LDDQU, 0, op_movu },
    { ZYDIS_MNEMONIC_MOVNTI, 0, op_movnti },
    { ZYDIS_MNEMONIC_MOVSS, 0, op_movss },
    { 0, 0, NULL },
};
