/* SPDX-License-Identifier: MIT */
/*
 * The hooked-access fault path: fetch at CS:RIP, decode, execute through the
 * memory map.  Memory operations here translate every page with
 * v3_gva_to_gpa() before touching any byte, then go through
 * v3_read_gpa_memory()/v3_write_gpa_memory(), which deliver one callback per
 * region piece (so an access within one page and region is one call).
 */
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/emu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include "emu/insn.h"

#define PAGE 4096ull

struct piece {
    uint64_t gpa;
    unsigned len;
};

/* translate [la, la+len) (len <= 16 in guest accesses, any length here) into at most 2 pieces
 * per call chunk; we handle up to 2 pages for accesses of at most one page */
static int translate(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access,
                     struct piece p[2], unsigned *np)
{
    unsigned kind = (access & V3_ACCESS_WRITE) ? V3_ACCESS_WRITE
                  : (access & V3_ACCESS_EXEC) ? V3_ACCESS_EXEC : V3_ACCESS_READ;
    kind |= access & (V3_ACCESS_STACK | V3_ACCESS_SUPERVISOR);
    unsigned n = 0;
    while (len) {
        unsigned chunk = (unsigned)(PAGE - (la & (PAGE - 1)));
        if (chunk > len)
            chunk = len;
        if (n == 2)
            return V3_EINVAL;
        int rc = v3_gva_to_gpa(ctx->core, la, kind, &p[n].gpa, &ctx->exc);
        if (rc)
            return rc;
        p[n].len = chunk;
        n++;
        la += chunk;
        len -= chunk;
    }
    *np = n;
    return V3_OK;
}

static int fp_read(struct v3_emu_ctx *ctx, uint64_t la, void *dst, unsigned len, unsigned access)
{
    struct piece p[2];
    unsigned n;
    int rc = translate(ctx, la, len, access, p, &n);
    if (rc)
        return rc;
    uint8_t *d = dst;
    for (unsigned i = 0; i < n; i++) {
        int64_t r = v3_read_gpa_memory(ctx->core->vm, ctx->core, p[i].gpa, p[i].len, d);
        if (r < 0)
            return (int)r;
        d += p[i].len;
    }
    return V3_OK;
}

static int fp_write(struct v3_emu_ctx *ctx, uint64_t la, const void *src, unsigned len,
                    unsigned access)
{
    struct piece p[2];
    unsigned n;
    int rc = translate(ctx, la, len, access | V3_ACCESS_WRITE, p, &n);
    if (rc)
        return rc;
    /* every piece must be mapped before the first one is written */
    for (unsigned i = 0; i < n; i++) {
        if (!v3_mem_lookup(ctx->core->vm, &ctx->core->mem_cache, p[i].gpa) ||
            !v3_mem_lookup(ctx->core->vm, &ctx->core->mem_cache, p[i].gpa + p[i].len - 1))
            return V3_EUNMAPPED;
    }
    const uint8_t *s = src;
    for (unsigned i = 0; i < n; i++) {
        int64_t r = v3_write_gpa_memory(ctx->core->vm, ctx->core, p[i].gpa, p[i].len, s);
        if (r < 0)
            return (int)r;
        s += p[i].len;
    }
    return V3_OK;
}

/* host pointer for plain RAM (base or shadow region) within one page.  The
 * lookup is not made under the map lock: as for any raw lookup, a VMM that
 * changes the map while vCPUs run must pause them first (see v3/mem.h). */
static void *fp_map(struct v3_emu_ctx *ctx, uint64_t la, unsigned len, unsigned access)
{
    if ((la & (PAGE - 1)) + len > PAGE)
        return NULL;
    uint64_t gpa;
    struct v3_exception exc;
    if (v3_gva_to_gpa(ctx->core, la, access & V3_ACCESS_WRITE ? V3_ACCESS_WRITE : V3_ACCESS_READ,
                      &gpa, &exc))
        return NULL;
    const struct v3_mem_region *reg = v3_mem_lookup(ctx->core->vm, &ctx->core->mem_cache, gpa);
    if (!reg || (reg->type != V3_REGION_BASE && reg->type != V3_REGION_SHADOW) ||
        gpa + len > reg->guest_end)
        return NULL;
    void *hva;
    if (v3_get_shadow_addr(reg, gpa, &hva))
        return NULL;
    return hva;
}

static const struct v3_emu_mem_ops fault_mem_ops = {
    .read = fp_read,
    .write = fp_write,
    .map = fp_map,
};

static void hexbytes(char *out, const uint8_t *b, unsigned n)
{
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[i * 3] = hx[b[i] >> 4];
        out[i * 3 + 1] = hx[b[i] & 15];
        out[i * 3 + 2] = i + 1 < n ? ' ' : 0;
    }
    if (!n)
        out[0] = 0;
}

static int finish_exc(struct v3_emu_result *res, const struct v3_exception *exc)
{
    res->status = V3_EMU_EXCEPTION;
    res->exc = *exc;
    res->error = V3_EFAULT;
    return V3_EFAULT;
}

static int finish_err(struct v3_emu_result *res, enum v3_emu_status s, int err)
{
    res->status = s;
    res->error = err;
    return err;
}

