/* SPDX-License-Identifier: MIT */
/* Operand access for handlers: effective addresses, memory, RMW, stack. */
#include "emu/alu_core.h"
#include "internal/host.h"

uint64_t v3_op_ea(const struct v3_core *core, const struct v3_insn *in, const struct v3_operand *op)
{
    return v3_ea_inline(core, in, op);
}

/* #AC: alignment checking at CPL 3 with CR0.AM and RFLAGS.AC */
static int check_ac(struct v3_emu_ctx *ctx, uint64_t la, unsigned len)
{
    const struct v3_core *c = ctx->core;
    if (__builtin_expect((c->cr0 & V3_CR0_AM) && (c->rflags & V3_FLAG_AC) && c->cpl == 3, 0) &&
        (len == 2 || len == 4 || len == 8) && (la & (len - 1)))
        return v3_raise(ctx, V3_EXC_AC, 1, 0);
    return V3_X_NEXT;
}

static unsigned stack_flag(unsigned sreg) { return sreg == V3_SS ? V3_ACCESS_STACK : 0; }

int v3_mem_read_seg(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, void *buf, unsigned len,
                    unsigned access)
{
    uint64_t la;
    int st;
    access |= stack_flag(sreg);
    if ((st = v3_seg_linear(ctx, sreg, off, len, access, &la)))
        return st;
    if ((st = check_ac(ctx, la, len)))
        return st;
    return v3_mem_status(ctx, ctx->mem->read(ctx, la, buf, len, access));
}

int v3_mem_write_seg(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, const void *buf,
                     unsigned len, unsigned access)
{
    uint64_t la;
    int st;
    access |= stack_flag(sreg) | V3_ACCESS_WRITE;
    if ((st = v3_seg_linear(ctx, sreg, off, len, access, &la)))
        return st;
    if ((st = check_ac(ctx, la, len)))
        return st;
    return v3_mem_status(ctx, ctx->mem->write(ctx, la, buf, len, access));
}

int v3_mem_read_op(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                   void *buf, unsigned len, unsigned access)
{
    return v3_mem_read_seg(ctx, op->reg, v3_op_ea(ctx->core, in, op), buf, len, access);
}

int v3_mem_write_op(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                    const void *buf, unsigned len)
{
    return v3_mem_write_seg(ctx, op->reg, v3_op_ea(ctx->core, in, op), buf, len, V3_ACCESS_WRITE);
}

/* little-endian load of 1..8 bytes (x86 host); fixed-size copies inline */
static inline uint64_t load_le(const void *p, unsigned size)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64 = 0;
    switch (size) {
    case 1: __builtin_memcpy(&u8, p, 1); return u8;
    case 2: __builtin_memcpy(&u16, p, 2); return u16;
    case 4: __builtin_memcpy(&u32, p, 4); return u32;
    case 8: __builtin_memcpy(&u64, p, 8); return u64;
    default: memcpy(&u64, p, size > 8 ? 8 : size); return u64;
    }
}

static inline void store_le(void *p, uint64_t v, unsigned size)
{
    switch (size) {
    case 1: { uint8_t x = (uint8_t)v; __builtin_memcpy(p, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)v; __builtin_memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; __builtin_memcpy(p, &x, 4); break; }
    default: __builtin_memcpy(p, &v, 8); break;
    }
}

int v3_op_read(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
               unsigned size, uint64_t *val)
{
    struct v3_core *c = ctx->core;
    switch (op->kind) {
    case V3_OPK_REG:
        switch (op->cls) {
        case V3_RC_GPR:
            *val = v3_gpr_get(c, op->reg & 15, size);
            return V3_X_NEXT;
        case V3_RC_GPR8H:
            *val = (c->gpr[op->reg & 3] >> 8) & 0xff;
            return V3_X_NEXT;
        case V3_RC_SREG:
            *val = c->seg[op->reg & 7].selector;
            return V3_X_NEXT;
        case V3_RC_XMM:
            *val = load_le(c->fpu.xmm[op->reg & 15], size > 8 ? 8 : size);
            return V3_X_NEXT;
        case V3_RC_MMX:
            *val = load_le(c->fpu.st[op->reg & 7], size > 8 ? 8 : size);
            return V3_X_NEXT;
        default:
            return V3_X_UNSUPPORTED;
        }
    case V3_OPK_IMM:
        *val = op->val & v3_size_mask(size);
        return V3_X_NEXT;
    case V3_OPK_MEM: {
        uint8_t b[8];
        int st = v3_mem_read_op(ctx, in, op, b, size, V3_ACCESS_READ);
        if (st)
            return st;
        *val = load_le(b, size);
        return V3_X_NEXT;
    }
    default:
        return V3_X_UNSUPPORTED;
    }
}

