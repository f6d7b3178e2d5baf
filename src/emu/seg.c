/* SPDX-License-Identifier: MIT */
/*
 * Segmentation for data accesses: segment base, limit and type checks in
 * real, virtual-8086, 16/32-bit protected and compatibility mode; FS/GS
 * bases and the canonical check in 64-bit mode.  Violations raise #GP(0), or
 * #SS(0) when the segment is SS (or the access is a stack access).
 */
#include "emu/insn.h"

static int seg_fault(struct v3_emu_ctx *ctx, unsigned sreg, unsigned access)
{
    if (sreg == V3_SS || (access & V3_ACCESS_STACK))
        return v3_exc_ss0(ctx);
    return v3_exc_gp0(ctx);
}

static int canonical(const struct v3_core *core, uint64_t la)
{
    unsigned bits = (core->cr4 & V3_CR4_LA57) ? 57 : 48;
    int64_t s = (int64_t)(la << (64 - bits)) >> (64 - bits);
    return (uint64_t)s == la;
}

int v3_seg_linear(struct v3_emu_ctx *ctx, unsigned sreg, uint64_t off, unsigned len,
                  unsigned access, uint64_t *la)
{
    const struct v3_core *core = ctx->core;
    const struct v3_segment *s = &core->seg[sreg & 7];
    uint64_t last = len ? len - 1 : 0;

    if (core->mode == V3_MODE_LONG64) {
        uint64_t a = off;
        if (sreg == V3_FS || sreg == V3_GS)
            a += s->base;
        if (!canonical(core, a) || !canonical(core, a + last))
            return seg_fault(ctx, sreg, access);
        *la = a;
        return V3_X_NEXT;
    }

    if (core->mode == V3_MODE_REAL || core->mode == V3_MODE_VM86) {
        if (off + last > s->limit)
            return seg_fault(ctx, sreg, access);
        *la = (s->base + off) & 0xffffffffull;
        return V3_X_NEXT;
    }

    /* protected / compatibility mode */
    unsigned type = V3_SEG_TYPE(s->attrib);
    if (!(s->attrib & V3_SEG_P) || !(s->attrib & V3_SEG_S))
        return seg_fault(ctx, sreg, access);
    if (type & 0x8) {                       /* code segment */
        if (access & V3_ACCESS_WRITE)
            return seg_fault(ctx, sreg, access);
        if ((access & V3_ACCESS_READ) && !(type & 0x2))
            return seg_fault(ctx, sreg, access);
    } else {                                /* data segment */
        if ((access & V3_ACCESS_WRITE) && !(type & 0x2))
            return seg_fault(ctx, sreg, access);
    }
    if (!(type & 0x8) && (type & 0x4)) {    /* expand-down */
        uint64_t upper = (s->attrib & V3_SEG_DB) ? 0xffffffffull : 0xffffull;
        if (off <= s->limit || off + last > upper)
            return seg_fault(ctx, sreg, access);
    } else if (off + last > s->limit) {
        return seg_fault(ctx, sreg, access);
    }
    *la = (s->base + off) & 0xffffffffull;
    return V3_X_NEXT;
}
