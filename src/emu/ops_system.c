/* SPDX-License-Identifier: MIT */
/*
 * System instructions: segment register loads, descriptor-table registers,
 * control/debug registers, MSRs, interrupts and IRET, SYSCALL/SYSRET,
 * SYSENTER/SYSEXIT, SWAPGS, CLI/STI/HLT, port I/O permission, LAR/LSL/
 * VERR/VERW/ARPL, BOUND, hypercalls.  The architectural work is in
 * src/arch/system.c; these handlers decode operands and apply the
 * privilege rules of each instruction.
 *
 * Exits (V3_X_EXIT) leave RIP at the instruction; the back end retires it.
 */
#include <Zydis/Zydis.h>
#include <v3/debug.h>
#include "emu/insn.h"
#include "emu/x87.h"
#include "arch/system.h"
#include <v3/cpuid.h>

static inline bool pmode(const struct v3_core *c) { return (c->cr0 & V3_CR0_PE) != 0; }
static inline bool vm86(const struct v3_core *c) { return (c->rflags & V3_FLAG_VM) != 0; }
static inline unsigned iopl(const struct v3_core *c) { return (unsigned)((c->rflags >> 12) & 3); }

static inline bool canon48(uint64_t v) { return (uint64_t)((int64_t)(v << 16) >> 16) == v; }

/* Map a system-level return code to a handler status. */
static int sys_status(struct v3_emu_ctx *ctx, int rc)
{
    if (rc == 0)
        return V3_X_NEXT;
    if (rc == V3_EFAULT)
        return V3_X_EXC;
    if (rc == V3_CPU_SHUTDOWN) {
        ctx->exit_reason = V3_EXIT_SHUTDOWN;
        return V3_X_EXIT;
    }
    ctx->error = rc;
    return V3_X_ERROR;
}

/*
 * Retire the instruction and end the software CPU's current block: used after
 * writes to state that the loop samples once per block (CR0/CR4/EFER mode and
 * paging controls, DR7 breakpoints).
 */
static int next_end_block(struct v3_emu_ctx *ctx, const struct v3_insn *in, int st)
{
    if (st != V3_X_NEXT)
        return st;
    ctx->core->rip += in->len;
    return V3_X_JUMP;
}

/* CPL 0 required (real mode counts as CPL 0). */
static inline bool priv_fail(const struct v3_core *c)
{
    return pmode(c) && (vm86(c) || c->cpl != 0);
}

/* ------------------------------------------------------------ segment registers */

static int load_sreg(struct v3_emu_ctx *ctx, unsigned sreg, uint16_t sel)
{
    struct v3_core *c = ctx->core;
    int rc = v3_load_segment(c, (int)sreg, sel, &ctx->exc);
    if (rc)
        return sys_status(ctx, rc);
    if (sreg == V3_SS)
        c->intr_shadow |= V3_SHADOW_MOVSS;
    return V3_X_NEXT;
}

static int op_mov_sreg(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    uint64_t v;
    int st;

    if (d->kind == V3_OPK_REG && d->cls == V3_RC_SREG) {
        if (d->reg == V3_CS || d->reg > V3_GS)
            return v3_exc_ud(ctx);
        if ((st = v3_op_read(ctx, in, s, 2, &v)))
            return st;
        return load_sreg(ctx, d->reg, (uint16_t)v);
    }
    if (s->reg > V3_GS)
        return v3_exc_ud(ctx);
    v = c->seg[s->reg].selector;
    if (d->kind == V3_OPK_MEM)
        return v3_op_write(ctx, in, d, 2, v);
    return v3_op_write(ctx, in, d, d->size, v);
}

/* POP sreg (called by the stack family for segment-register operands). */
int v3_sys_pop_sreg(struct v3_emu_ctx *ctx, const struct v3_insn *in);
int v3_sys_pop_sreg(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t v, rsp = c->gpr[V3_RSP];
    int st;

    if ((st = v3_pop(ctx, &v, in->opsize)))
        return st;
    if ((st = load_sreg(ctx, in->op[0].reg & 7, (uint16_t)v)))
        c->gpr[V3_RSP] = rsp;
    return st;
}

/* LDS/LES/LFS/LGS/LSS r, m16:16/32/64 */
static int op_lxs(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *m = &in->op[1];
    uint8_t b[10];
    unsigned osz = in->opsize, sreg;
    uint64_t off = 0;
    uint16_t sel;
    int st;

    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_LDS: sreg = V3_DS; break;
    case ZYDIS_MNEMONIC_LES: sreg = V3_ES; break;
    case ZYDIS_MNEMONIC_LFS: sreg = V3_FS; break;
    case ZYDIS_MNEMONIC_LGS: sreg = V3_GS; break;
    default:                 sreg = V3_SS; break;
    }
    if (m->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if ((st = v3_mem_read_op(ctx, in, m, b, osz + 2, V3_ACCESS_READ)))
        return st;
    memcpy(&off, b, osz);
    memcpy(&sel, b + osz, 2);
    if ((st = load_sreg(ctx, sreg, sel)))
        return st;
    v3_gpr_set(c, in->op[0].reg, osz, off);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ descriptor tables */

static int op_lgdt_lidt(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint8_t b[10];
    uint16_t limit;
    uint64_t base = 0;
    unsigned bsz = c->mode == V3_MODE_LONG64 ? 8 : 4;
    int st;

    if (in->op[0].kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    if ((st = v3_mem_read_seg(ctx, in->op[0].reg, v3_op_ea(c, in, &in->op[0]), b, 2 + bsz,
                              V3_ACCESS_READ)))
        return st;
    memcpy(&limit, b, 2);
    memcpy(&base, b + 2, bsz);
    if (bsz == 4 && in->opsize == 2)
        base &= 0xffffff;
    if (bsz == 8 && !canon48(base))
        return v3_exc_gp0(ctx);       /* AMD APM: the new base address is non-canonical */
    if (in->mnemonic == ZYDIS_MNEMONIC_LGDT) {
        c->gdtr.base = base;
        c->gdtr.limit = limit;
    } else {
        c->idtr.base = base;
        c->idtr.limit = limit;
    }
    return V3_X_NEXT;
}

static int op_sgdt_sidt(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_dtable *t = in->mnemonic == ZYDIS_MNEMONIC_SGDT ? &c->gdtr : &c->idtr;
    uint8_t b[10];
    unsigned bsz = c->mode == V3_MODE_LONG64 ? 8 : 4;
    uint64_t base = t->base;

    if (in->op[0].kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if ((c->cr4 & V3_CR4_UMIP) && pmode(c) && c->cpl > 0)
        return v3_exc_gp0(ctx);
    memcpy(b, &t->limit, 2);
    memcpy(b + 2, &base, 8);
    return v3_mem_write_seg(ctx, in->op[0].reg, v3_op_ea(c, in, &in->op[0]), b, 2 + bsz,
                            V3_ACCESS_WRITE);
}

static int op_sldt_str(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0];
    uint16_t v = c->seg[in->mnemonic == ZYDIS_MNEMONIC_SLDT ? V3_LDTR : V3_TR].selector;

    if (!pmode(c) || vm86(c))
        return v3_exc_ud(ctx);
    if ((c->cr4 & V3_CR4_UMIP) && c->cpl > 0)
        return v3_exc_gp0(ctx);
    return v3_op_write(ctx, in, d, d->kind == V3_OPK_MEM ? 2 : d->size, v);
}

static int op_lldt_ltr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    bool ltr = in->mnemonic == ZYDIS_MNEMONIC_LTR;
    uint64_t v, d[2];
    uint16_t sel;
    int st, rc;

    if (!pmode(c) || vm86(c))
        return v3_exc_ud(ctx);
    if (c->cpl != 0)
        return v3_exc_gp0(ctx);
    if ((st = v3_op_read(ctx, in, &in->op[0], 2, &v)))
        return st;
    sel = (uint16_t)v;
    if ((sel & ~3u) == 0) {
        if (ltr)
            return v3_exc_gp0(ctx);
        c->seg[V3_LDTR].selector = sel;
        c->seg[V3_LDTR].attrib = 0;
        c->seg[V3_LDTR].base = 0;
        c->seg[V3_LDTR].limit = 0;
        return V3_X_NEXT;
    }
    if (sel & 4)
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    if ((rc = v3_cpu_read_descriptor(c, sel, d, V3_EXC_GP, &ctx->exc)))
        return sys_status(ctx, rc);
    unsigned type = (unsigned)((d[0] >> 40) & 0xf);
    bool sys = !((d[0] >> 44) & 1);
    bool ok = sys && (ltr ? (type == 9 || (type == 1 && c->mode != V3_MODE_LONG64 &&
                                           !(c->efer & V3_EFER_LMA)))
                          : type == 2);
    if (!ok)
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    if (!((d[0] >> 47) & 1))
        return v3_raise(ctx, V3_EXC_NP, 1, sel & 0xfffc);
    struct v3_segment s;
    v3_cpu_desc_to_seg(d[0], sel, &s);
    if (c->efer & V3_EFER_LMA) {
        /* 16-byte descriptor: the upper half's type field must be 0, the base canonical */
        if (((d[1] >> 40) & 0x1f) != 0)
            return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
        s.base |= (d[1] & 0xffffffffull) << 32;
        if (!canon48(s.base))
            return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    }
    if (ltr) {
        /* mark busy in the GDT */
        uint8_t acc = (uint8_t)((d[0] >> 40) | 2);
        uint64_t la = c->gdtr.base + (sel & ~7u) + 5;
        int64_t r = v3_write_gva_memory(c, (c->efer & V3_EFER_LMA) ? la : (uint32_t)la, 1, &acc,
                                        V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR, &ctx->exc);
        if (r < 0)
            return sys_status(ctx, (int)r);
        s.attrib |= 2;
        c->seg[V3_TR] = s;
    } else {
        c->seg[V3_LDTR] = s;
    }
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ control and debug registers */

/*
 * MOV to or from a control or debug register (@p cls: V3_RC_CR or V3_RC_DR),
 * through the system level's read and write routines.  The operand size is
 * the mode's (8 in 64-bit mode, else 4); a write ends the block (it may
 * change how the following instructions run).
 */
static int mov_ctl(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned cls,
                   int (*rd)(struct v3_core *, unsigned, uint64_t *, struct v3_exception *),
                   int (*wr)(struct v3_core *, unsigned, uint64_t, struct v3_exception *))
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0], *s = &in->op[1];
    unsigned size = c->mode == V3_MODE_LONG64 ? 8 : 4;
    uint64_t v;
    int rc;

    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    if (d->cls == cls) {
        v = v3_gpr_get(c, s->reg, size);
        return next_end_block(ctx, in, sys_status(ctx, wr(c, d->reg, v, &ctx->exc)));
    }
    if ((rc = rd(c, s->reg, &v, &ctx->exc)))
        return sys_status(ctx, rc);
    v3_gpr_set(c, d->reg, size, v);
    return V3_X_NEXT;
}