int v3_op_write(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                unsigned size, uint64_t val)
{
    struct v3_core *c = ctx->core;
    switch (op->kind) {
    case V3_OPK_REG:
        switch (op->cls) {
        case V3_RC_GPR:
            v3_gpr_set(c, op->reg & 15, size, val);
            return V3_X_NEXT;
        case V3_RC_GPR8H:
            c->gpr[op->reg & 3] = (c->gpr[op->reg & 3] & ~0xff00ull) | ((val & 0xff) << 8);
            return V3_X_NEXT;
        default:
            return V3_X_UNSUPPORTED;
        }
    case V3_OPK_MEM:
        return v3_mem_write_op(ctx, in, op, &val, size);
    default:
        return V3_X_UNSUPPORTED;
    }
}

/* ------------------------------------------------------------ read-modify-write */

static int split_lock_word;

void v3_split_lock(void)
{
    unsigned long spins = 0;

    while (__atomic_exchange_n(&split_lock_word, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&split_lock_word, __ATOMIC_RELAXED))
            v3_wait_step(&spins);
}

void v3_split_unlock(void)
{
    __atomic_store_n(&split_lock_word, 0, __ATOMIC_RELEASE);
}

/*
 * A LOCKed operand at @la that is not naturally aligned.  Inside an aligned
 * 8- or 16-byte block of RAM it becomes a compare-and-swap of that block
 * (atomic against every other access, as on hardware); across a 16-byte
 * boundary (a cache line, a page) it runs under the split lock.
 */
static int rmw_misaligned(struct v3_emu_ctx *ctx, struct v3_rmw *r, unsigned size, unsigned access,
                          uint64_t *old)
{
    uint64_t m = size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
    unsigned off8 = (unsigned)(r->la & 7), off16 = (unsigned)(r->la & 15);
    uint8_t b[8];
    int st;

    if (ctx->mem->map && off8 + size <= 8) {
        r->hva = ctx->mem->map(ctx, r->la & ~7ull, 8, V3_ACCESS_WRITE);
        if (r->hva) {
            r->how = V3_RMW_WIDE8;
            r->shift = (uint8_t)(off8 * 8);
            r->wide_old = __atomic_load_n((uint64_t *)r->hva, __ATOMIC_SEQ_CST);
            *old = ((uint64_t)r->wide_old >> r->shift) & m;
            return V3_X_NEXT;
        }
    } else if (ctx->mem->map && off16 + size <= 16) {
        r->hva = ctx->mem->map(ctx, r->la & ~15ull, 16, V3_ACCESS_WRITE);
        if (r->hva) {
            unsigned __int128 w = 0;
            r->how = V3_RMW_WIDE16;
            r->shift = (uint8_t)(off16 * 8);
            /* a compare-and-swap with equal values reads the 16 bytes atomically */
            r->wide_old = __sync_val_compare_and_swap((unsigned __int128 *)r->hva, w, w);
            *old = (uint64_t)(r->wide_old >> r->shift) & m;
            return V3_X_NEXT;
        }
    }
    r->hva = NULL;
    r->how = V3_RMW_SPLIT;
    v3_split_lock();
    st = v3_mem_status(ctx, ctx->mem->read(ctx, r->la, b, size, access));
    if (st) {
        r->how = 0;
        v3_split_unlock();
        return st;
    }
    *old = load_le(b, size);
    return V3_X_NEXT;
}

int v3_rmw_begin(struct v3_emu_ctx *ctx, const struct v3_insn *in, const struct v3_operand *op,
                 unsigned size, int force_atomic, struct v3_rmw *r, uint64_t *old)
{
    r->op = op;
    r->in = in;
    r->hva = NULL;
    r->size = size;
    r->la = 0;
    r->how = 0;
    if (op->kind != V3_OPK_MEM)
        return v3_op_read(ctx, in, op, size, old);

    unsigned access = V3_ACCESS_WRITE | stack_flag(op->reg);
    int st = v3_seg_linear(ctx, op->reg, v3_op_ea(ctx->core, in, op), size, access, &r->la);
    if (st)
        return st;
    if ((st = check_ac(ctx, r->la, size)))
        return st;
    int atomic = force_atomic || (in->prefix & V3_PFX_LOCK);
    if (atomic && (r->la & (size - 1)) != 0)
        return rmw_misaligned(ctx, r, size, access, old);
    if (ctx->mem->map) {
        r->hva = ctx->mem->map(ctx, r->la, size, V3_ACCESS_WRITE);
        if (r->hva) {
            /* aligned atomic path, or a plain RAM fast path when unlocked */
            r->size = size | (atomic ? 0x100u : 0);
            switch (atomic ? size : 0) {
            case 1: *old = __atomic_load_n((uint8_t *)r->hva, __ATOMIC_SEQ_CST); break;
            case 2: *old = __atomic_load_n((uint16_t *)r->hva, __ATOMIC_SEQ_CST); break;
            case 4: *old = __atomic_load_n((uint32_t *)r->hva, __ATOMIC_SEQ_CST); break;
            case 8: *old = __atomic_load_n((uint64_t *)r->hva, __ATOMIC_SEQ_CST); break;
            default: *old = load_le(r->hva, size); break;
            }
            return V3_X_NEXT;
        }
    }
    uint8_t b[8];
    st = v3_mem_status(ctx, ctx->mem->read(ctx, r->la, b, size, access));
    if (st)
        return st;
    *old = load_le(b, size);
    return V3_X_NEXT;
}

