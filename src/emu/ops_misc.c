/* SPDX-License-Identifier: MIT */
/*
 * General-purpose instructions without a memory-hook angle: XLAT,
 * CBW/CWDE/CDQE, CWD/CDQ/CQO, LAHF/SAHF, CLC/STC/CMC/CLD/STD, PUSHA/POPA,
 * ENTER/LEAVE, PUSHF/POPF, the BCD adjustments (legacy modes; the decoder
 * gives #UD in 64-bit mode), LZCNT/TZCNT/POPCNT, BSWAP, the NOP forms,
 * PAUSE, fences and prefetches, UD0/UD1/UD2, CPUID and RDTSC.
 *
 * Undefined flags: LZCNT/TZCNT clear SF AF PF and keep OF (AMD); AAA/AAS give
 * OF SF ZF PF from the result byte of AL as the AMD CPUs do... (see
 * bcd_flags); DAA/DAS leave OF at 0; AAM/AAD set CF AF OF to 0.  BSWAP of a
 * 16-bit register gives 0 (AMD behaviour).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"
#include "arch/system.h"
#include <v3/backend.h>
#include <v3/cpuid.h>

#define ARITH (V3_FLAG_CF | V3_FLAG_PF | V3_FLAG_AF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_OF)

static int op_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)ctx; (void)in;
    return V3_X_NEXT;
}

static int op_ud(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    (void)in;
    return v3_exc_ud(ctx);
}

static int op_xlat(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t off = (c->gpr[V3_RBX] + (c->gpr[V3_RAX] & 0xff)) & v3_size_mask(in->addrsize);
    uint8_t b;
    int st = v3_mem_read_seg(ctx, in->seg, off, &b, 1, V3_ACCESS_READ);
    if (st)
        return st;
    v3_gpr_set(c, V3_RAX, 1, b);
    return V3_X_NEXT;
}

static int op_cbw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize;
    v3_gpr_set(c, V3_RAX, s, v3_sext(c->gpr[V3_RAX], s / 2));
    return V3_X_NEXT;
}

static int op_cwd(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize;
    uint64_t a = v3_sext(c->gpr[V3_RAX], s);
    v3_gpr_set(c, V3_RDX, s, (int64_t)a < 0 ? ~0ull : 0);
    return V3_X_NEXT;
}

static int op_lahf(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t f = v3_flags_get(c);
    (void)in;
    c->gpr[V3_RAX] = (c->gpr[V3_RAX] & ~0xff00ull) | (((f & 0xd5) | 2) << 8);
    return V3_X_NEXT;
}

static int op_sahf(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    (void)in;
    v3_flags_set(c, 0xd5, (c->gpr[V3_RAX] >> 8) & 0xd5);
    return V3_X_NEXT;
}

static int op_flagbit(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_CLC: v3_flags_set(c, V3_FLAG_CF, 0); break;
    case ZYDIS_MNEMONIC_STC: v3_flags_set(c, V3_FLAG_CF, V3_FLAG_CF); break;
    case ZYDIS_MNEMONIC_CMC: v3_flags_set(c, V3_FLAG_CF, v3_flags_cf(c) ? 0 : V3_FLAG_CF); break;
    case ZYDIS_MNEMONIC_CLD: c->rflags &= ~V3_FLAG_DF; break;
    case ZYDIS_MNEMONIC_STD: c->rflags |= V3_FLAG_DF; break;
    default: return V3_X_UNSUPPORTED;
    }
    return V3_X_NEXT;
}

/* PUSHA/PUSHAD: one 8- or 16-byte write at the final stack address, so a fault leaves nothing done. */
static int op_pusha(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize, ss = v3_stack_size(c);
    uint8_t buf[32];
    uint64_t sp = (c->gpr[V3_RSP] - 8 * s) & v3_size_mask(ss);
    int st;
    for (unsigned r = 0; r < 8; r++) {
        uint64_t v = c->gpr[r];
        memcpy(buf + (7 - r) * s, &v, s);
    }
    st = v3_mem_write_seg(ctx, V3_SS, sp, buf, 8 * s, V3_ACCESS_WRITE);
    if (st)
        return st;
    v3_gpr_set(c, V3_RSP, ss, sp);
    return V3_X_NEXT;
}