static int op_mov_cr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return mov_ctl(ctx, in, V3_RC_CR, v3_cpu_read_cr, v3_cpu_write_cr);
}

static int op_mov_dr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return mov_ctl(ctx, in, V3_RC_DR, v3_cpu_read_dr, v3_cpu_write_dr);
}

static int op_clts(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (priv_fail(ctx->core))
        return v3_exc_gp0(ctx);
    ctx->core->cr0 &= ~V3_CR0_TS;
    return V3_X_NEXT;
}

static int op_lmsw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t v;
    int st;

    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    if ((st = v3_op_read(ctx, in, &in->op[0], 2, &v)))
        return st;
    v = (c->cr0 & ~0xeull) | (v & 0xf) | (c->cr0 & V3_CR0_PE);
    return next_end_block(ctx, in, sys_status(ctx, v3_cpu_write_cr(c, 0, v, &ctx->exc)));
}

static int op_smsw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *d = &in->op[0];

    if ((c->cr4 & V3_CR4_UMIP) && pmode(c) && c->cpl > 0)
        return v3_exc_gp0(ctx);
    return v3_op_write(ctx, in, d, d->kind == V3_OPK_MEM ? 2 : d->size, c->cr0);
}

static int op_invlpg(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    const struct v3_operand *m = &in->op[0];
    uint64_t la = v3_op_ea(c, in, m);

    if (m->kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    if (c->mode != V3_MODE_LONG64 || m->reg == V3_FS || m->reg == V3_GS)
        la += c->seg[m->reg].base;
    if (!(c->efer & V3_EFER_LMA))
        la = (uint32_t)la;
    v3_tlb_invlpg(c, la);
    return V3_X_NEXT;
}

static int op_priv_nop(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (priv_fail(ctx->core))
        return v3_exc_gp0(ctx);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ MSRs, TSC */

static int op_rdmsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t idx = (uint32_t)c->gpr[V3_RCX];
    uint64_t v;
    int rc;

    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    rc = v3_cpu_rdmsr(c, idx, &v, &ctx->exc);
    if (rc == V3_MSR_UNKNOWN) {
        ctx->exit_reason = V3_EXIT_MSR_READ;
        ctx->exit_info[0] = idx;
        ctx->exit_info[1] = 0;
        return V3_X_EXIT;
    }
    if (rc)
        return sys_status(ctx, rc);
    c->gpr[V3_RAX] = (uint32_t)v;
    c->gpr[V3_RDX] = v >> 32;
    return V3_X_NEXT;
}

static int op_wrmsr(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t idx = (uint32_t)c->gpr[V3_RCX];
    uint64_t v = (uint32_t)c->gpr[V3_RAX] | (c->gpr[V3_RDX] << 32);
    int rc;

    if (priv_fail(c))
        return v3_exc_gp0(ctx);
    rc = v3_cpu_wrmsr(c, idx, v, &ctx->exc);
    if (rc == V3_MSR_UNKNOWN) {
        ctx->exit_reason = V3_EXIT_MSR_WRITE;
        ctx->exit_info[0] = idx;
        ctx->exit_info[1] = v;
        return V3_X_EXIT;
    }
    return next_end_block(ctx, in, sys_status(ctx, rc));
}

static int op_rdtscp(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t t;

    if ((c->cr4 & V3_CR4_TSD) && pmode(c) && c->cpl > 0)
        return v3_exc_gp0(ctx);
    t = v3_cpu_read_tsc(c);
    c->gpr[V3_RAX] = (uint32_t)t;
    c->gpr[V3_RDX] = t >> 32;
    c->gpr[V3_RCX] = (uint32_t)c->tsc_aux;
    return V3_X_NEXT;
}

/* RDPMC: nothing counts.  ECX 0-3 are AMD's legacy counters: the values
 * last written to PERF_CTR0-3 (0 on an Intel model, which has no counters
 * in this range modelled); other indexes #GP(0). */
static int op_rdpmc(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint32_t i = (uint32_t)c->gpr[V3_RCX];

    if (pmode(c) && (c->cpl > 0 || vm86(c)) && !(c->cr4 & V3_CR4_PCE))
        return v3_exc_gp0(ctx);
    if (i >= 4)
        return v3_exc_gp0(ctx);
    c->gpr[V3_RAX] = (uint32_t)c->msr_inert.perf_ctr[i];
    c->gpr[V3_RDX] = (uint32_t)(c->msr_inert.perf_ctr[i] >> 32);
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ interrupts */

static int op_cli_sti(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t fl = v3_core_get_rflags(c);

    if (pmode(c) && c->cpl > iopl(c))
        return v3_exc_gp0(ctx);
    if (vm86(c) && iopl(c) < 3)
        return v3_exc_gp0(ctx);
    if (in->mnemonic == ZYDIS_MNEMONIC_STI) {
        if (!(fl & V3_FLAG_IF))
            c->intr_shadow |= V3_SHADOW_STI;
        fl |= V3_FLAG_IF;
    } else {
        fl &= ~V3_FLAG_IF;
    }
    v3_core_set_rflags(c, fl);
    return V3_X_NEXT;
}

static int op_hlt(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (priv_fail(ctx->core))
        return v3_exc_gp0(ctx);
    ctx->core->halted = 1;
    ctx->exit_reason = V3_EXIT_HLT;
    return V3_X_EXIT;
}

static int soft_int(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned vec,
                    enum v3_event_src src)
{
    struct v3_core *c = ctx->core;
    uint64_t next = c->rip + in->len;
    int rc;

    if (c->mode != V3_MODE_LONG64)
        next &= 0xffffffffull;
    if (c->mode == V3_MODE_REAL || (c->cr0 & V3_CR0_PE) == 0)
        next &= 0xffff;
    else if (c->mode == V3_MODE_PROT16 || c->mode == V3_MODE_COMPAT16 || c->mode == V3_MODE_VM86)
        next &= 0xffff;
    rc = v3_cpu_deliver(c, vec, src, false, 0, 0, next);
    if (rc == 0)
        return V3_X_JUMP;
    if (rc == V3_CPU_SHUTDOWN) {
        ctx->exit_reason = V3_EXIT_SHUTDOWN;
        return V3_X_EXIT;
    }
    ctx->error = rc;
    return V3_X_ERROR;
}

static int op_int(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    if (vm86(c) && iopl(c) < 3)
        return v3_exc_gp0(ctx);
    return soft_int(ctx, in, (unsigned)(in->op[0].val & 0xff), V3_SRC_SOFT_INT);
}

static int op_int3(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return soft_int(ctx, in, V3_EXC_BP, V3_SRC_SOFT_EXC);
}

static int op_into(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    if (ctx->core->mode == V3_MODE_LONG64)
        return v3_exc_ud(ctx);
    if (!(v3_flags_get(ctx->core) & V3_FLAG_OF))
        return V3_X_NEXT;
    return soft_int(ctx, in, V3_EXC_OF, V3_SRC_SOFT_EXC);
}

static int op_int1(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    return soft_int(ctx, in, V3_EXC_DB, V3_SRC_ICEBP);
}

static int op_bound(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned sz = in->opsize;
    uint8_t b[8];
    int64_t lo = 0, hi = 0, v;
    int st;

    if (in->op[1].kind != V3_OPK_MEM)
        return v3_exc_ud(ctx);
    if ((st = v3_mem_read_op(ctx, in, &in->op[1], b, 2 * sz, V3_ACCESS_READ)))
        return st;
    if (sz == 2) {
        int16_t l, h;
        memcpy(&l, b, 2);
        memcpy(&h, b + 2, 2);
        lo = l;
        hi = h;
        v = (int16_t)c->gpr[in->op[0].reg];
    } else {
        int32_t l, h;
        memcpy(&l, b, 4);
        memcpy(&h, b + 4, 4);
        lo = l;
        hi = h;
        v = (int32_t)c->gpr[in->op[0].reg];
    }
    if (v < lo || v > hi)
        return v3_raise(ctx, V3_EXC_BR, 0, 0);
    return V3_X_NEXT;
}

/* Null DS/ES/FS/GS that the new (outer) CPL may not use. */
static void null_outer_segs(struct v3_core *c, unsigned cpl)
{
    static const int segs[4] = { V3_ES, V3_DS, V3_FS, V3_GS };
    for (int i = 0; i < 4; i++) {
        struct v3_segment *s = &c->seg[segs[i]];
        unsigned type = V3_SEG_TYPE(s->attrib);
        bool conforming_code = (type & 0xc) == 0xc;
        if ((s->attrib & V3_SEG_S) && !conforming_code && V3_SEG_DPL(s->attrib) < cpl) {
            s->selector = 0;
            s->attrib = 0;
            s->base = 0;
            s->limit = 0;
        }
    }
}

/* Load CS for a return (IRET / far RET) to @sel at privilege @rpl; checks only. */
static int check_ret_cs(struct v3_emu_ctx *ctx, uint16_t sel, uint64_t d[2])
{
    struct v3_core *c = ctx->core;
    unsigned rpl = sel & 3, dpl, type;
    int rc;

    if ((sel & ~3u) == 0)
        return v3_exc_gp0(ctx);
    if ((rc = v3_cpu_read_descriptor(c, sel, d, V3_EXC_GP, &ctx->exc)))
        return sys_status(ctx, rc);
    type = (unsigned)((d[0] >> 40) & 0xf);
    dpl = (unsigned)((d[0] >> 45) & 3);
    if (!((d[0] >> 44) & 1) || !(type & 8) || rpl < c->cpl)
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    if ((type & 4) ? dpl > rpl : dpl != rpl)
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    if (!((d[0] >> 47) & 1))
        return v3_raise(ctx, V3_EXC_NP, 1, sel & 0xfffc);
    if ((c->efer & V3_EFER_LMA) && ((d[0] >> 53) & 1) && ((d[0] >> 54) & 1))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    return V3_X_NEXT;
}

static int op_iret(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned osz = in->opsize;
    uint64_t rsp0 = c->gpr[V3_RSP], ip, cs, fl, sp = 0, ss = 0;
    uint64_t oldfl = v3_core_get_rflags(c);
    int st;

    c->nmi_blocked = 0;
    if (!pmode(c) || vm86(c)) {
        if (vm86(c) && iopl(c) < 3)
            return v3_exc_gp0(ctx);
        if ((st = v3_pop(ctx, &ip, osz)) || (st = v3_pop(ctx, &cs, osz)) ||
            (st = v3_pop(ctx, &fl, osz))) {
            c->gpr[V3_RSP] = rsp0;
            return st;
        }
        if (!vm86(c) && ip > c->seg[V3_CS].limit) {
            c->gpr[V3_RSP] = rsp0;
            return v3_exc_gp0(ctx);
        }
        c->seg[V3_CS].selector = (uint16_t)cs;
        c->seg[V3_CS].base = (cs & 0xffff) << 4;
        if (osz == 2)
            fl = (oldfl & ~0xffffull) | (fl & 0xffff);
        else
            fl = (fl & 0x257fd5) | (oldfl & 0x1a0000);
        if (vm86(c))
            fl = (fl & ~V3_FLAG_IOPL) | (oldfl & V3_FLAG_IOPL);
        v3_core_set_rflags(c, (fl & ~0x8028ull) | 2);
        c->rip = ip;
        return V3_X_JUMP;
    }
    if (oldfl & V3_FLAG_NT) {
        if (c->efer & V3_EFER_LMA)
            return v3_exc_gp0(ctx);
        uint16_t back;
        int64_t r = v3_read_gva_memory(c, (uint32_t)c->seg[V3_TR].base, 2, &back,
                                       V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, &ctx->exc);
        if (r < 0)
            return sys_status(ctx, (int)r);
        extern int v3_cpu_task_switch(struct v3_core *, uint16_t, int, bool, uint32_t, uint64_t,
                                      struct v3_exception *);
        int rc = v3_cpu_task_switch(c, back, 2, false, 0, c->rip + in->len, &ctx->exc);
        return rc ? sys_status(ctx, rc) : V3_X_JUMP;
    }
    if ((st = v3_pop(ctx, &ip, osz)) || (st = v3_pop(ctx, &cs, osz)) || (st = v3_pop(ctx, &fl, osz))) {
        c->gpr[V3_RSP] = rsp0;
        return st;
    }
    if (osz == 2)
        fl = (oldfl & ~0xffffull) | (fl & 0xffff);
    if ((fl & V3_FLAG_VM) && c->cpl == 0 && osz == 4 && !(c->efer & V3_EFER_LMA)) {
        c->gpr[V3_RSP] = rsp0;
        return V3_X_UNSUPPORTED;        /* return to virtual-8086 mode */
    }
    uint64_t d[2];
    unsigned rpl = (unsigned)(cs & 3);
    bool outer = rpl > c->cpl || c->mode == V3_MODE_LONG64;
    if ((st = check_ret_cs(ctx, (uint16_t)cs, d))) {
        c->gpr[V3_RSP] = rsp0;
        return st;
    }
    struct v3_segment nss = c->seg[V3_SS];
    if (outer) {
        if ((st = v3_pop(ctx, &sp, osz)) || (st = v3_pop(ctx, &ss, osz))) {
            c->gpr[V3_RSP] = rsp0;
            return st;
        }
        uint16_t ssel = (uint16_t)ss;
        if ((ssel & ~3u) == 0) {
            bool ok = (c->efer & V3_EFER_LMA) && ((d[0] >> 53) & 1) && rpl != 3;
            if (!ok) {
                c->gpr[V3_RSP] = rsp0;
                return v3_exc_gp0(ctx);
            }
            nss.selector = ssel;
            nss.attrib = (uint16_t)((rpl << 5) | V3_SEG_S | 0x3);
            nss.base = 0;
            nss.limit = 0;
        } else {
            uint64_t sd[2];
            int rc;
            if ((ssel & 3) != rpl) {
                c->gpr[V3_RSP] = rsp0;
                return v3_raise(ctx, V3_EXC_GP, 1, ssel & 0xfffc);
            }
            if ((rc = v3_cpu_read_descriptor(c, ssel, sd, V3_EXC_GP, &ctx->exc))) {
                c->gpr[V3_RSP] = rsp0;
                return sys_status(ctx, rc);
            }
            if (!((sd[0] >> 44) & 1) || ((sd[0] >> 40) & 0xa) != 0x2 || ((sd[0] >> 45) & 3) != rpl) {
                c->gpr[V3_RSP] = rsp0;
                return v3_raise(ctx, V3_EXC_GP, 1, ssel & 0xfffc);
            }
            if (!((sd[0] >> 47) & 1)) {
                c->gpr[V3_RSP] = rsp0;
                return v3_raise(ctx, V3_EXC_SS, 1, ssel & 0xfffc);
            }
            v3_cpu_desc_to_seg(sd[0], ssel, &nss);
        }
    }
    /* flags: IOPL only at CPL 0, IF only when CPL <= IOPL, VIF/VIP at CPL 0 */
    uint64_t keep = 0x2;
    uint64_t mask = 0x3f7fd5;   /* CF..OF, TF, IF, DF, IOPL, NT, RF, AC, VIF, VIP, ID */
    if (c->cpl > 0)
        mask &= ~(V3_FLAG_IOPL | V3_FLAG_VIF | V3_FLAG_VIP);
    if (c->cpl > iopl(c))
        mask &= ~V3_FLAG_IF;
    if (osz == 2)
        mask &= 0xffff;
    fl = (fl & mask) | (oldfl & ~mask & ~(uint64_t)V3_FLAG_VM) | keep;
    /* commit */
    struct v3_segment ncs;
    v3_cpu_desc_to_seg(d[0], (uint16_t)cs, &ncs);
    if (c->efer & V3_EFER_LMA && ((d[0] >> 53) & 1))
        ncs.base = 0;
    c->seg[V3_CS] = ncs;
    if (outer) {
        c->seg[V3_SS] = nss;
        if (nss.attrib & V3_SEG_DB || (c->efer & V3_EFER_LMA))
            c->gpr[V3_RSP] = (c->efer & V3_EFER_LMA) && ((d[0] >> 53) & 1) ? sp : (uint32_t)sp;
        else
            c->gpr[V3_RSP] = (c->gpr[V3_RSP] & ~0xffffull) | (sp & 0xffff);
    }
    v3_core_set_rflags(c, fl);
    v3_core_update_mode(c);
    c->cpl = (uint8_t)rpl;
    if (outer && rpl > 0)
        null_outer_segs(c, rpl);
    c->rip = c->mode == V3_MODE_LONG64 ? ip : (uint32_t)ip;
    return V3_X_JUMP;
}

/* ------------------------------------------------------------ fast system calls */

static void flat_seg(struct v3_segment *s, uint16_t sel, unsigned dpl, bool code, bool l64)
{
    s->selector = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->attrib = (uint16_t)(V3_SEG_P | V3_SEG_S | V3_SEG_G | (dpl << 5) | (code ? 0xb : 0x3) |
                           (code && l64 ? V3_SEG_L : V3_SEG_DB));
}

/* Vendor of the core's CPU model (CPUID leaf 0): the SYSCALL/SYSENTER rules differ. */
static bool model_intel(struct v3_core *c)
{
    uint32_t id[4];
    v3_cpu_cpuid(c, 0, 0, id);
    return id[1] == 0x756e6547u;          /* "Genu" */
}

static int op_syscall(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t fl = v3_core_get_rflags(c);
    uint16_t sel = (uint16_t)(c->star >> 32) & 0xfffc;

    if (!(c->efer & V3_EFER_SCE))
        return v3_exc_ud(ctx);
    if (c->mode != V3_MODE_LONG64 && model_intel(c))
        return v3_exc_ud(ctx);            /* Intel: SYSCALL only in 64-bit mode */
    if (!(c->efer & V3_EFER_LMA)) {
        /* AMD legacy mode: ECX = return EIP, CS:EIP from STAR, flat ring-0
         * CS/SS, VM IF RF cleared (AMD APM vol. 3, SYSCALL).  Real mode is
         * not handled (#UD). */
        if (!pmode(c))
            return v3_exc_ud(ctx);
        c->gpr[V3_RCX] = (uint32_t)(c->rip + in->len);
        flat_seg(&c->seg[V3_CS], sel, 0, true, false);
        flat_seg(&c->seg[V3_SS], (uint16_t)(sel + 8), 0, false, false);
        c->rip = (uint32_t)c->star;
        v3_core_set_rflags(c, fl & ~(V3_FLAG_VM | V3_FLAG_IF | V3_FLAG_RF));
        v3_core_update_mode(c);
        c->cpl = 0;
        return V3_X_JUMP;
    }
    c->gpr[V3_RCX] = c->rip + in->len;
    c->gpr[V3_R11] = fl & ~V3_FLAG_RF;
    flat_seg(&c->seg[V3_CS], sel, 0, true, true);
    flat_seg(&c->seg[V3_SS], (uint16_t)(sel + 8), 0, false, false);
    c->rip = c->mode == V3_MODE_LONG64 ? c->lstar : c->cstar;
    v3_core_set_rflags(c, (fl & ~c->sfmask & ~V3_FLAG_RF) | 2);
    v3_core_update_mode(c);
    c->cpl = 0;
    return V3_X_JUMP;
}

static int op_sysret(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint16_t base = (uint16_t)(c->star >> 48);
    bool to64 = in->opsize == 8;

    if (!(c->efer & V3_EFER_SCE))
        return v3_exc_ud(ctx);
    if (!(c->efer & V3_EFER_LMA) && !model_intel(c)) {
        /* AMD legacy mode: CS = STAR[63:48] | 3, SS = that + 8, EIP = ECX, IF set */
        if (!pmode(c) || vm86(c) || c->cpl != 0)
            return v3_exc_gp0(ctx);
        flat_seg(&c->seg[V3_CS], (uint16_t)(base | 3), 3, true, false);
        flat_seg(&c->seg[V3_SS], (uint16_t)((base + 8) | 3), 3, false, false);
        c->rip = (uint32_t)c->gpr[V3_RCX];
        v3_core_set_rflags(c, v3_core_get_rflags(c) | V3_FLAG_IF);
        v3_core_update_mode(c);
        c->cpl = 3;
        return V3_X_JUMP;
    }
    if (c->mode != V3_MODE_LONG64)
        return v3_exc_ud(ctx);
    if (c->cpl != 0)
        return v3_exc_gp0(ctx);
    if (to64 && (uint64_t)((int64_t)(c->gpr[V3_RCX] << 16) >> 16) != c->gpr[V3_RCX])
        return v3_exc_gp0(ctx);
    if (to64) {
        flat_seg(&c->seg[V3_CS], (uint16_t)((base + 16) | 3), 3, true, true);
        c->rip = c->gpr[V3_RCX];
    } else {
        flat_seg(&c->seg[V3_CS], (uint16_t)(base | 3), 3, true, false);
        c->rip = (uint32_t)c->gpr[V3_RCX];
    }
    /* SS keeps its cached attributes on Intel except selector/DPL; flat data DPL 3 */
    flat_seg(&c->seg[V3_SS], (uint16_t)((base + 8) | 3), 3, false, false);
    v3_core_set_rflags(c, (c->gpr[V3_R11] & 0x3c7fd7) | 2);
    v3_core_update_mode(c);
    c->cpl = 3;
    return V3_X_JUMP;
}

static int op_sysenter(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint16_t sel = (uint16_t)c->sysenter_cs & 0xfffc;
    bool lma = (c->efer & V3_EFER_LMA) != 0;

    if (lma && !model_intel(c))
        return v3_exc_ud(ctx);            /* AMD: SYSENTER is #UD in long mode (APM vol. 3) */

    if (!pmode(c))
        return v3_exc_gp0(ctx);
    if (sel == 0)
        return v3_exc_gp0(ctx);
    flat_seg(&c->seg[V3_CS], sel, 0, true, lma);
    flat_seg(&c->seg[V3_SS], (uint16_t)(sel + 8), 0, false, false);
    v3_core_set_rflags(c, v3_core_get_rflags(c) & ~(V3_FLAG_VM | V3_FLAG_IF | V3_FLAG_RF));
    c->rip = lma ? c->sysenter_eip : (uint32_t)c->sysenter_eip;
    c->gpr[V3_RSP] = lma ? c->sysenter_esp : (uint32_t)c->sysenter_esp;
    v3_core_update_mode(c);
    c->cpl = 0;
    return V3_X_JUMP;
}

static int op_sysexit(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint16_t sel = (uint16_t)c->sysenter_cs & 0xfffc;
    bool to64 = in->opsize == 8;

    if ((c->efer & V3_EFER_LMA) && !model_intel(c))
        return v3_exc_ud(ctx);            /* AMD: SYSEXIT is #UD in long mode */
    if (!pmode(c) || vm86(c))
        return v3_exc_gp0(ctx);
    if (c->cpl != 0 || sel == 0)
        return v3_exc_gp0(ctx);
    if (to64) {
        flat_seg(&c->seg[V3_CS], (uint16_t)((sel + 32) | 3), 3, true, true);
        flat_seg(&c->seg[V3_SS], (uint16_t)((sel + 40) | 3), 3, false, false);
        c->rip = c->gpr[V3_RDX];
        c->gpr[V3_RSP] = c->gpr[V3_RCX];
    } else {
        flat_seg(&c->seg[V3_CS], (uint16_t)((sel + 16) | 3), 3, true, false);
        flat_seg(&c->seg[V3_SS], (uint16_t)((sel + 24) | 3), 3, false, false);
        c->rip = (uint32_t)c->gpr[V3_RDX];
        c->gpr[V3_RSP] = (uint32_t)c->gpr[V3_RCX];
    }
    v3_core_update_mode(c);
    c->cpl = 3;
    return V3_X_JUMP;
}

static int op_swapgs(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t t;

    if (c->mode != V3_MODE_LONG64)
        return v3_exc_ud(ctx);
    if (c->cpl != 0)
        return v3_exc_gp0(ctx);
    t = c->seg[V3_GS].base;
    c->seg[V3_GS].base = c->kernel_gs_base;
    c->kernel_gs_base = t;
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ port I/O */

static int io_exit(struct v3_emu_ctx *ctx, const struct v3_insn *in, uint16_t port, unsigned size,
                   bool is_in, bool string)
{
    struct v3_core *c = ctx->core;
    int rc = v3_cpu_io_allowed(c, port, size, &ctx->exc);

    if (rc)
        return sys_status(ctx, rc);
    ctx->exit_reason = V3_EXIT_IO;
    ctx->exit_info[0] = port | (uint64_t)size << 16 | (uint64_t)is_in << 24 | (uint64_t)string << 25 |
                        (uint64_t)((in->prefix & V3_PFX_REP) != 0) << 26 |
                        (uint64_t)in->addrsize << 28;
    if (string)
        ctx->exit_info[1] = in->seg;
    else
        ctx->exit_info[1] = is_in ? 0 : (c->gpr[V3_RAX] & v3_size_mask(size));
    return V3_X_EXIT;
}

static int op_in_out(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    bool is_in = in->mnemonic == ZYDIS_MNEMONIC_IN;
    const struct v3_operand *acc = is_in ? &in->op[0] : &in->op[1];
    const struct v3_operand *p = is_in ? &in->op[1] : &in->op[0];
    uint16_t port = p->kind == V3_OPK_IMM ? (uint16_t)(p->val & 0xff) : (uint16_t)c->gpr[V3_RDX];

    return io_exit(ctx, in, port, acc->size, is_in, false);
}

static int op_ins_outs(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    unsigned size;
    bool is_in;

    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_INSB:  size = 1; is_in = true; break;
    case ZYDIS_MNEMONIC_INSW:  size = 2; is_in = true; break;
    case ZYDIS_MNEMONIC_INSD:  size = 4; is_in = true; break;
    case ZYDIS_MNEMONIC_OUTSB: size = 1; is_in = false; break;
    case ZYDIS_MNEMONIC_OUTSW: size = 2; is_in = false; break;
    default:                   size = 4; is_in = false; break;
    }
    if ((in->prefix & V3_PFX_REP) && v3_gpr_get(ctx->core, V3_RCX, in->addrsize) == 0)
        return V3_X_NEXT;
    return io_exit(ctx, in, (uint16_t)ctx->core->gpr[V3_RDX], size, is_in, true);
}

/* ------------------------------------------------------------ descriptor queries */

/* Read a descriptor for LAR/LSL/VERR/VERW: 1 found, 0 not (ZF=0), <0 status. */
static int query_desc(struct v3_emu_ctx *ctx, uint16_t sel, uint64_t d[2], int *st)
{
    struct v3_exception e;
    int rc;

    if ((sel & ~3u) == 0)
        return 0;
    rc = v3_cpu_read_descriptor(ctx->core, sel, d, V3_EXC_GP, &e);
    if (rc == V3_EFAULT && e.vector == V3_EXC_GP)
        return 0;
    if (rc) {
        if (rc == V3_EFAULT)
            ctx->exc = e;
        *st = sys_status(ctx, rc);
        return -1;
    }
    return 1;
}

static bool desc_visible(const struct v3_core *c, uint16_t sel, uint64_t d)
{
    unsigned dpl = (unsigned)((d >> 45) & 3), rpl = sel & 3;
    bool s = (d >> 44) & 1;
    unsigned type = (unsigned)((d >> 40) & 0xf);
    if (s && (type & 0xc) == 0xc)     /* conforming code */
        return true;
    return dpl >= c->cpl && dpl >= rpl;
}

static int op_lar_lsl(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    bool lar = in->mnemonic == ZYDIS_MNEMONIC_LAR;
    uint64_t v, d[2];
    int st = 0, f;

    if (!pmode(c) || vm86(c))
        return v3_exc_ud(ctx);
    if ((st = v3_op_read(ctx, in, &in->op[1], 2, &v)))
        return st;
    f = query_desc(ctx, (uint16_t)v, d, &st);
    if (f < 0)
        return st;
    if (f) {
        bool s = (d[0] >> 44) & 1;
        unsigned type = (unsigned)((d[0] >> 40) & 0xf);
        bool lm = (c->efer & V3_EFER_LMA) != 0;
        bool ok;
        if (s)
            ok = true;
        else if (lar)
            ok = lm ? (type == 2 || type == 9 || type == 0xb || type == 0xc)
                    : (type != 0 && type != 8 && type != 0xa && type != 0xd && type != 0xe && type != 0xf);
        else
            ok = lm ? (type == 2 || type == 9 || type == 0xb)
                    : (type == 1 || type == 2 || type == 3 || type == 9 || type == 0xb);
        if (ok && desc_visible(c, (uint16_t)v, d[0])) {
            uint64_t r;
            if (lar) {
                r = (d[0] >> 32) & 0x00f0ff00;
            } else {
                struct v3_segment sg;
                v3_cpu_desc_to_seg(d[0], (uint16_t)v, &sg);
                r = sg.limit;
            }
            v3_gpr_set(c, in->op[0].reg, in->op[0].size, r);
            v3_flags_set(c, V3_FLAG_ZF, V3_FLAG_ZF);
            return V3_X_NEXT;
        }
    }
    v3_flags_set(c, V3_FLAG_ZF, 0);
    return V3_X_NEXT;
}

static int op_verr_verw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    bool w = in->mnemonic == ZYDIS_MNEMONIC_VERW;
    uint64_t v, d[2];
    int st = 0, f;
    bool ok = false;

    if (!pmode(c) || vm86(c))
        return v3_exc_ud(ctx);
    if ((st = v3_op_read(ctx, in, &in->op[0], 2, &v)))
        return st;
    f = query_desc(ctx, (uint16_t)v, d, &st);
    if (f < 0)
        return st;
    if (f && ((d[0] >> 44) & 1)) {
        unsigned type = (unsigned)((d[0] >> 40) & 0xf);
        bool code = type & 8;
        if (w)
            ok = !code && (type & 2);
        else
            ok = !code || (type & 2);
        ok = ok && desc_visible(c, (uint16_t)v, d[0]);
    }
    v3_flags_set(c, V3_FLAG_ZF, ok ? V3_FLAG_ZF : 0);
    return V3_X_NEXT;
}

static int op_arpl(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    uint64_t d, s;
    int st;

    if (!pmode(c) || vm86(c))
        return v3_exc_ud(ctx);
    if ((st = v3_op_read(ctx, in, &in->op[0], 2, &d)) || (st = v3_op_read(ctx, in, &in->op[1], 2, &s)))
        return st;
    if ((d & 3) < (s & 3)) {
        if ((st = v3_op_write(ctx, in, &in->op[0], 2, (d & ~3ull) | (s & 3))))
            return st;
        v3_flags_set(c, V3_FLAG_ZF, V3_FLAG_ZF);
    } else {
        v3_flags_set(c, V3_FLAG_ZF, 0);
    }
    return V3_X_NEXT;
}

/* ------------------------------------------------------------ hypercalls */

static int op_vmcall(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    ctx->exit_reason = V3_EXIT_HYPERCALL;
    return V3_X_EXIT;
}

/* ------------------------------------------------------------ x87 control */

static int fpu_check(struct v3_emu_ctx *ctx)
{
    uint64_t cr0 = ctx->core->cr0;
    if (cr0 & (V3_CR0_EM | V3_CR0_TS))
        return v3_exc_nm(ctx);
    return V3_X_NEXT;
}

static int op_fninit(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    int st;
    if ((st = fpu_check(ctx)))
        return st;
    v3_fpu_init(f);
    ctx->core->ferr_asserted = 0;
    return V3_X_NEXT;
}

static int op_fnstsw_cw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_fpu_state *f = &ctx->core->fpu;
    const struct v3_operand *d = &in->op[0];
    uint16_t v = in->mnemonic == ZYDIS_MNEMONIC_FNSTCW ? f->fcw : f->fsw;
    int st;
    if ((st = fpu_check(ctx)))
        return st;
    return v3_op_write(ctx, in, d, 2, v);
}