int v3_emulate_one(struct v3_core *core, struct v3_emu_result *res)
{
    if (!core || !res)
        return V3_EINVAL;
    memset(res, 0, sizeof(*res));
    res->rip = core->rip;
    if (!core->vm) {
        V3_ERROR("emu: core has no VM");
        return finish_err(res, V3_EMU_ERROR, V3_EINVAL);
    }

    struct v3_emu_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.core = core;
    ctx.mem = &fault_mem_ops;

    /* ---- fetch up to 15 bytes at CS:RIP, stopping at what is readable */
    uint64_t rip = core->rip;
    if (core->mode != V3_MODE_LONG64)
        rip &= 0xffffffffull;
    unsigned want = 15;
    if (core->mode != V3_MODE_LONG64) {
        uint64_t lim = core->seg[V3_CS].limit;
        if (rip > lim) {
            v3_exc_gp0(&ctx);
            return finish_exc(res, &ctx.exc);
        }
        if (lim - rip + 1 < want)
            want = (unsigned)(lim - rip + 1);
    }
    uint64_t la;
    if (v3_seg_linear(&ctx, V3_CS, rip, 1, V3_ACCESS_EXEC, &la))
        return finish_exc(res, &ctx.exc);
    unsigned first = (unsigned)(PAGE - (la & (PAGE - 1)));
    if (first > want)
        first = want;
    struct v3_exception fexc;
    int64_t r = v3_read_gva_memory(core, la, first, res->bytes, V3_ACCESS_EXEC, &fexc);
    if (r == V3_EFAULT)
        return finish_exc(res, &fexc);
    if (r < 0) {
        V3_ERROR("emu: cannot fetch at rip %llx: %d", (unsigned long long)core->rip, (int)r);
        return finish_err(res, V3_EMU_ERROR, (int)r);
    }
    unsigned got = first;
    res->len = (uint8_t)got;

    /* ---- decode; fetch the next page only if the instruction continues
     * there (no speculative read of a hooked page behind the code) */
    struct v3_insn in;
    int dl = v3_decode(core->mode, res->bytes, got, &in);
    if (dl == V3_DEC_SHORT && got < want) {
        struct v3_exception sexc;
        uint64_t la2 = (la + got) & (core->mode == V3_MODE_LONG64 ? ~0ull : 0xffffffffull);
        int64_t r2 = v3_read_gva_memory(core, la2, want - got, res->bytes + got, V3_ACCESS_EXEC, &sexc);
        if (r2 == V3_EFAULT)
            return finish_exc(res, &sexc);
        if (r2 < 0) {
            V3_ERROR("emu: cannot fetch instruction tail at rip %llx: %d",
                     (unsigned long long)core->rip, (int)r2);
            return finish_err(res, V3_EMU_ERROR, (int)r2);
        }
        got = want;
        res->len = (uint8_t)got;
        dl = v3_decode(core->mode, res->bytes, got, &in);
    }
    if (dl == V3_DEC_SHORT) {
        v3_exc_gp0(&ctx);    /* ran into the CS limit */
        return finish_exc(res, &ctx.exc);
    }
    if (dl == V3_DEC_LONG) {
        v3_exc_gp0(&ctx);
        return finish_exc(res, &ctx.exc);
    }
    if (dl < 0) {
        v3_exc_ud(&ctx);
        return finish_exc(res, &ctx.exc);
    }
    res->len = in.len;

    /* ---- execute */
    int st = v3_exec(&ctx, &in);
    switch (st) {
    case V3_X_NEXT:
    case V3_X_JUMP:
        res->status = V3_EMU_DONE;
        return V3_OK;
    case V3_X_EXC:
        return finish_exc(res, &ctx.exc);
    case V3_X_ERROR:
        V3_ERROR("emu: access failed at rip %llx: %s", (unsigned long long)res->rip,
                 v3_strerror(ctx.error));
        return finish_err(res, V3_EMU_ERROR, ctx.error ? ctx.error : V3_EINVAL);
    default: {
        char hex[48];
        hexbytes(hex, res->bytes, res->len);
        V3_ERROR("emu: unsupported instruction at rip %llx: %s", (unsigned long long)res->rip, hex);
        return finish_err(res, V3_EMU_UNSUPPORTED, V3_EUNSUPPORTED);
    }
    }
}

int v3_handle_mem_fault(struct v3_core *core, uint64_t gva, uint64_t gpa, unsigned access,
                        struct v3_emu_result *res)
{
    (void)gva;
    (void)access;
    if (!core || !res)
        return V3_EINVAL;
    memset(res, 0, sizeof(*res));
    res->rip = core->rip;
    if (!core->vm) {
        V3_ERROR("emu: core has no VM");
        return finish_err(res, V3_EMU_ERROR, V3_EINVAL);
    }
    if (!v3_mem_lookup(core->vm, &core->mem_cache, gpa)) {
        V3_ERROR("emu: fault at gpa %llx: no region", (unsigned long long)gpa);
        return finish_err(res, V3_EMU_ERROR, V3_EUNMAPPED);
    }
    return v3_emulate_one(core, res);
}