static int op_popa(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize, ss = v3_stack_size(c);
    uint8_t buf[32];
    uint64_t sp = c->gpr[V3_RSP] & v3_size_mask(ss);
    int st = v3_mem_read_seg(ctx, V3_SS, sp, buf, 8 * s, V3_ACCESS_READ);
    if (st)
        return st;
    for (unsigned r = 0; r < 8; r++) {
        uint64_t v = 0;
        if (r == V3_RSP)
            continue;
        memcpy(&v, buf + (7 - r) * s, s);
        v3_gpr_set(c, r, s, v);
    }
    v3_gpr_set(c, V3_RSP, ss, sp + 8 * s);
    return V3_X_NEXT;
}

static int op_enter(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize, ss = v3_stack_size(c);
    uint64_t alloc = in->op[0].val & 0xffff, level = in->op[1].val & 31;
    uint64_t rsp0 = c->gpr[V3_RSP], rbp = c->gpr[V3_RBP], frame;
    int st;

    if ((st = v3_push(ctx, rbp & v3_size_mask(s), s)))
        return st;
    frame = c->gpr[V3_RSP] & v3_size_mask(ss);
    for (uint64_t i = 1; i < level; i++) {
        uint64_t v = 0;
        rbp = (rbp - s) & v3_size_mask(ss);
        if ((st = v3_mem_read_seg(ctx, V3_SS, rbp, &v, s, V3_ACCESS_READ)) ||
            (st = v3_push(ctx, v, s))) {
            c->gpr[V3_RSP] = rsp0;
            return st;
        }
    }
    if (level > 0 && (st = v3_push(ctx, frame, s))) {
        c->gpr[V3_RSP] = rsp0;
        return st;
    }
    {
        /* the final stack pointer must be writable */
        uint64_t nsp = (c->gpr[V3_RSP] - alloc) & v3_size_mask(ss);
        uint8_t probe;
        if (alloc && (st = v3_mem_read_seg(ctx, V3_SS, nsp, &probe, 1, V3_ACCESS_WRITE))) {
            c->gpr[V3_RSP] = rsp0;
            return st;
        }
        v3_gpr_set(c, V3_RBP, s, frame);
        v3_gpr_set(c, V3_RSP, ss, nsp);
    }
    return V3_X_NEXT;
}

static int op_leave(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize, ss = v3_stack_size(c);
    uint64_t sp = c->gpr[V3_RBP] & v3_size_mask(ss), v = 0;
    int st = v3_mem_read_seg(ctx, V3_SS, sp, &v, s, V3_ACCESS_READ);
    if (st)
        return st;
    v3_gpr_set(c, V3_RSP, ss, sp + s);
    v3_gpr_set(c, V3_RBP, s, v);
    return V3_X_NEXT;
}

static int op_pushf(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t f = v3_flags_get(c) & ~(V3_FLAG_VM | V3_FLAG_RF);
    if (c->mode == V3_MODE_VM86 && ((c->rflags & V3_FLAG_IOPL) >> 12) < 3)
        return v3_exc_gp0(ctx);
    return v3_push(ctx, f & v3_size_mask(in->opsize), in->opsize);
}