static int op_fldcw(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint64_t v;
    int st;
    if ((st = v3_x87_begin(ctx, 1)))
        return st;
    if ((st = v3_op_read(ctx, in, &in->op[0], 2, &v)))
        return st;
    ctx->core->fpu.fcw = (uint16_t)(v | 0x40);
    v3_x87_update_es(&ctx->core->fpu);     /* a flag the new mask unmasks is pending */
    return V3_X_NEXT;
}

static int op_fwait(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    uint64_t cr0 = ctx->core->cr0;
    if ((cr0 & (V3_CR0_MP | V3_CR0_TS)) == (V3_CR0_MP | V3_CR0_TS))
        return v3_exc_nm(ctx);
    return v3_x87_begin(ctx, 2);    /* the pending-exception check only */
}

const struct v3_op_entry v3_ops_system[] = {
    { V3_MN_MOV_SREG, 0, op_mov_sreg },
    { V3_MN_MOV_CR, 0, op_mov_cr },
    { V3_MN_MOV_DR, 0, op_mov_dr },
    { ZYDIS_MNEMONIC_LDS, 0, op_lxs },
    { ZYDIS_MNEMONIC_LES, 0, op_lxs },
    { ZYDIS_MNEMONIC_LFS, 0, op_lxs },
    { ZYDIS_MNEMONIC_LGS, 0, op_lxs },
    { ZYDIS_MNEMONIC_LSS, 0, op_lxs },
    { ZYDIS_MNEMONIC_LGDT, 0, op_lgdt_lidt },
    { ZYDIS_MNEMONIC_LIDT, 0, op_lgdt_lidt },
    { ZYDIS_MNEMONIC_SGDT, 0, op_sgdt_sidt },
    { ZYDIS_MNEMONIC_SIDT, 0, op_sgdt_sidt },
    { ZYDIS_MNEMONIC_SLDT, 0, op_sldt_str },
    { ZYDIS_MNEMONIC_STR, 0, op_sldt_str },
    { ZYDIS_MNEMONIC_LLDT, 0, op_lldt_ltr },
    { ZYDIS_MNEMONIC_LTR, 0, op_lldt_ltr },
    { ZYDIS_MNEMONIC_CLTS, 0, op_clts },
    { ZYDIS_MNEMONIC_LMSW, 0, op_lmsw },
    { ZYDIS_MNEMONIC_SMSW, 0, op_smsw },
    { ZYDIS_MNEMONIC_INVLPG, 0, op_invlpg },
    { ZYDIS_MNEMONIC_WBINVD, 0, op_priv_nop },
    { ZYDIS_MNEMONIC_INVD, 0, op_priv_nop },
    { ZYDIS_MNEMONIC_RDMSR, 0, op_rdmsr },
    { ZYDIS_MNEMONIC_WRMSR, 0, op_wrmsr },
    { ZYDIS_MNEMONIC_RDTSCP, 0, op_rdtscp },
    { ZYDIS_MNEMONIC_RDPMC, 0, op_rdpmc },
    { ZYDIS_MNEMONIC_CLI, 0, op_cli_sti },
    { ZYDIS_MNEMONIC_STI, 0, op_cli_sti },
    { ZYDIS_MNEMONIC_HLT, 0, op_hlt },
    { ZYDIS_MNEMONIC_INT, 0, op_int },
    { ZYDIS_MNEMONIC_INT3, 0, op_int3 },
    { ZYDIS_MNEMONIC_INTO, 0, op_into },
    { ZYDIS_MNEMONIC_INT1, 0, op_int1 },
    { ZYDIS_MNEMONIC_BOUND, 0, op_bound },
    { ZYDIS_MNEMONIC_IRET, 0, op_iret },
    { ZYDIS_MNEMONIC_IRETD, 0, op_iret },
    { ZYDIS_MNEMONIC_IRETQ, 0, op_iret },
    { ZYDIS_MNEMONIC_SYSCALL, 0, op_syscall },
    { ZYDIS_MNEMONIC_SYSRET, 0, op_sysret },
    { ZYDIS_MNEMONIC_SYSENTER, 0, op_sysenter },
    { ZYDIS_MNEMONIC_SYSEXIT, 0, op_sysexit },
    { ZYDIS_MNEMONIC_SWAPGS, 0, op_swapgs },
    { ZYDIS_MNEMONIC_IN, 0, op_in_out },
    { ZYDIS_MNEMONIC_OUT, 0, op_in_out },
    { ZYDIS_MNEMONIC_INSB, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_INSW, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_INSD, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_OUTSB, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_OUTSW, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_OUTSD, V3_OPF_REP, op_ins_outs },
    { ZYDIS_MNEMONIC_LAR, 0, op_lar_lsl },
    { ZYDIS_MNEMONIC_LSL, 0, op_lar_lsl },
    { ZYDIS_MNEMONIC_VERR, 0, op_verr_verw },
    { ZYDIS_MNEMONIC_VERW, 0, op_verr_verw },
    { ZYDIS_MNEMONIC_ARPL, 0, op_arpl },
    { ZYDIS_MNEMONIC_VMCALL, 0, op_vmcall },
    { ZYDIS_MNEMONIC_VMMCALL, 0, op_vmcall },
    { ZYDIS_MNEMONIC_FNINIT, 0, op_fninit },
    { ZYDIS_MNEMONIC_FNSTSW, 0, op_fnstsw_cw },
    { ZYDIS_MNEMONIC_FNSTCW, 0, op_fnstsw_cw },
    { ZYDIS_MNEMONIC_FLDCW, 0, op_fldcw },
    { ZYDIS_MNEMONIC_FWAIT, 0, op_fwait },
    { 0, 0, NULL },
};

