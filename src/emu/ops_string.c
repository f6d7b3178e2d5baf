/* SPDX-License-Identifier: MIT */
/*
 * String instructions MOVS STOS LODS CMPS SCAS with REP/REPE/REPNE, element
 * sizes 1/2/4/8, DF in both directions, address size 16/32/64 (RSI, RDI and
 * RCX are used and updated at the address size).  The source segment honours
 * overrides (in->seg); the destination is always ES.
 *
 * Each element is one access of the element size.  A fault part-way leaves
 * RCX/RSI/RDI (and the flags of CMPS/SCAS) describing the elements already
 * done, RIP at the instruction, so re-executing resumes.  ctx->rep_limit
 * bounds the iterations of one execution (V3_X_JUMP, RIP unchanged).
 *
 * MOVSD and CMPSD share their mnemonic with the SSE2 scalar instructions:
 * the 0F-map forms go to the SSE families (v3_op_sse_movsd, v3_op_vfp_cmpsd).
 */
#include <Zydis/Zydis.h>
#include "emu/insn.h"

int v3_op_sse_movsd(struct v3_emu_ctx *ctx, const struct v3_insn *in);   /* ops_sse.c */
int v3_op_vfp_cmpsd(struct v3_emu_ctx *ctx, const struct v3_insn *in);   /* ops_vfp.c */

enum { ST_MOVS, ST_STOS, ST_LODS, ST_CMPS, ST_SCAS };

static unsigned elem_size(unsigned mn)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_LODSB:
    case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_SCASB:
        return 1;
    case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_SCASW:
        return 2;
    case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_LODSD:
    case ZYDIS_MNEMONIC_CMPSD: case ZYDIS_MNEMONIC_SCASD:
        return 4;
    default:
        return 8;
    }
}

/*
 * REP MOVS/STOS fast path (DF = 0) for plain RAM: as many whole elements as
 * fit in the current source and destination pages, copied at once through
 * ctx->mem->map().  Anything unusual (hooked memory, a segment limit, #AC
 * checking, overlap where a forward element copy differs from memmove)
 * returns 0 and the caller runs element by element, which raises the exact
 * fault at the exact element.  Registers are updated for the elements done.
 */
static uint64_t fast_chunk(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k,
                           unsigned es, uint64_t am, uint64_t cnt, uint32_t limit)
{
    struct v3_core *c = ctx->core;
    uint64_t si = c->gpr[V3_RSI] & am, di = c->gpr[V3_RDI] & am, sla = 0, dla;
    uint64_t n = cnt;
    if (limit && n > limit)
        n = limit;
    if ((c->cr0 & V3_CR0_AM) && (c->rflags & V3_FLAG_AC) && c->cpl == 3)
        return 0;
    /* no wrap of the address-size-truncated offsets inside the chunk */
    if (n > (am - di) / es + 1)
        n = (am - di) / es + 1;
    if (k == ST_MOVS && n > (am - si) / es + 1)
        n = (am - si) / es + 1;
    /* page bounds, from the unsegmented offsets' linear addresses */
    if (v3_seg_linear(ctx, V3_ES, di, es, V3_ACCESS_WRITE, &dla))
        return 0;
    if (n > (4096 - (dla & 4095)) / es)
        n = (4096 - (dla & 4095)) / es;
    if (k == ST_MOVS) {
        if (v3_seg_linear(ctx, in->seg, si, es, V3_ACCESS_READ, &sla))
            return 0;
        if (n > (4096 - (sla & 4095)) / es)
            n = (4096 - (sla & 4095)) / es;
    }
    if (n < 2)
        return 0;
    uint64_t len = n * es;
    /* whole chunk within the segment limits (checked on the full range) */
    if (v3_seg_linear(ctx, V3_ES, di, (unsigned)len, V3_ACCESS_WRITE, &dla))
        return 0;
    uint8_t *dst = ctx->mem->map(ctx, dla, (unsigned)len, V3_ACCESS_WRITE);
    if (!dst)
        return 0;
    if (k == ST_MOVS) {
        if (v3_seg_linear(ctx, in->seg, si, (unsigned)len, V3_ACCESS_READ, &sla))
            return 0;
        const uint8_t *src = ctx->mem->map(ctx, sla, (unsigned)len, V3_ACCESS_READ);
        if (!src || (dst > src && dst < src + len))
            return 0;
        memmove(dst, src, len);
        v3_gpr_set(c, V3_RSI, in->addrsize, si + len);
    } else {
        uint64_t v = v3_gpr_get(c, V3_RAX, es);
        if (es == 1)
            memset(dst, (int)v, len);
        else
            /* one store per element (a memcpy() call may store a byte twice) */
            for (uint64_t i = 0; i < len; i += es) {
                if (es == 2) { uint16_t x = (uint16_t)v; __builtin_memcpy(dst + i, &x, 2); }
                else if (es == 4) { uint32_t x = (uint32_t)v; __builtin_memcpy(dst + i, &x, 4); }
                else __builtin_memcpy(dst + i, &v, 8);
            }
    }
    v3_gpr_set(c, V3_RDI, in->addrsize, di + len);
    v3_gpr_set(c, V3_RCX, in->addrsize, cnt - n);
    return n;
}

