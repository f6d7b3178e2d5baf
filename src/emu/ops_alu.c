/* SPDX-License-Identifier: MIT */
/*
 * Integer arithmetic and logic: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC
 * NEG NOT, XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B.  Memory destinations are
 * read-modify-write through v3_rmw_*, atomic with LOCK on RAM.
 */
#include <Zydis/Zydis.h>
#include "emu/alu_core.h"

enum alu_kind { K_ADD = V3_ALU_ADD, K_ADC = V3_ALU_ADC, K_SUB = V3_ALU_SUB, K_SBB = V3_ALU_SBB,
                K_AND = V3_ALU_AND, K_OR = V3_ALU_OR, K_XOR = V3_ALU_XOR };

static int alu2(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), src, old, res;
    unsigned cin = (k == K_ADC || k == K_SBB) ? v3_lazy_cf(c) : 0;
    struct v3_rmw r;
    int st;

    if ((st = v3_op_read(ctx, in, &in->op[1], size, &src)))
        return st;
    src &= m;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &old)))
        return st;
    do {
        res = v3_alu_compute(k, old, src, cin) & m;
    } while ((st = v3_rmw_commit(ctx, &r, &old, res)) == V3_X_AGAIN);
    if (st)
        return st;
    v3_alu_record(c, k, size, res, old, src);
    return V3_X_NEXT;
}

static int op_add(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_ADD); }
static int op_adc(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_ADC); }
static int op_sub(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_SUB); }
static int op_sbb(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_SBB); }
static int op_and(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_AND); }
static int op_or(struct v3_emu_ctx *x, const struct v3_insn *in)  { return alu2(x, in, K_OR); }
static int op_xor(struct v3_emu_ctx *x, const struct v3_insn *in) { return alu2(x, in, K_XOR); }

/* CMP and TEST only read their operands */
static int cmp_test(struct v3_emu_ctx *ctx, const struct v3_insn *in, int is_test)
{
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), a, b;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[0], size, &a)))
        return st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &b)))
        return st;
    a &= m;
    b &= m;
    if (is_test)
        v3_alu_test(ctx->core, size, a, b);
    else
        v3_alu_cmp(ctx->core, size, a, b);
    return V3_X_NEXT;
}
static int op_cmp(struct v3_emu_ctx *x, const struct v3_insn *in)  { return cmp_test(x, in, 0); }
static int op_test(struct v3_emu_ctx *x, const struct v3_insn *in) { return cmp_test(x, in, 1); }

/* INC DEC NEG NOT */
enum { U_INC = V3_UN_INC, U_DEC = V3_UN_DEC, U_NEG = V3_UN_NEG, U_NOT = V3_UN_NOT };
static int unary(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), old, res;
    unsigned cf = (k == U_INC || k == U_DEC) ? v3_lazy_cf(c) : 0;
    struct v3_rmw r;
    int st;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &old)))
        return st;
    do {
        res = v3_unary_compute(k, old) & m;
    } while ((st = v3_rmw_commit(ctx, &r, &old, res)) == V3_X_AGAIN);
    if (st)
        return st;
    v3_unary_record(c, k, size, res, old, cf);
    return V3_X_NEXT;
}
static int op_inc(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary(x, in, U_INC); }
static int op_dec(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary(x, in, U_DEC); }
static int op_neg(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary(x, in, U_NEG); }
static int op_not(struct v3_emu_ctx *x, const struct v3_insn *in) { return unary(x, in, U_NOT); }

/* XADD r/m, r: TEMP = DEST + SRC; SRC = DEST; DEST = TEMP */
static int op_xadd(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), src, old, res;
    struct v3_rmw r;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &src)))
        return st;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &old)))
        return st;
    if (in->op[0].kind == V3_OPK_REG) {
        res = (old + src) & m;
        v3_op_write(ctx, in, &in->op[1], size, old);
        v3_op_write(ctx, in, &in->op[0], size, res);
    } else {
        do {
            res = (old + src) & m;
        } while ((st = v3_rmw_commit(ctx, &r, &old, res)) == V3_X_AGAIN);
        if (st)
            return st;
        v3_op_write(ctx, in, &in->op[1], size, old);
    }
    v3_flags_lazy(c, V3_LF_ADD, size, res, old, src);
    return V3_X_NEXT;
}