/* ------------------------------------------------------------ far transfers through gates */

static int push_list(struct v3_emu_ctx *ctx, const struct v3_segment *ss, uint64_t sp, unsigned ssz,
                     const uint64_t *vals, unsigned n, unsigned size, uint32_t ss_ec,
                     uint64_t *new_sp)
{
    struct v3_core *c = ctx->core;
    uint8_t buf[8 * 40];
    unsigned len = n * size;
    uint64_t lo = (sp - len) & v3_size_mask(ssz), la;

    if (len > sizeof(buf))
        return v3_exc_gp0(ctx);
    for (unsigned i = 0; i < n; i++)      /* vals[0] is pushed first (highest address) */
        memcpy(buf + len - (i + 1) * size, &vals[i], size);
    if (ssz != 8) {
        if ((V3_SEG_TYPE(ss->attrib) & 4) ? lo <= ss->limit : lo + len - 1 > ss->limit)
            return v3_raise(ctx, V3_EXC_SS, 1, ss_ec);
        la = (uint32_t)(ss->base + lo);
    } else {
        la = lo;
    }
    int64_t r = v3_write_gva_memory(c, la, len, buf, V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR, &ctx->exc);
    if (r < 0)
        return v3_mem_status(ctx, (int)r);
    *new_sp = lo;
    return V3_X_NEXT;
}