static int string_op(struct v3_emu_ctx *ctx, const struct v3_insn *in, unsigned k)
{
    struct v3_core *c = ctx->core;
    unsigned es = elem_size(in->mnemonic), as = in->addrsize;
    uint64_t am = v3_size_mask(as);
    int rep = (in->prefix & (V3_PFX_REP | V3_PFX_REPNE)) != 0;
    int repne = (in->prefix & V3_PFX_REPNE) != 0;
    uint64_t delta = (v3_core_get_rflags(c) & V3_FLAG_DF) ? (uint64_t)0 - es : es;
    uint64_t cnt = rep ? c->gpr[V3_RCX] & am : 1;
    uint32_t limit = ctx->rep_limit;
    int st;

    while (cnt) {
        if (rep && cnt > 1 && (k == ST_MOVS || k == ST_STOS) && !(delta >> 63) && ctx->mem->map) {
            uint64_t n = fast_chunk(ctx, in, k, es, am, cnt, limit);
            if (n) {
                cnt -= n;
                if (limit) {
                    limit -= (uint32_t)n;
                    if (cnt && limit == 0)
                        return V3_X_JUMP;
                }
                continue;
            }
        }
        uint64_t si = c->gpr[V3_RSI] & am, di = c->gpr[V3_RDI] & am, a = 0, b = 0;
        switch (k) {
        case ST_MOVS:
            if ((st = v3_mem_read_seg(ctx, in->seg, si, &a, es, V3_ACCESS_READ)))
                return st;
            if ((st = v3_mem_write_seg(ctx, V3_ES, di, &a, es, V3_ACCESS_WRITE)))
                return st;
            v3_gpr_set(c, V3_RSI, as, si + delta);
            v3_gpr_set(c, V3_RDI, as, di + delta);
            break;
        case ST_STOS:
            a = v3_gpr_get(c, V3_RAX, es);
            if ((st = v3_mem_write_seg(ctx, V3_ES, di, &a, es, V3_ACCESS_WRITE)))
                return st;
            v3_gpr_set(c, V3_RDI, as, di + delta);
            break;
        case ST_LODS:
            if ((st = v3_mem_read_seg(ctx, in->seg, si, &a, es, V3_ACCESS_READ)))
                return st;
            v3_gpr_set(c, V3_RAX, es, a);
            v3_gpr_set(c, V3_RSI, as, si + delta);
            break;
        case ST_CMPS:
            if ((st = v3_mem_read_seg(ctx, in->seg, si, &a, es, V3_ACCESS_READ)))
                return st;
            if ((st = v3_mem_read_seg(ctx, V3_ES, di, &b, es, V3_ACCESS_READ)))
                return st;
            v3_flags_lazy(c, V3_LF_SUB, es, (a - b) & v3_size_mask(es), a, b);
            v3_gpr_set(c, V3_RSI, as, si + delta);
            v3_gpr_set(c, V3_RDI, as, di + delta);
            break;
        default: /* SCAS */
            a = v3_gpr_get(c, V3_RAX, es);
            if ((st = v3_mem_read_seg(ctx, V3_ES, di, &b, es, V3_ACCESS_READ)))
                return st;
            v3_flags_lazy(c, V3_LF_SUB, es, (a - b) & v3_size_mask(es), a, b);
            v3_gpr_set(c, V3_RDI, as, di + delta);
            break;
        }
        if (!rep)
            break;
        cnt--;
        v3_gpr_set(c, V3_RCX, as, cnt);
        if (k == ST_CMPS || k == ST_SCAS) {
            int zf = c->lazy.res == 0;    /* the record just written */
            if (repne ? zf : !zf)
                break;
        }
        if (cnt && limit && --limit == 0)
            return V3_X_JUMP;     /* RIP unchanged: resume later */
    }
    return V3_X_NEXT;
}