static int op_popf(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->opsize, iopl = (unsigned)((c->rflags & V3_FLAG_IOPL) >> 12);
    uint64_t v, old = v3_flags_get(c), mask;
    int st;
    if (c->mode == V3_MODE_VM86 && iopl < 3)
        return v3_exc_gp0(ctx);
    if ((st = v3_pop(ctx, &v, s)))
        return st;
    /* always writable: arithmetic, TF, DF, NT, AC, ID (the latter two from 32 bits) */
    mask = ARITH | V3_FLAG_TF | V3_FLAG_DF | V3_FLAG_NT;
    if (s >= 4)
        mask |= V3_FLAG_AC | V3_FLAG_ID;
    if (c->mode != V3_MODE_VM86) {
        if (c->cpl == 0)
            mask |= V3_FLAG_IOPL;
        if (c->cpl <= iopl)
            mask |= V3_FLAG_IF;
    } else {
        mask |= V3_FLAG_IF;
    }
    mask &= v3_size_mask(s);
    v3_core_set_rflags(c, (old & ~mask) | (v & mask));
    return V3_X_NEXT;
}

/* ---------------------------------------------------------------- BCD */

static void szp_of(struct v3_core *c, uint64_t keep_mask, uint64_t keep_val, uint8_t r)
{
    uint64_t f = keep_val;
    if (r == 0) f |= V3_FLAG_ZF;
    if (r & 0x80) f |= V3_FLAG_SF;
    if (v3_parity(r)) f |= V3_FLAG_PF;
    v3_flags_set(c, keep_mask | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_PF, f);
}

static int op_daa(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t f = v3_flags_get(c);
    uint8_t al = (uint8_t)c->gpr[V3_RAX], old = al;
    unsigned cf = f & V3_FLAG_CF ? 1 : 0, af = 0, ncf = 0;
    bool das = in->mnemonic == ZYDIS_MNEMONIC_DAS;
    if ((al & 0xf) > 9 || (f & V3_FLAG_AF)) {
        af = 1;
        if (das) {
            ncf = cf || al < 6;
            al = (uint8_t)(al - 6);
        } else {
            ncf = cf || al > 0xf9;
            al = (uint8_t)(al + 6);
        }
    }
    if (old > 0x99 || cf) {
        al = (uint8_t)(das ? al - 0x60 : al + 0x60);
        ncf = 1;
    }
    v3_gpr_set(c, V3_RAX, 1, al);
    szp_of(c, V3_FLAG_CF | V3_FLAG_AF | V3_FLAG_OF,
           (ncf ? V3_FLAG_CF : 0) | (af ? V3_FLAG_AF : 0), al);
    return V3_X_NEXT;
}

static int op_aaa(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t f = v3_flags_get(c);
    uint16_t ax = (uint16_t)c->gpr[V3_RAX];
    bool aas = in->mnemonic == ZYDIS_MNEMONIC_AAS;
    unsigned adj = ((ax & 0xf) > 9) || (f & V3_FLAG_AF);
    if (adj) {
        if (aas) {
            ax = (uint16_t)(ax - 6);
            ax = (uint16_t)((ax & 0x00ff) | ((((ax >> 8) - 1) & 0xff) << 8));
        } else {
            ax = (uint16_t)(ax + 0x106);
        }
    }
    ax &= 0xff0f;
    v3_gpr_set(c, V3_RAX, 2, ax);
    szp_of(c, V3_FLAG_CF | V3_FLAG_AF | V3_FLAG_OF, adj ? (V3_FLAG_CF | V3_FLAG_AF) : 0, (uint8_t)ax);
    return V3_X_NEXT;
}

static int op_aam(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint8_t base = (uint8_t)in->op[0].val, al = (uint8_t)c->gpr[V3_RAX];
    if (in->nops == 0)
        base = 10;
    if (base == 0)
        return v3_exc_de(ctx);
    v3_gpr_set(c, V3_RAX, 2, (uint16_t)(((al / base) << 8) | (al % base)));
    szp_of(c, V3_FLAG_CF | V3_FLAG_AF | V3_FLAG_OF, 0, (uint8_t)(al % base));
    return V3_X_NEXT;
}

