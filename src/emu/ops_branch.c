/* SPDX-License-Identifier: MIT */
/*
 * Control flow: JMP, Jcc, CALL, RET (near and far), LOOP/LOOPE/LOOPNE,
 * JCXZ/JECXZ/JRCXZ.
 *
 * Near targets are truncated to the operand size (IP/EIP wrap).  Far
 * transfers: real and virtual-8086 mode load CS as selector << 4; protected
 * and long mode load a code-segment descriptor of the same privilege
 * (conforming or not) through the system level's descriptor reader.  Call
 * gates and task switches go to the system family (v3_sys_far_gate); far
 * returns to an outer privilege level to v3_sys_far_ret.
 */
#include <Zydis/Zydis.h>
#include "emu/alu_core.h"
#include "arch/system.h"

int v3_sys_far_is_gate(struct v3_emu_ctx *ctx, uint16_t sel);
int v3_sys_far_gate(struct v3_emu_ctx *ctx, const struct v3_insn *in, uint16_t sel, bool call);
int v3_sys_far_ret(struct v3_emu_ctx *ctx, const struct v3_insn *in);

#pragma weak v3_cpu_read_descriptor
#pragma weak v3_cpu_desc_to_seg

static inline uint64_t near_target(const struct v3_insn *in, uint64_t t)
{
    return t & v3_size_mask(in->opsize);
}

static inline uint64_t rel_target(const struct v3_core *c, const struct v3_insn *in)
{
    return v3_rel_target(c, in);
}

static int op_jcc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    if (!v3_lazy_cond(c, in->cc))
        return V3_X_NEXT;
    c->rip = rel_target(c, in);
    return V3_X_JUMP;
}

/* Load CS for a far transfer to @p sel:@p off.  Returns V3_X_NEXT with CS loaded. */
static int far_load_cs(struct v3_emu_ctx *ctx, uint16_t sel, bool is_ret)
{
    struct v3_core *c = ctx->core;
    uint64_t desc[2] = { 0, 0 };
    struct v3_segment seg;
    unsigned dpl, rpl = sel & 3, type;
    int rc;

    if (c->mode == V3_MODE_REAL || c->mode == V3_MODE_VM86) {
        c->seg[V3_CS].selector = sel;
        c->seg[V3_CS].base = (uint64_t)sel << 4;
        return V3_X_NEXT;
    }
    if (!v3_cpu_read_descriptor || !v3_cpu_desc_to_seg)
        return V3_X_UNSUPPORTED;
    if ((sel & ~3u) == 0)
        return v3_exc_gp0(ctx);
    rc = v3_cpu_read_descriptor(c, sel, desc, V3_EXC_GP, &ctx->exc);
    if (rc == V3_EFAULT)
        return V3_X_EXC;
    if (rc < 0) {
        ctx->error = rc;
        return V3_X_ERROR;
    }
    v3_cpu_desc_to_seg(desc[0], sel, &seg);
    type = V3_SEG_TYPE(seg.attrib);
    dpl = V3_SEG_DPL(seg.attrib);
    /* a system descriptor here (a far RET to one; JMP/CALL reach gates and
     * TSSs through v3_sys_far_gate first): #GP(selector) */
    if (!(seg.attrib & V3_SEG_S))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & ~3u);
    if (!(type & 8))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & ~3u);
    if (is_ret) {
        if (rpl != c->cpl)
            return V3_X_UNSUPPORTED;          /* return to an outer level */
    }
    if (type & 4) {                           /* conforming */
        if (dpl > c->cpl)
            return v3_raise(ctx, V3_EXC_GP, 1, sel & ~3u);
    } else if (is_ret ? dpl != rpl : (rpl > c->cpl || dpl != c->cpl)) {
        return v3_raise(ctx, V3_EXC_GP, 1, sel & ~3u);
    }
    if (!(seg.attrib & V3_SEG_P))
        return v3_raise(ctx, V3_EXC_NP, 1, sel & ~3u);
    seg.selector = (uint16_t)((sel & ~3u) | c->cpl);
    c->seg[V3_CS] = seg;
    v3_core_update_mode(c);
    return V3_X_NEXT;
}