/*
 * Far JMP/CALL whose selector names a system descriptor (call gate).  Called
 * by the branch family; @off is ignored for gates.  Returns a V3_X_* status.
 */
int v3_sys_far_gate(struct v3_emu_ctx *ctx, const struct v3_insn *in, uint16_t sel, bool call);
int v3_sys_far_gate(struct v3_emu_ctx *ctx, const struct v3_insn *in, uint16_t sel, bool call)
{
    struct v3_core *c = ctx->core;
    bool lm = (c->efer & V3_EFER_LMA) != 0;
    uint64_t g[2], d[2];
    unsigned cpl = c->cpl, gtype, gsz, nparams, dpl;
    int rc;

    if ((rc = v3_cpu_read_descriptor(c, sel, g, V3_EXC_GP, &ctx->exc)))
        return sys_status(ctx, rc);
    gtype = (unsigned)((g[0] >> 40) & 0xf);
    if (!lm && (gtype == 0x9 || gtype == 0x5)) {
        /* task switch through a TSS descriptor or a task gate (legacy mode) */
        uint16_t tsel = sel;
        if ((((g[0] >> 45) & 3) < cpl) || (((g[0] >> 45) & 3) < (sel & 3u)))
            return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
        if (!((g[0] >> 47) & 1))
            return v3_raise(ctx, V3_EXC_NP, 1, sel & 0xfffc);
        if (gtype == 0x5)
            tsel = (uint16_t)(g[0] >> 16);
        extern int v3_cpu_task_switch(struct v3_core *, uint16_t, int, bool, uint32_t, uint64_t,
                                      struct v3_exception *);
        rc = v3_cpu_task_switch(c, tsel, call ? 1 : 0, false, 0, c->rip + in->len, &ctx->exc);
        return rc ? sys_status(ctx, rc) : V3_X_JUMP;
    }
    if (!lm && (gtype == 0xb || gtype == 0x3))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);        /* busy TSS */
    if (gtype == 0x1 && !lm)
        return V3_X_UNSUPPORTED;          /* task switch to a 16-bit TSS: not implemented */
    if (gtype != 0xc && !(gtype == 4 && !lm))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);   /* LDT, interrupt/trap gate, reserved */
    if (((g[0] >> 45) & 3) < cpl || ((g[0] >> 45) & 3) < (sel & 3u))
        return v3_raise(ctx, V3_EXC_GP, 1, sel & 0xfffc);
    if (!((g[0] >> 47) & 1))
        return v3_raise(ctx, V3_EXC_NP, 1, sel & 0xfffc);
    uint16_t csel = (uint16_t)(g[0] >> 16);
    uint64_t off = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ull);
    gsz = lm ? 8 : gtype == 0xc ? 4 : 2;
    if (lm)
        off |= g[1] << 32;
    else if (gsz == 2)
        off &= 0xffff;
    nparams = lm ? 0 : (unsigned)((g[0] >> 32) & 0x1f);
    if ((csel & ~3u) == 0)
        return v3_exc_gp0(ctx);
    if ((rc = v3_cpu_read_descriptor(c, csel, d, V3_EXC_GP, &ctx->exc)))
        return sys_status(ctx, rc);
    dpl = (unsigned)((d[0] >> 45) & 3);
    bool code = ((d[0] >> 44) & 1) && ((d[0] >> 40) & 8);
    bool conforming = (d[0] >> 42) & 1;
    if (!code || dpl > cpl || (!call && !conforming && dpl != cpl))
        return v3_raise(ctx, V3_EXC_GP, 1, csel & 0xfffc);
    if (lm && (!((d[0] >> 53) & 1) || ((d[0] >> 54) & 1)))
        return v3_raise(ctx, V3_EXC_GP, 1, csel & 0xfffc);
    if (!((d[0] >> 47) & 1))
        return v3_raise(ctx, V3_EXC_NP, 1, csel & 0xfffc);
    if (conforming)
        dpl = cpl;

    struct v3_segment ncs, nss = c->seg[V3_SS];
    v3_cpu_desc_to_seg(d[0], (uint16_t)((csel & 0xfffc) | dpl), &ncs);
    if (lm && ((d[0] >> 53) & 1))
        ncs.base = 0;
    uint64_t ret = c->rip + in->len, nsp = c->gpr[V3_RSP];
    unsigned ssz = v3_stack_size(c);
    int st;

    if (call && dpl < cpl) {
        /* inner privilege: the TSS stack */
        const struct v3_segment *tr = &c->seg[V3_TR];
        uint64_t vals[40];
        unsigned n = 0;
        uint64_t osp = c->gpr[V3_RSP];
        uint16_t ossel = c->seg[V3_SS].selector;
        if (lm) {
            uint64_t sp;
            int64_t r = v3_read_gva_memory(c, tr->base + 4 + dpl * 8, 8, &sp,
                                           V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, &ctx->exc);
            if (r < 0)
                return v3_mem_status(ctx, (int)r);
            memset(&nss, 0, sizeof(nss));
            nss.selector = (uint16_t)dpl;
            nss.attrib = (uint16_t)((dpl << 5) | V3_SEG_S | 0x3);
            nsp = sp;
            ssz = 8;
        } else {
            uint32_t esp;
            uint16_t ssel;
            uint64_t sd[2];
            int64_t r;
            if ((V3_SEG_TYPE(tr->attrib) & 8) == 0)
                return V3_X_UNSUPPORTED;          /* 16-bit TSS */
            r = v3_read_gva_memory(c, (uint32_t)(tr->base + 4 + dpl * 8), 4, &esp,
                                   V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, &ctx->exc);
            if (r >= 0)
                r = v3_read_gva_memory(c, (uint32_t)(tr->base + 8 + dpl * 8), 2, &ssel,
                                       V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, &ctx->exc);
            if (r < 0)
                return v3_mem_status(ctx, (int)r);
            if ((ssel & ~3u) == 0)
                return v3_raise(ctx, V3_EXC_TS, 1, 0);
            if ((rc = v3_cpu_read_descriptor(c, ssel, sd, V3_EXC_TS, &ctx->exc)))
                return sys_status(ctx, rc);
            if ((ssel & 3u) != dpl || ((sd[0] >> 45) & 3) != dpl || !((sd[0] >> 44) & 1) ||
                ((sd[0] >> 40) & 0xa) != 0x2)
                return v3_raise(ctx, V3_EXC_TS, 1, ssel & 0xfffc);
            if (!((sd[0] >> 47) & 1))
                return v3_raise(ctx, V3_EXC_SS, 1, ssel & 0xfffc);
            v3_cpu_desc_to_seg(sd[0], ssel, &nss);
            nsp = esp;
            ssz = (nss.attrib & V3_SEG_DB) ? 4 : 2;
        }
        vals[n++] = ossel;
        vals[n++] = osp;
        for (unsigned i = 0; i < nparams; i++) {
            uint64_t p = 0;
            if ((st = v3_mem_read_seg(ctx, V3_SS, (osp + (uint64_t)(nparams - 1 - i) * gsz) &
                                      v3_size_mask(v3_stack_size(c)), &p, gsz, V3_ACCESS_READ)))
                return st;
            vals[n++] = p;
        }
        vals[n++] = c->seg[V3_CS].selector;
        vals[n++] = ret;
        if ((st = push_list(ctx, &nss, nsp, ssz, vals, n, gsz, nss.selector & 0xfffc, &nsp)))
            return st;
        c->seg[V3_SS] = nss;
    } else if (call) {
        uint64_t vals[2] = { c->seg[V3_CS].selector, ret };
        if ((st = push_list(ctx, &c->seg[V3_SS], nsp, ssz, vals, 2, gsz, 0, &nsp)))
            return st;
    }
    if (call) {
        if (ssz == 2)
            c->gpr[V3_RSP] = (c->gpr[V3_RSP] & ~0xffffull) | (nsp & 0xffff);
        else
            c->gpr[V3_RSP] = ssz == 4 ? (uint32_t)nsp : nsp;
    }
    c->seg[V3_CS] = ncs;
    v3_core_update_mode(c);
    c->cpl = (uint8_t)dpl;
    c->rip = off;
    return V3_X_JUMP;
}