static int op_aad(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint8_t base = in->nops ? (uint8_t)in->op[0].val : 10;
    uint8_t al = (uint8_t)c->gpr[V3_RAX], ah = (uint8_t)(c->gpr[V3_RAX] >> 8);
    uint8_t r = (uint8_t)(al + ah * base);
    v3_gpr_set(c, V3_RAX, 2, r);
    szp_of(c, V3_FLAG_CF | V3_FLAG_AF | V3_FLAG_OF, 0, r);
    return V3_X_NEXT;
}

/* ---------------------------------------------------------------- bit counts, BSWAP */

static int op_bitcount(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned s = in->op[0].size, bits = s * 8;
    uint64_t v, r;
    int st = v3_op_read(ctx, in, &in->op[1], s, &v);
    if (st)
        return st;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_POPCNT:
        r = (uint64_t)__builtin_popcountll(v);
        if ((st = v3_op_write(ctx, in, &in->op[0], s, r)))
            return st;
        v3_flags_set(c, ARITH, v == 0 ? V3_FLAG_ZF : 0);
        return V3_X_NEXT;
    case ZYDIS_MNEMONIC_LZCNT:
        r = v == 0 ? bits : (uint64_t)(__builtin_clzll(v) - (64 - bits));
        break;
    default: /* TZCNT */
        r = v == 0 ? bits : (uint64_t)__builtin_ctzll(v);
        break;
    }
    if ((st = v3_op_write(ctx, in, &in->op[0], s, r)))
        return st;
    /* AMD: SF, AF and PF cleared, OF kept (measured on the host EPYC) */
    v3_flags_set(c, V3_FLAG_CF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_AF | V3_FLAG_PF,
                 (v == 0 ? V3_FLAG_CF : 0) | (r == 0 ? V3_FLAG_ZF : 0));
    return V3_X_NEXT;
}

static int op_bswap(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned r = in->op[0].reg & 15, s = in->op[0].size;
    if (s == 8)
        c->gpr[r] = __builtin_bswap64(c->gpr[r]);
    else if (s == 4)
        c->gpr[r] = __builtin_bswap32((uint32_t)c->gpr[r]);
    else
        v3_gpr_set(c, r, 2, 0);
    return V3_X_NEXT;
}

/* ---------------------------------------------------------------- CPUID, RDTSC */

static int op_cpuid(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t leaf = (uint32_t)c->gpr[V3_RAX], sub = (uint32_t)c->gpr[V3_RCX], out[4];
    (void)in;
    v3_cpu_cpuid(c, leaf, sub, out);
    c->gpr[V3_RAX] = out[0];
    c->gpr[V3_RBX] = out[1];
    c->gpr[V3_RCX] = out[2];
    c->gpr[V3_RDX] = out[3];
    if (c->backend && v3_cpu_cpuid_exits(c, leaf)) {
        /* the VMM's hook starts from the model's values (v3/io.h) */
        ctx->exit_reason = V3_EXIT_CPUID;
        ctx->exit_info[0] = leaf;
        ctx->exit_info[1] = sub;
        return V3_X_EXIT;
    }
    return V3_X_NEXT;
}

static int op_rdtsc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t t;
    (void)in;
    if ((c->cr4 & V3_CR4_TSD) && c->cpl != 0 && (c->cr0 & V3_CR0_PE))
        return v3_exc_gp0(ctx);
    t = v3_cpu_read_tsc(c);
    c->gpr[V3_RAX] = (uint32_t)t;
    c->gpr[V3_RDX] = t >> 32;
    return V3_X_NEXT;
}