/* CMPXCHG r/m, r: compare accumulator with DEST */
static int op_cmpxchg(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned size = in->op[0].size;
    uint64_t m = v3_size_mask(size), src, old, acc = v3_gpr_get(c, V3_RAX, size);
    struct v3_rmw r;
    int st;
    if ((st = v3_op_read(ctx, in, &in->op[1], size, &src)))
        return st;
    if ((st = v3_rmw_begin(ctx, in, &in->op[0], size, 0, &r, &old)))
        return st;
    /* A memory destination is written in both cases (with its own value on a
       mismatch: one locked read-modify-write cycle).  A register destination
       is left as it is on a mismatch, upper half included, as the hardware
       does (a 32-bit write would zero-extend it). */
    if (in->op[0].kind != V3_OPK_REG || old == acc) {
        while ((st = v3_rmw_commit(ctx, &r, &old, old == acc ? src : old)) == V3_X_AGAIN)
            ;
        if (st)
            return st;
    }
    if (old != acc)
        v3_gpr_set(c, V3_RAX, size, old);
    v3_flags_lazy(c, V3_LF_SUB, size, (acc - old) & m, acc, old);
    return V3_X_NEXT;
}

/* CMPXCHG8B / CMPXCHG16B m */
static int op_cmpxchg8b(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *op = &in->op[0];
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    uint64_t acc = (c->gpr[V3_RAX] & 0xffffffffull) | (c->gpr[V3_RDX] << 32);
    uint64_t nv = (c->gpr[V3_RBX] & 0xffffffffull) | (c->gpr[V3_RCX] << 32), old;
    struct v3_operand o8 = *op;
    o8.size = 8;
    struct v3_rmw r;
    int st;
    if ((st = v3_rmw_begin(ctx, in, &o8, 8, 0, &r, &old)))
        return st;
    while ((st = v3_rmw_commit(ctx, &r, &old, old == acc ? nv : old)) == V3_X_AGAIN)
        ;
    if (st)
        return st;
    if (old != acc) {
        v3_gpr_set(c, V3_RAX, 4, old);
        v3_gpr_set(c, V3_RDX, 4, old >> 32);
    }
    v3_flags_set(c, V3_FLAG_ZF, old == acc ? V3_FLAG_ZF : 0);
    return V3_X_NEXT;
}

static int op_cmpxchg16b(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *op = &in->op[0];
    if (op->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    uint64_t la;
    int st;
    if ((st = v3_seg_linear(ctx, op->reg, v3_op_ea(c, in, op), 16, V3_ACCESS_WRITE, &la)))
        return st;
    if (la & 15)
        return v3_exc_gp0(ctx);
    unsigned __int128 acc = ((unsigned __int128)c->gpr[V3_RDX] << 64) | c->gpr[V3_RAX];
    unsigned __int128 nv = ((unsigned __int128)c->gpr[V3_RCX] << 64) | c->gpr[V3_RBX];
    unsigned __int128 old;
    void *hva = ctx->mem->map ? ctx->mem->map(ctx, la, 16, V3_ACCESS_WRITE) : NULL;
    if (hva) {
        old = __sync_val_compare_and_swap((unsigned __int128 *)hva, acc, nv);
    } else {
        uint8_t b[16];
        st = v3_mem_status(ctx, ctx->mem->read(ctx, la, b, 16, V3_ACCESS_WRITE));
        if (st)
            return st;
        memcpy(&old, b, 16);
        unsigned __int128 w = old == acc ? nv : old;
        memcpy(b, &w, 16);
        if ((st = v3_mem_status(ctx, ctx->mem->write(ctx, la, b, 16, V3_ACCESS_WRITE))))
            return st;
    }
    if (old != acc) {
        c->gpr[V3_RAX] = (uint64_t)old;
        c->gpr[V3_RDX] = (uint64_t)(old >> 64);
    }
    v3_flags_set(c, V3_FLAG_ZF, old == acc ? V3_FLAG_ZF : 0);
    return V3_X_NEXT;
}

#define L V3_OPF_LOCK
const struct v3_op_entry v3_ops_alu[] = {
    { ZYDIS_MNEMONIC_ADD, L, op_add },
    { ZYDIS_MNEMONIC_ADC, L, op_adc },
    { ZYDIS_MNEMONIC_SUB, L, op_sub },
    { ZYDIS_MNEMONIC_SBB, L, op_sbb },
    { ZYDIS_MNEMONIC_AND, L, op_and },
    { ZYDIS_MNEMONIC_OR, L, op_or },
    { ZYDIS_MNEMONIC_XOR, L, op_xor },
    { ZYDIS_MNEMONIC_CMP, 0, op_cmp },
    { ZYDIS_MNEMONIC_TEST, 0, op_test },
    { ZYDIS_MNEMONIC_INC, L, op_inc },
    { ZYDIS_MNEMONIC_DEC, L, op_dec },
    { ZYDIS_MNEMONIC_NEG, L, op_neg },
    { ZYDIS_MNEMONIC_NOT, L, op_not },
    { ZYDIS_MNEMONIC_XADD, L, op_xadd },
    { ZYDIS_MNEMONIC_CMPXCHG, L, op_cmpxchg },
    { ZYDIS_MNEMONIC_CMPXCHG8B, L, op_cmpxchg8b },
    { ZYDIS_MNEMONIC_CMPXCHG16B, L, op_cmpxchg16b },
    { 0, 0, NULL },
};