/* Far RET (RETF [imm16]) in protected and long mode, including returns to an outer level. */
int v3_sys_far_ret(struct v3_emu_ctx *ctx, const struct v3_insn *in);
int v3_sys_far_ret(struct v3_emu_ctx *ctx, const struct v3_insn *in)
{
    struct v3_core *c = ctx->core;
    unsigned osz = in->opsize, ssz = v3_stack_size(c);
    uint64_t rsp0 = c->gpr[V3_RSP], ip, cs, sp, ss, imm = 0, d[2];
    int st;

    if (in->nops > 0 && in->op[0].kind == V3_OPK_IMM)
        imm = in->op[0].val & 0xffff;
    if ((st = v3_pop(ctx, &ip, osz)) || (st = v3_pop(ctx, &cs, osz))) {
        c->gpr[V3_RSP] = rsp0;
        return st;
    }
    if ((st = check_ret_cs(ctx, (uint16_t)cs, d))) {
        c->gpr[V3_RSP] = rsp0;
        return st;
    }
    unsigned rpl = (unsigned)(cs & 3);
    struct v3_segment ncs, nss = c->seg[V3_SS];
    v3_cpu_desc_to_seg(d[0], (uint16_t)cs, &ncs);
    if ((c->efer & V3_EFER_LMA) && ((d[0] >> 53) & 1))
        ncs.base = 0;
    if (rpl > c->cpl) {
        uint64_t skip = (c->gpr[V3_RSP] + imm) & v3_size_mask(ssz);
        v3_gpr_set(c, V3_RSP, ssz, skip);
        if ((st = v3_pop(ctx, &sp, osz)) || (st = v3_pop(ctx, &ss, osz))) {
            c->gpr[V3_RSP] = rsp0;
            return st;
        }
        uint16_t ssel = (uint16_t)ss;
        uint64_t sd[2];
        int rc;
        if ((ssel & ~3u) == 0 || (ssel & 3u) != rpl) {
            c->gpr[V3_RSP] = rsp0;
            return v3_raise(ctx, V3_EXC_GP, 1, ssel & 0xfffc);
        }
        if ((rc = v3_cpu_read_descriptor(c, ssel, sd, V3_EXC_GP, &ctx->exc))) {
            c->gpr[V3_RSP] = rsp0;
            return sys_status(ctx, rc);
        }
        if (!((sd[0] >> 44) & 1) || ((sd[0] >> 40) & 0xa) != 0x2 || ((sd[0] >> 45) & 3) != rpl) {
            c->gpr[V3_RSP] = rsp0;
            return v3_raise(ctx, V3_EXC_GP, 1, ssel & 0xfffc);
        }
        if (!((sd[0] >> 47) & 1)) {
            c->gpr[V3_RSP] = rsp0;
            return v3_raise(ctx, V3_EXC_SS, 1, ssel & 0xfffc);
        }
        v3_cpu_desc_to_seg(sd[0], ssel, &nss);
        c->seg[V3_SS] = nss;
        c->seg[V3_CS] = ncs;
        ssz = (c->efer & V3_EFER_LMA) && ((d[0] >> 53) & 1) ? 8 : (nss.attrib & V3_SEG_DB) ? 4 : 2;
        v3_gpr_set(c, V3_RSP, ssz, (sp + imm) & v3_size_mask(ssz));
        v3_core_update_mode(c);
        c->cpl = (uint8_t)rpl;
        null_outer_segs(c, rpl);
    } else {
        c->seg[V3_CS] = ncs;
        v3_gpr_set(c, V3_RSP, ssz, (c->gpr[V3_RSP] + imm) & v3_size_mask(ssz));
        v3_core_update_mode(c);
    }
    c->rip = ip & v3_size_mask(osz);
    return V3_X_JUMP;
}