static int op_movs(struct v3_emu_ctx *x, const struct v3_insn *in)
{
    if (in->opmap != 0)   /* 0F-map MOVSD: SSE2 scalar move */
        return v3_op_sse_movsd(x, in);
    return string_op(x, in, ST_MOVS);
}
static int op_stos(struct v3_emu_ctx *x, const struct v3_insn *in) { return string_op(x, in, ST_STOS); }
static int op_lods(struct v3_emu_ctx *x, const struct v3_insn *in) { return string_op(x, in, ST_LODS); }
static int op_cmps(struct v3_emu_ctx *x, const struct v3_insn *in)
{
    if (in->opmap != 0)   /* 0F-map CMPSD: SSE2 compare, not a string op */
        return v3_op_vfp_cmpsd(x, in);
    return string_op(x, in, ST_CMPS);
}
static int op_scas(struct v3_emu_ctx *x, const struct v3_insn *in) { return string_op(x, in, ST_SCAS); }

#define R V3_OPF_REP
const struct v3_op_entry v3_ops_string[] = {
    { ZYDIS_MNEMONIC_MOVSB, R, op_movs }, { ZYDIS_MNEMONIC_MOVSW, R, op_movs },
    { ZYDIS_MNEMONIC_MOVSD, R, op_movs }, { ZYDIS_MNEMONIC_MOVSQ, R, op_movs },
    { ZYDIS_MNEMONIC_STOSB, R, op_stos }, { ZYDIS_MNEMONIC_STOSW, R, op_stos },
    { ZYDIS_MNEMONIC_STOSD, R, op_stos }, { ZYDIS_MNEMONIC_STOSQ, R, op_stos },
    { ZYDIS_MNEMONIC_LODSB, R, op_lods }, { ZYDIS_MNEMONIC_LODSW, R, op_lods },
    { ZYDIS_MNEMONIC_LODSD, R, op_lods }, { ZYDIS_MNEMONIC_LODSQ, R, op_lods },
    { ZYDIS_MNEMONIC_CMPSB, R, op_cmps }, { ZYDIS_MNEMONIC_CMPSW, R, op_cmps },
    { ZYDIS_MNEMONIC_CMPSD, R, op_cmps }, { ZYDIS_MNEMONIC_CMPSQ, R, op_cmps },
    { ZYDIS_MNEMONIC_SCASB, R, op_scas }, { ZYDIS_MNEMONIC_SCASW, R, op_scas },
    { ZYDIS_MNEMONIC_SCASD, R, op_scas }, { ZYDIS_MNEMONIC_SCASQ, R, op_scas },
    { 0, 0, NULL },
};