/* Far pointer from a memory operand of size opsize + 2. */
static int read_far_ptr(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                        uint64_t *off, uint16_t *sel)
{
    uint8_t b[10];
    unsigned osz = op->size - 2;
    uint64_t o = 0;
    int st;
    if (osz != 2 && osz != 4 && osz != 8)
        return v3_exc_ud(ctx);
    st = v3_mem_read_op(ctx, in, op, b, op->size, V3_ACCESS_READ);
    if (st)
        return st;
    memcpy(&o, b, osz);
    memcpy(sel, b + osz, 2);
    *off = o;
    return V3_X_NEXT;
}

static bool is_far_mem(const struct v3_insn *in)
{
    return in->op[0].kind == V3_OPK_MEM && in->op[0].size == in->opsize + 2;
}

static int op_jmp(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *op = &in->op[0];
    uint64_t t;
    int st;

    if (op->kind == V3_OPK_IMM) {
        c->rip = rel_target(c, in);
        return V3_X_JUMP;
    }
    if (op->kind == V3_OPK_PTR || is_far_mem(in)) {
        uint16_t sel;
        struct v3_segment old = c->seg[V3_CS];
        if (op->kind == V3_OPK_PTR) {
            t = op->val & 0xffffffffull;
            sel = (uint16_t)(op->val >> 32);
        } else if ((st = read_far_ptr(ctx, in, op, &t, &sel))) {
            return st;
        }
        if (v3_sys_far_is_gate(ctx, sel))                 /* call gates: system family */
            return v3_sys_far_gate(ctx, in, sel, false);
        if ((st = far_load_cs(ctx, sel, false)))
            return st;
        c->rip = t & v3_size_mask(op->kind == V3_OPK_PTR ? in->opsize : (unsigned)op->size - 2);
        (void)old;
        return V3_X_JUMP;
    }
    st = v3_op_read(ctx, in, op, in->opsize, &t);
    if (st)
        return st;
    c->rip = near_target(in, t);
    return V3_X_JUMP;
}

static int op_call(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *op = &in->op[0];
    uint64_t ret = c->rip + in->len, t, rsp = c->gpr[V3_RSP];
    int st;

    if (op->kind == V3_OPK_PTR || is_far_mem(in)) {
        uint16_t sel, oldsel = c->seg[V3_CS].selector;
        unsigned osz = op->kind == V3_OPK_PTR ? in->opsize : (unsigned)op->size - 2;
        struct v3_segment oldcs = c->seg[V3_CS];
        if (op->kind == V3_OPK_PTR) {
            t = op->val & 0xffffffffull;
            sel = (uint16_t)(op->val >> 32);
        } else if ((st = read_far_ptr(ctx, in, op, &t, &sel))) {
            return st;
        }
        if (v3_sys_far_is_gate(ctx, sel))                 /* call gates: system family */
            return v3_sys_far_gate(ctx, in, sel, true);
        if ((st = v3_push(ctx, oldsel, osz)))
            return st;
        if ((st = v3_push(ctx, ret & v3_size_mask(osz), osz))) {
            c->gpr[V3_RSP] = rsp;
            return st;
        }
        if ((st = far_load_cs(ctx, sel, false))) {
            c->gpr[V3_RSP] = rsp;
            c->seg[V3_CS] = oldcs;
            return st;
        }
        c->rip = t & v3_size_mask(osz);
        return V3_X_JUMP;
    }
    if (op->kind == V3_OPK_IMM)
        t = rel_target(c, in);
    else if ((st = v3_op_read(ctx, in, op, in->opsize, &t)))
        return st;
    if ((st = v3_push(ctx, ret & v3_size_mask(in->opsize), in->opsize)))
        return st;
    c->rip = near_target(in, t);
    return V3_X_JUMP;
}