/* True when a far JMP/CALL to @sel must go through v3_sys_far_gate() (protected mode, system descriptor). */
int v3_sys_far_is_gate(struct v3_emu_ctx *ctx, uint16_t sel);
int v3_sys_far_is_gate(struct v3_emu_ctx *ctx, uint16_t sel)
{
    struct v3_core *c = ctx->core;
    struct v3_exception e;
    uint64_t d[2];

    if (!pmode(c) || vm86(c) || (sel & ~3u) == 0)
        return 0;
    if (v3_cpu_read_descriptor(c, sel, d, V3_EXC_GP, &e))
        return 0;                 /* the normal path reports the fault */
    return !((d[0] >> 44) & 1);
}

/* ------------------------------------------------------------ data breakpoints */

static const struct v3_emu_mem_ops *dbg_inner;

/* A debugger watchpoint (v3/debug.h) hit by an access; the first of an instruction is recorded. */
static bool debug_check_access(struct v3_core *core, uint64_t la, unsigned len, unsigned kinds)
{
    const struct v3_debug *d = core->dbg;

    if (!d || !(core->dbg_flags & V3_DBG_F_WATCH) || !len)
        return false;
    for (unsigned i = 0; i < d->nwatch; i++) {
        const struct v3_debug_watch *w = &d->watch[i];
        if ((w->type & kinds) && la <= w->la + (w->len - 1) && w->la <= la + (len - 1)) {
            if (!core->dbg_watch_type) {
                /* the first hit of the instruction is the one reported */
                core->dbg_watch_type = (uint8_t)(w->type == V3_WATCH_ACCESS ? V3_WATCH_ACCESS
                                                 : (w->type & kinds));
                core->dbg_watch_la = w->la;
            }
            return true;
        }
    }
    return false;
}