static int rmw_commit_misaligned(struct v3_emu_ctx *ctx, struct v3_rmw *r, uint64_t *old, uint64_t newv)
{
    unsigned size = r->size & 0xff;
    uint64_t m = size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;

    if (r->how == V3_RMW_WIDE8) {
        uint64_t e = (uint64_t)r->wide_old;
        uint64_t n = (e & ~(m << r->shift)) | ((newv & m) << r->shift);
        if (__atomic_compare_exchange_n((uint64_t *)r->hva, &e, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return V3_X_NEXT;
        r->wide_old = e;
        *old = (e >> r->shift) & m;
        return V3_X_AGAIN;
    }
    if (r->how == V3_RMW_WIDE16) {
        unsigned __int128 e = r->wide_old, mm = (unsigned __int128)m << r->shift;
        unsigned __int128 n = (e & ~mm) | ((unsigned __int128)(newv & m) << r->shift);
        unsigned __int128 got = __sync_val_compare_and_swap((unsigned __int128 *)r->hva, e, n);
        if (got == e)
            return V3_X_NEXT;
        r->wide_old = got;
        *old = (uint64_t)(got >> r->shift) & m;
        return V3_X_AGAIN;
    }
    {
        unsigned access = V3_ACCESS_WRITE | stack_flag(r->op->reg);
        int st = v3_mem_status(ctx, ctx->mem->write(ctx, r->la, &newv, size, access));
        r->how = 0;
        v3_split_unlock();
        return st;
    }
}

int v3_rmw_commit(struct v3_emu_ctx *ctx, struct v3_rmw *r, uint64_t *old, uint64_t newv)
{
    if (r->op->kind != V3_OPK_MEM)
        return v3_op_write(ctx, r->in, r->op, r->size, newv);
    if (r->how)
        return rmw_commit_misaligned(ctx, r, old, newv);
    if (r->hva) {
        unsigned size = r->size & 0xff;
        if (r->size & 0x100) {
            int ok;
            switch (size) {
            case 1: { uint8_t e = (uint8_t)*old;
                ok = __atomic_compare_exchange_n((uint8_t *)r->hva, &e, (uint8_t)newv, 0,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                *old = e; break; }
            case 2: { uint16_t e = (uint16_t)*old;
                ok = __atomic_compare_exchange_n((uint16_t *)r->hva, &e, (uint16_t)newv, 0,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                *old = e; break; }
            case 4: { uint32_t e = (uint32_t)*old;
                ok = __atomic_compare_exchange_n((uint32_t *)r->hva, &e, (uint32_t)newv, 0,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                *old = e; break; }
            default: { uint64_t e = *old;
                ok = __atomic_compare_exchange_n((uint64_t *)r->hva, &e, newv, 0,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
                *old = e; break; }
            }
            return ok ? V3_X_NEXT : V3_X_AGAIN;
        }
        store_le(r->hva, newv, size);
        return V3_X_NEXT;
    }
    unsigned access = V3_ACCESS_WRITE | stack_flag(r->op->reg);
    return v3_mem_status(ctx, ctx->mem->write(ctx, r->la, &newv, r->size, access));
}

/* ------------------------------------------------------------ stack */

unsigned v3_stack_size(const struct v3_core *core)
{
    if (core->mode == V3_MODE_LONG64)
        return 8;
    return (core->seg[V3_SS].attrib & V3_SEG_DB) ? 4 : 2;
}

int v3_push(struct v3_emu_ctx *ctx, uint64_t val, unsigned size)
{
    struct v3_core *c = ctx->core;
    unsigned ss = v3_stack_size(c);
    uint64_t sp = (c->gpr[V3_RSP] - size) & v3_size_mask(ss);
    int st = v3_mem_write_seg(ctx, V3_SS, sp, &val, size, V3_ACCESS_WRITE);
    if (st)
        return st;
    v3_gpr_set(c, V3_RSP, ss, sp);
    return V3_X_NEXT;
}

int v3_pop(struct v3_emu_ctx *ctx, uint64_t *val, unsigned size)
{
    struct v3_core *c = ctx->core;
    unsigned ss = v3_stack_size(c);
    uint64_t sp = c->gpr[V3_RSP] & v3_size_mask(ss);
    uint64_t v = 0;
    int st = v3_mem_read_seg(ctx, V3_SS, sp, &v, size, V3_ACCESS_READ);
    if (st)
        return st;
    v3_gpr_set(c, V3_RSP, ss, sp + size);
    *val = v;
    return V3_X_NEXT;
}