static int op_ret(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t t, rsp = c->gpr[V3_RSP], imm = 0;
    bool far = in->opcode == 0xca || in->opcode == 0xcb;
    unsigned ss = v3_stack_size(c);
    int st;

    if (far && (c->cr0 & V3_CR0_PE) && !(c->rflags & V3_FLAG_VM))
        return v3_sys_far_ret(ctx, in);                   /* protected-mode RETF: system family */
    if (in->nops > 0 && in->op[0].kind == V3_OPK_IMM)
        imm = in->op[0].val & 0xffff;
    if ((st = v3_pop(ctx, &t, in->opsize)))
        return st;
    if (far) {
        uint64_t sel;
        struct v3_segment oldcs = c->seg[V3_CS];
        if ((st = v3_pop(ctx, &sel, in->opsize))) {
            c->gpr[V3_RSP] = rsp;
            return st;
        }
        if ((st = far_load_cs(ctx, (uint16_t)sel, true))) {
            c->gpr[V3_RSP] = rsp;
            c->seg[V3_CS] = oldcs;
            return st;
        }
    }
    if (imm)
        v3_gpr_set(c, V3_RSP, ss, (c->gpr[V3_RSP] + imm) & v3_size_mask(ss));
    c->rip = near_target(in, t);
    return V3_X_JUMP;
}

static int op_loop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned as = in->addrsize;
    uint64_t cnt = (v3_gpr_get(c, V3_RCX, as) - 1) & v3_size_mask(as);
    bool take;
    v3_gpr_set(c, V3_RCX, as, cnt);
    take = cnt != 0;
    if (in->mnemonic == ZYDIS_MNEMONIC_LOOPE)
        take = take && v3_cond(c, V3_CC_E);
    else if (in->mnemonic == ZYDIS_MNEMONIC_LOOPNE)
        take = take && v3_cond(c, V3_CC_NE);
    if (!take)
        return V3_X_NEXT;
    c->rip = rel_target(c, in);
    return V3_X_JUMP;
}

static int op_jcxz(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    if (v3_gpr_get(c, V3_RCX, in->addrsize) != 0)
        return V3_X_NEXT;
    c->rip = rel_target(c, in);
    return V3_X_JUMP;
}

const struct v3_op_entry v3_ops_branch[] = {
    { ZYDIS_MNEMONIC_JO, 0, op_jcc },   { ZYDIS_MNEMONIC_JNO, 0, op_jcc },
    { ZYDIS_MNEMONIC_JB, 0, op_jcc },   { ZYDIS_MNEMONIC_JNB, 0, op_jcc },
    { ZYDIS_MNEMONIC_JZ, 0, op_jcc },   { ZYDIS_MNEMONIC_JNZ, 0, op_jcc },
    { ZYDIS_MNEMONIC_JBE, 0, op_jcc },  { ZYDIS_MNEMONIC_JNBE, 0, op_jcc },
    { ZYDIS_MNEMONIC_JS, 0, op_jcc },   { ZYDIS_MNEMONIC_JNS, 0, op_jcc },
    { ZYDIS_MNEMONIC_JP, 0, op_jcc },   { ZYDIS_MNEMONIC_JNP, 0, op_jcc },
    { ZYDIS_MNEMONIC_JL, 0, op_jcc },   { ZYDIS_MNEMONIC_JNL, 0, op_jcc },
    { ZYDIS_MNEMONIC_JLE, 0, op_jcc },  { ZYDIS_MNEMONIC_JNLE, 0, op_jcc },
    { ZYDIS_MNEMONIC_JMP, 0, op_jmp },
    { ZYDIS_MNEMONIC_CALL, 0, op_call },
    { ZYDIS_MNEMONIC_RET, 0, op_ret },
    { ZYDIS_MNEMONIC_LOOP, 0, op_loop },
    { ZYDIS_MNEMONIC_LOOPE, 0, op_loop },
    { ZYDIS_MNEMONIC_LOOPNE, 0, op_loop },
    { ZYDIS_MNEMONIC_JCXZ, 0, op_jcxz },
    { ZYDIS_MNEMONIC_JECXZ, 0, op_jcxz },
    { ZYDIS_MNEMONIC_JRCXZ, 0, op_jcxz },
    { 0, 0, NULL },
};