/* The guest's DR0-3 hits, and the debugger's watchpoints (v3/debug.h), of one access. */
static void dbg_check(struct v3_core *c, uint64_t la, unsigned len, unsigned kinds)
{
    c->db_pending |= (uint8_t)v3_cpu_data_breakpoint(c, la, len, (kinds & V3_WATCH_WRITE) != 0);
    if (c->dbg_flags & V3_DBG_F_WATCH)
        debug_check_access(c, la, len, kinds);
}

static int dbg_read(struct v3_emu_ctx *ctx, uint64_t la, void *dst, unsigned len, unsigned access)
{
    int rc = dbg_inner->read(ctx, la, dst, len, access);
    if (rc == 0)
        dbg_check(ctx->core, la, len,
                  (access & V3_ACCESS_WRITE) ? V3_WATCH_ACCESS : V3_WATCH_READ);
    return rc;
}

static int dbg_write(struct v3_emu_ctx *ctx, uint64_t la, const void *src, unsigned len, unsigned access)
{
    int rc = dbg_inner->write(ctx, la, src, len, access);
    if (rc == 0)
        dbg_check(ctx->core, la, len, V3_WATCH_WRITE);
    return rc;
}

static void *dbg_map(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access)
{
    void *p = dbg_inner->map ? dbg_inner->map(ctx, la, len, access) : NULL;
    if (p)
        dbg_check(ctx->core, la, len,
                  (access & V3_ACCESS_WRITE) ? V3_WATCH_ACCESS : V3_WATCH_READ);
    return p;
}

static const struct v3_emu_mem_ops dbg_ops = { .read = dbg_read, .write = dbg_write, .map = dbg_map };

const struct v3_emu_mem_ops *v3_cpu_dbg_mem_ops(const struct v3_emu_mem_ops *inner)
{
    if (inner == &dbg_ops)
        return inner;
    dbg_inner = inner;
    return &dbg_ops;
}
