/* SPDX-License-Identifier: MIT */
/*
 * Data movement: MOV (register, immediate, moffs), MOVZX, MOVSX, MOVSXD,
 * MOVBE, CMOVcc, SETcc, XCHG, LEA.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

static int op_mov(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    unsigned size = in->op[0].size;
    uint64_t v;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &v)))
        return st;
    return v3_op_write(ctx, in, &in->op[0], size, v);
}

static int movx(struct v3_emu_ctx *ctx, const struct v3_insn *in, int sign)
{
    unsigned ss = in->op[1].size, ds = in->op[0].size;
    uint64_t v;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], ss, &v)))
        return st;
    if (sign)
        v = v3_sext(v, ss);
    return v3_op_write(ctx, in, &in->op[0], ds, v);
}
static int op_movzx(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx(x, in, 0); }
static int op_movsx(struct v3_emu_ctx *x, const struct v3_insn *in) { return movx(x, in, 1); }

static int op_movbe(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    unsigned size = in->op[0].size;
    uint64_t v;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &v)))
        return st;
    switch (size) {
    case 2: v = __builtin_bswap16((uint16_t)v); break;
    case 4: v = __builtin_bswap32((uint32_t)v); break;
    default: v = __builtin_bswap64(v); break;
    }
    return v3_op_write(ctx, in, &in->op[0], size, v);
}

/* CMOVcc: the source is always read; a 32-bit destination is always written
 * (zero-extending in 64-bit mode even when the condition is false). */
static int op_cmovcc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    unsigned size = in->op[0].size;
    uint64_t v, d;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &v)))
        return st;
    if (!v3_cond(ctx->core, in->cc)) {
        if (size != 4)
            return V3_X_NEXT;
        v3_op_read(ctx, in, &in->op[0], size, &d);
        v = d;
    }
    return v3_op_write(ctx, in, &in->op[0], size, v);
}

static int op_setcc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return v3_op_write(ctx, in, &in->op[0], 1, (uint64_t)v3_cond(ctx->core, in->cc));
}

/* XCHG: with a memory operand, implicitly locked */
static int op_xchg(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    const struct v3_operand *a = &in->op[0], *b = &in->op[1];
    unsigned size = a->size;
    uint64_t va, vb;
    int st;
    if (a->kind == V3_OPK_MEM) {
        const struct v3_operand *t = a;
        a = b;
        b = t;
    }
    /* now a is a register; b a register or memory */
    if ((st = v3_op_read(ctx, in, a, size, &va)))
        return st;
    if (b->kind == V3_OPK_MEM) {
        struct v3_rmw r;
        if ((st = v3_rmw_begin(ctx, in, b, size, 1, &r, &vb)))
            return st;
        while ((st = v3_rmw_commit(ctx, &r, &vb, va)) == V3_X_AGAIN)
            ;
        if (st)
            return st;
        return v3_op_write(ctx, in, a, size, vb);
    }
    if ((st = v3_op_read(ctx, in, b, size, &vb)))
        return st;
    v3_op_write(ctx, in, a, size, vb);
    return v3_op_write(ctx, in, b, size, va);
}

static int op_lea(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (in->op[1].kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    return v3_op_write(ctx, in, &in->op[0], in->op[0].size, v3_op_ea(ctx->core, in, &in->op[1]));
}

#define CC(n, f) { ZYDIS_MNEMONIC_##n, 0, f }
const struct v3_op_entry v3_ops_mov[] = {
    { ZYDIS_MNEMONIC_MOV, 0, op_mov },
    { ZYDIS_MNEMONIC_MOVZX, 0, op_movzx },
    { ZYDIS_MNEMONIC_MOVSX, 0, op_movsx },
    { ZYDIS_MNEMONIC_MOVSXD, 0, op_movsx },
    { ZYDIS_MNEMONIC_MOVBE, 0, op_movbe },
    { ZYDIS_MNEMONIC_XCHG, V3_OPF_LOCK, op_xchg },
    { ZYDIS_MNEMONIC_LEA, 0, op_lea },
    CC(CMOVO, op_cmovcc), CC(CMOVNO, op_cmovcc), CC(CMOVB, op_cmovcc), CC(CMOVNB, op_cmovcc),
    CC(CMOVZ, op_cmovcc), CC(CMOVNZ, op_cmovcc), CC(CMOVBE, op_cmovcc), CC(CMOVNBE, op_cmovcc),
    CC(CMOVS, op_cmovcc), CC(CMOVNS, op_cmovcc), CC(CMOVP, op_cmovcc), CC(CMOVNP, op_cmovcc),
    CC(CMOVL, op_cmovcc), CC(CMOVNL, op_cmovcc), CC(CMOVLE, op_cmovcc), CC(CMOVNLE, op_cmovcc),
    CC(SETO, op_setcc), CC(SETNO, op_setcc), CC(SETB, op_setcc), CC(SETNB, op_setcc),
    CC(SETZ, op_setcc), CC(SETNZ, op_setcc), CC(SETBE, op_setcc), CC(SETNBE, op_setcc),
    CC(SETS, op_setcc), CC(SETNS, op_setcc), CC(SETP, op_setcc), CC(SETNP, op_setcc),
    CC(SETL, op_setcc), CC(SETNL, op_setcc), CC(SETLE, op_setcc), CC(SETNLE, op_setcc),
    { 0, 0, NULL },
};