const struct v3_op_entry v3_ops_misc[] = {
    { ZYDIS_MNEMONIC_NOP, 0, op_nop },
    { ZYDIS_MNEMONIC_PAUSE, 0, op_nop },
    { ZYDIS_MNEMONIC_ENDBR32, 0, op_nop },
    { ZYDIS_MNEMONIC_ENDBR64, 0, op_nop },
    { ZYDIS_MNEMONIC_LFENCE, 0, op_nop },
    { ZYDIS_MNEMONIC_MFENCE, 0, op_nop },
    { ZYDIS_MNEMONIC_SFENCE, 0, op_nop },
    { ZYDIS_MNEMONIC_PREFETCHNTA, 0, op_nop },
    { ZYDIS_MNEMONIC_PREFETCHT0, 0, op_nop },
    { ZYDIS_MNEMONIC_PREFETCHT1, 0, op_nop },
    { ZYDIS_MNEMONIC_PREFETCHT2, 0, op_nop },
    { ZYDIS_MNEMONIC_PREFETCHW, 0, op_nop },
    { ZYDIS_MNEMONIC_UD0, 0, op_ud },
    { ZYDIS_MNEMONIC_UD1, 0, op_ud },
    { ZYDIS_MNEMONIC_UD2, 0, op_ud },
    { ZYDIS_MNEMONIC_XLAT, 0, op_xlat },
    { ZYDIS_MNEMONIC_CBW, 0, op_cbw },
    { ZYDIS_MNEMONIC_CWDE, 0, op_cbw },
    { ZYDIS_MNEMONIC_CDQE, 0, op_cbw },
    { ZYDIS_MNEMONIC_CWD, 0, op_cwd },
    { ZYDIS_MNEMONIC_CDQ, 0, op_cwd },
    { ZYDIS_MNEMONIC_CQO, 0, op_cwd },
    { ZYDIS_MNEMONIC_LAHF, 0, op_lahf },
    { ZYDIS_MNEMONIC_SAHF, 0, op_sahf },
    { ZYDIS_MNEMONIC_CLC, 0, op_flagbit },
    { ZYDIS_MNEMONIC_STC, 0, op_flagbit },
    { ZYDIS_MNEMONIC_CMC, 0, op_flagbit },
    { ZYDIS_MNEMONIC_CLD, 0, op_flagbit },
    { ZYDIS_MNEMONIC_STD, 0, op_flagbit },
    { ZYDIS_MNEMONIC_PUSHA, 0, op_pusha },
    { ZYDIS_MNEMONIC_PUSHAD, 0, op_pusha },
    { ZYDIS_MNEMONIC_POPA, 0, op_popa },
    { ZYDIS_MNEMONIC_POPAD, 0, op_popa },
    { ZYDIS_MNEMONIC_ENTER, 0, op_enter },
    { ZYDIS_MNEMONIC_LEAVE, 0, op_leave },
    { ZYDIS_MNEMONIC_PUSHF, 0, op_pushf },
    { ZYDIS_MNEMONIC_PUSHFD, 0, op_pushf },
    { ZYDIS_MNEMONIC_PUSHFQ, 0, op_pushf },
    { ZYDIS_MNEMONIC_POPF, 0, op_popf },
    { ZYDIS_MNEMONIC_POPFD, 0, op_popf },
    { ZYDIS_MNEMONIC_POPFQ, 0, op_popf },
    { ZYDIS_MNEMONIC_DAA, 0, op_daa },
    { ZYDIS_MNEMONIC_DAS, 0, op_daa },
    { ZYDIS_MNEMONIC_AAA, 0, op_aaa },
    { ZYDIS_MNEMONIC_AAS, 0, op_aaa },
    { ZYDIS_MNEMONIC_AAM, 0, op_aam },
    { ZYDIS_MNEMONIC_AAD, 0, op_aad },
    { ZYDIS_MNEMONIC_LZCNT, 0, op_bitcount },
    { ZYDIS_MNEMONIC_TZCNT, 0, op_bitcount },
    { ZYDIS_MNEMONIC_POPCNT, 0, op_bitcount },
    { ZYDIS_MNEMONIC_BSWAP, 0, op_bswap },
    { ZYDIS_MNEMONIC_CPUID, 0, op_cpuid },
    { ZYDIS_MNEMONIC_RDTSC, 0, op_rdtsc },
    { 0, 0, NULL },
};
