/* SPDX-License-Identifier: MIT */
/*
 * PUSH and POP of registers, immediates and memory operands (the stack may
 * itself be hooked memory).  Stack width from v3_stack_size(); element width
 * is the operand size.  POP sreg needs a descriptor load and is left to the
 * system family.
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

int v3_sys_pop_sreg(struct v3_emu_ctx *ctx, const struct v3_insn *in);

static int op_push(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    const struct v3_operand *op = &in->op[0];
    unsigned size = in->opsize;
    uint64_t v;
    int st;
    if (op->kind == V3_OPK_REG && op->cls == V3_RC_SREG)
        v = ctx->core->seg[op->reg & 7].selector;
    else if ((st = v3_op_read(ctx, in, op, size, &v)))
        return st;
    return v3_push(ctx, v, size);
}

/* POP r/m: an RSP-based destination address is computed after the increment */
static int op_pop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *op = &in->op[0];
    unsigned size = in->opsize;
    uint64_t v, old_rsp = c->gpr[V3_RSP];
    int st;
    if (op->kind == V3_OPK_REG && op->cls == V3_RC_SREG)
        return v3_sys_pop_sreg(ctx, in);      /* system family (ops_system.c) */
    if ((st = v3_pop(ctx, &v, size)))
        return st;
    if ((st = v3_op_write(ctx, in, op, size, v))) {
        c->gpr[V3_RSP] = old_rsp;
        return st;
    }
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_stack[] = {
    { ZYDIS_MNEMONIC_PUSH, 0, op_push },
    { ZYDIS_MNEMONIC_POP, 0, op_pop },
    { 0, 0, NULL },
};
