/* SPDX-License-Identifier: MIT */
/*
 * System level of the software CPU: descriptors, segment loads, event
 * delivery, control/debug registers, MSRs, I/O permission, breakpoints.
 * See system.h for the contracts.
 */
#include "arch/system.h"
#include "internal/clock.h"
#include "internal/host.h"
#include "internal/vm.h"
#include <v3/cpuid.h>
#include <v3/paging.h>

/* ------------------------------------------------------------ helpers */

static inline int set_exc(struct v3_exception *exc, unsigned vec, bool has_ec, uint32_t ec)
{
    exc->vector = (uint8_t)vec;
    exc->has_error_code = has_ec;
    exc->error_code = ec;
    exc->cr2 = 0;
    return V3_EFAULT;
}

static inline bool long_mode(const struct v3_core *c) { return (c->efer & V3_EFER_LMA) != 0; }

static inline uint64_t lin(const struct v3_core *c, uint64_t la)
{
    return long_mode(c) ? la : (uint32_t)la;
}

static int sys_read(struct v3_core *c, uint64_t la, void *dst, unsigned len, struct v3_exception *exc)
{
    int64_t r = v3_read_gva_memory(c, lin(c, la), len, dst, V3_ACCESS_READ | V3_ACCESS_SUPERVISOR, exc);
    return r < 0 ? (int)r : 0;
}

static int sys_write(struct v3_core *c, uint64_t la, const void *src, unsigned len,
                     struct v3_exception *exc)
{
    int64_t r = v3_write_gva_memory(c, lin(c, la), len, src, V3_ACCESS_WRITE | V3_ACCESS_SUPERVISOR, exc);
    return r < 0 ? (int)r : 0;
}

static inline bool canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

/* ------------------------------------------------------------ descriptors */

void v3_cpu_desc_to_seg(uint64_t d, uint16_t selector, struct v3_segment *seg)
{
    uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
    uint16_t attrib = (uint16_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 8));

    if (attrib & V3_SEG_G)
        limit = (limit << 12) | 0xfff;
    seg->selector = selector;
    seg->attrib = attrib;
    seg->limit = limit;
    seg->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000ull);
}

/* Address of the descriptor of @sel, or fault. */
static int desc_addr(struct v3_core *c, uint16_t sel, unsigned size, unsigned vec, uint64_t *addr,
                     struct v3_exception *exc)
{
    uint64_t base;
    uint32_t limit;
    uint32_t idx = sel & ~7u;

    if (sel & 4) {
        const struct v3_segment *l = &c->seg[V3_LDTR];
        if ((l->selector & ~3u) == 0 || !(l->attrib & V3_SEG_P))
            return set_exc(exc, vec, true, sel & 0xfffc);
        base = l->base;
        limit = l->limit;
    } else {
        base = c->gdtr.base;
        limit = c->gdtr.limit;
    }
    if ((uint64_t)idx + size - 1 > limit)
        return set_exc(exc, vec, true, sel & 0xfffc);
    *addr = base + idx;
    return 0;
}

int v3_cpu_read_descriptor(struct v3_core *c, uint16_t sel, uint64_t desc[2], unsigned vec,
                           struct v3_exception *exc)
{
    uint64_t a;
    int rc;

    if (vec == 0)
        vec = V3_EXC_GP;
    desc[1] = 0;
    if ((rc = desc_addr(c, sel, 8, vec, &a, exc)))
        return rc;
    if ((rc = sys_read(c, a, &desc[0], 8, exc)))
        return rc;
    if (long_mode(c) && !(desc[0] & (1ull << 44))) {
        /* a system descriptor: 16 bytes in long mode */
        if ((rc = desc_addr(c, sel, 16, vec, &a, exc)))
            return rc;
        if ((rc = sys_read(c, a + 8, &desc[1], 8, exc)))
            return rc;
    }
    return 0;
}

/* Set the accessed bit of a code/data descriptor (a locked RMW on hardware). */
static int set_accessed(struct v3_core *c, uint16_t sel, uint64_t *desc, struct v3_exception *exc)
{
    uint64_t a;
    uint8_t b;
    int rc;

    if (*desc & (1ull << 40))
        return 0;
    if ((rc = desc_addr(c, sel, 8, V3_EXC_GP, &a, exc)))
        return rc;
    *desc |= 1ull << 40;
    b = (uint8_t)(*desc >> 40);
    return sys_write(c, a + 5, &b, 1, exc);
}

#define D_S(d)     (((d) >> 44) & 1)
#define D_TYPE(d)  (((d) >> 40) & 0xf)
#define D_DPL(d)   ((unsigned)(((d) >> 45) & 3))
#define D_P(d)     (((d) >> 47) & 1)
#define D_L(d)     (((d) >> 53) & 1)
#define D_DB(d)    (((d) >> 54) & 1)
#define D_CODE(d)  (D_S(d) && (D_TYPE(d) & 8))

/* ------------------------------------------------------------ segment loads */

static void load_null(struct v3_core *c, int sreg, uint16_t sel)
{
    struct v3_segment *s = &c->seg[sreg];
    s->selector = sel;
    s->attrib = 0;           /* unusable */
    s->base = 0;
    s->limit = 0;
}

int v3_load_segment(struct v3_core *c, int sreg, uint16_t sel, struct v3_exception *exc)
{
    struct v3_segment *s;
    uint64_t d[2];
    unsigned rpl = sel & 3, cpl = c->cpl, dpl;
    uint32_t ec = sel & 0xfffc;
    int rc;

    if (sreg < V3_ES || sreg > V3_GS || sreg == V3_CS)
        return V3_EINVAL;
    s = &c->seg[sreg];

    if (!(c->cr0 & V3_CR0_PE)) {
        s->selector = sel;
        s->base = (uint64_t)sel << 4;
        return 0;
    }
    if (c->rflags & V3_FLAG_VM) {
        s->selector = sel;
        s->base = (uint64_t)sel << 4;
        s->limit = 0xffff;
        s->attrib = V3_SEG_P | V3_SEG_S | (3 << 5) | 0x3;
        return 0;
    }
    if ((sel & ~3u) == 0) {
        if (sreg == V3_SS && !(c->mode == V3_MODE_LONG64 && cpl != 3 && rpl == cpl))
            return set_exc(exc, V3_EXC_GP, true, 0);
        load_null(c, sreg, sel);
        if (sreg == V3_SS)
            s->attrib = (uint16_t)(cpl << 5) | V3_SEG_S | 0x3;   /* null SS in 64-bit mode keeps DPL */
        return 0;
    }
    if ((rc = v3_cpu_read_descriptor(c, sel, d, V3_EXC_GP, exc)))
        return rc;
    dpl = D_DPL(d[0]);
    if (sreg == V3_SS) {
        if (rpl != cpl || !D_S(d[0]) || (D_TYPE(d[0]) & 0xa) != 0x2 || dpl != cpl)
            return set_exc(exc, V3_EXC_GP, true, ec);
        if (!D_P(d[0]))
            return set_exc(exc, V3_EXC_SS, true, ec);
    } else {
        if (!D_S(d[0]) || (D_CODE(d[0]) && !(D_TYPE(d[0]) & 2)))
            return set_exc(exc, V3_EXC_GP, true, ec);
        /* data and non-conforming code: DPL >= max(CPL, RPL) */
        if (!(D_CODE(d[0]) && (D_TYPE(d[0]) & 4)) && dpl < (rpl > cpl ? rpl : cpl))
            return set_exc(exc, V3_EXC_GP, true, ec);
        if (!D_P(d[0]))
            return set_exc(exc, V3_EXC_NP, true, ec);
    }
    if ((rc = set_accessed(c, sel, &d[0], exc)))
        return rc;
    v3_cpu_desc_to_seg(d[0], sel, s);
    return 0;
}

/* ------------------------------------------------------------ event delivery */

struct frame {
    uint8_t buf[96];
    unsigned len;     /* bytes used, built from the top down */
};

static void fpush(struct frame *f, uint64_t v, unsigned size)
{
    f->len += size;
    memcpy(f->buf + sizeof(f->buf) - f->len, &v, size);
}

static const uint8_t *ftop(const struct frame *f) { return f->buf + sizeof(f->buf) - f->len; }

/*
 * Check a stack push of @len bytes ending at offset @sp (exclusive) in the
 * (possibly not yet loaded) stack segment @ss; return the linear address
 * of the lowest byte.
 */
static int stack_room(const struct v3_segment *ss, uint64_t sp, unsigned len, unsigned stack_size,
                      uint32_t ec, uint64_t *la, struct v3_exception *exc)
{
    uint64_t lo = (sp - len) & (stack_size == 2 ? 0xffff : stack_size == 4 ? 0xffffffffull : ~0ull);

    if (stack_size != 8) {
        uint64_t hi = lo + len - 1;
        uint32_t type = V3_SEG_TYPE(ss->attrib);
        if (type & 4) {   /* expand-down */
            uint64_t top = (ss->attrib & V3_SEG_DB) ? 0xffffffffull : 0xffff;
            if (lo <= ss->limit || hi > top)
                return set_exc(exc, V3_EXC_SS, true, ec);
        } else if (hi > ss->limit || lo > hi) {
            return set_exc(exc, V3_EXC_SS, true, ec);
        }
        *la = (uint32_t)(ss->base + lo);
    } else {
        if (!canonical(lo))
            return set_exc(exc, V3_EXC_SS, true, ec);
        *la = lo;
    }
    return 0;
}

static int deliver_real(struct v3_core *c, unsigned vec, uint64_t rip, struct v3_exception *exc)
{
    uint32_t ent;
    struct frame f = { .len = 0 };
    struct v3_segment *ss = &c->seg[V3_SS];
    uint64_t la, sp = c->gpr[V3_RSP] & 0xffff;
    uint64_t fl = v3_core_get_rflags(c);
    int rc;

    if ((uint64_t)vec * 4 + 3 > c->idtr.limit)
        return set_exc(exc, V3_EXC_GP, true, vec * 8 + 2);
    if ((rc = sys_read(c, c->idtr.base + vec * 4, &ent, 4, exc)))
        return rc;
    fpush(&f, fl, 2);
    fpush(&f, c->seg[V3_CS].selector, 2);
    fpush(&f, rip, 2);
    /* real mode: the push wraps inside the 64 KiB segment */
    for (unsigned i = 0; i < f.len; i++) {
        la = ss->base + ((sp - f.len + i) & 0xffff);
        if ((rc = sys_write(c, la, ftop(&f) + i, 1, exc)))
            return rc;
    }
    c->gpr[V3_RSP] = (c->gpr[V3_RSP] & ~0xffffull) | ((sp - f.len) & 0xffff);
    c->seg[V3_CS].selector = (uint16_t)(ent >> 16);
    c->seg[V3_CS].base = (uint64_t)(ent >> 16) << 4;
    c->rip = ent & 0xffff;
    v3_core_set_rflags(c, fl & ~(V3_FLAG_IF | V3_FLAG_TF | V3_FLAG_AC | V3_FLAG_RF));
    return 0;
}

/* Read the stack pointer for privilege level @dpl (or IST @ist) from the TSS. */
static int tss_stack(struct v3_core *c, unsigned dpl, unsigned ist, uint64_t *sp, uint16_t *ss,
                     struct v3_exception *exc)
{
    const struct v3_segment *tr = &c->seg[V3_TR];
    uint32_t ec = tr->selector & 0xfffc;
    unsigned type = V3_SEG_TYPE(tr->attrib);
    int rc;

    if (long_mode(c)) {
        unsigned off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
        if (off + 7 > tr->limit)
            return set_exc(exc, V3_EXC_TS, true, ec);
        *ss = 0;
        return sys_read(c, tr->base + off, sp, 8, exc);
    }
    if (type == 0x9 || type == 0xb) {          /* 32-bit TSS */
        uint32_t esp, off = 4 + dpl * 8;
        uint16_t s;
        if (off + 5 > tr->limit)
            return set_exc(exc, V3_EXC_TS, true, ec);
        if ((rc = sys_read(c, tr->base + off, &esp, 4, exc)) ||
            (rc = sys_read(c, tr->base + off + 4, &s, 2, exc)))
            return rc;
        *sp = esp;
        *ss = s;
        return 0;
    }
    if (type == 0x1 || type == 0x3) {          /* 16-bit TSS */
        uint16_t v[2];
        uint32_t off = 2 + dpl * 4;
        if (off + 3 > tr->limit)
            return set_exc(exc, V3_EXC_TS, true, ec);
        if ((rc = sys_read(c, tr->base + off, v, 4, exc)))
            return rc;
        *sp = v[0];
        *ss = v[1];
        return 0;
    }
    return set_exc(exc, V3_EXC_TS, true, ec);
}

/* Check and decode a new SS for an inner-privilege stack switch to @dpl. */
static int load_inner_ss(struct v3_core *c, uint16_t sel, unsigned dpl, uint32_t ext,
                         struct v3_segment *out, struct v3_exception *exc)
{
    uint64_t d[2];
    int rc;

    if ((sel & ~3u) == 0)
        return set_exc(exc, V3_EXC_TS, true, ext);
    if ((rc = v3_cpu_read_descriptor(c, sel, d, V3_EXC_TS, exc))) {
        if (rc == V3_EFAULT && exc->vector == V3_EXC_TS)
            exc->error_code = (sel & 0xfffc) | ext;
        return rc;
    }
    if ((sel & 3) != dpl || D_DPL(d[0]) != dpl || !D_S(d[0]) || (D_TYPE(d[0]) & 0xa) != 0x2)
        return set_exc(exc, V3_EXC_TS, true, (sel & 0xfffc) | ext);
    if (!D_P(d[0]))
        return set_exc(exc, V3_EXC_SS, true, (sel & 0xfffc) | ext);
    if ((rc = set_accessed(c, sel, &d[0], exc)))
        return rc;
    v3_cpu_desc_to_seg(d[0], sel, out);
    return 0;
}

int v3_cpu_task_switch(struct v3_core *c, uint16_t sel, int reason, bool has_ec, uint32_t ec,
                       uint64_t next_rip, struct v3_exception *exc);

/*
 * RF in the pushed RFLAGS: set for a fault-class exception (the instruction
 * is restarted and must not hit its own instruction breakpoint again), SDM
 * vol. 3 17.3.1.1; #DB (instruction breakpoints, and the traps) and the
 * traps/aborts (#BP, #OF, #DF, #MC, NMI) push RFLAGS as it is.
 */
static uint64_t fault_rf(unsigned vec, enum v3_event_src src)
{
    if (src != V3_SRC_HW_EXC)
        return 0;
    switch (vec) {
    case V3_EXC_DE: case V3_EXC_BR: case V3_EXC_UD: case V3_EXC_NM: case V3_EXC_TS:
    case V3_EXC_NP: case V3_EXC_SS: case V3_EXC_GP: case V3_EXC_PF: case V3_EXC_MF:
    case V3_EXC_AC: case V3_EXC_XM:
        return V3_FLAG_RF;
    default:
        return 0;
    }
}

static int deliver_prot(struct v3_core *c, unsigned vec, enum v3_event_src src, bool has_ec,
                        uint32_t ec, uint64_t rip, struct v3_exception *exc)
{
    bool lm = long_mode(c);
    bool soft = src == V3_SRC_SOFT_INT || src == V3_SRC_SOFT_EXC;
    uint32_t ext = (src == V3_SRC_HW_EXC || src == V3_SRC_EXT_INT || src == V3_SRC_NMI) ? 1 : 0;
    uint32_t idt_ec = vec * 8 + 2 + ext;
    unsigned gsize = lm ? 16 : 8;
    uint64_t g[2] = { 0, 0 }, cd[2];
    uint64_t fl = v3_core_get_rflags(c);
    unsigned gtype, cpl = c->cpl, dpl, ist = 0, gate_sz;
    uint16_t csel;
    uint64_t off;
    int rc;

    if ((uint64_t)vec * gsize + gsize - 1 > c->idtr.limit)
        return set_exc(exc, V3_EXC_GP, true, idt_ec);
    if ((rc = sys_read(c, c->idtr.base + (uint64_t)vec * gsize, g, gsize, exc)))
        return rc;
    gtype = (unsigned)D_TYPE(g[0]);
    if (D_S(g[0]))
        return set_exc(exc, V3_EXC_GP, true, idt_ec);
    if (lm) {
        if (gtype != 0xe && gtype != 0xf)
            return set_exc(exc, V3_EXC_GP, true, idt_ec);
    } else if (gtype != 0x5 && gtype != 0x6 && gtype != 0x7 && gtype != 0xe && gtype != 0xf) {
        return set_exc(exc, V3_EXC_GP, true, idt_ec);
    }
    if (soft && D_DPL(g[0]) < cpl)
        return set_exc(exc, V3_EXC_GP, true, vec * 8 + 2);
    if (!D_P(g[0]))
        return set_exc(exc, V3_EXC_NP, true, idt_ec);

    if (gtype == 0x5)    /* task gate */
        return v3_cpu_task_switch(c, (uint16_t)(g[0] >> 16), 3 /* call-like, via IDT */, has_ec, ec,
                                  rip, exc);

    csel = (uint16_t)(g[0] >> 16);
    off = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000ull);
    if (lm) {
        off |= g[1] << 32;
        ist = (unsigned)((g[0] >> 32) & 7);
    }
    gate_sz = lm ? 8 : (gtype & 8) ? 4 : 2;
    if (!lm && gate_sz == 2)
        off &= 0xffff;

    if ((csel & ~3u) == 0)
        return set_exc(exc, V3_EXC_GP, true, ext);
    if ((rc = v3_cpu_read_descriptor(c, csel, cd, V3_EXC_GP, exc))) {
        if (rc == V3_EFAULT && exc->vector == V3_EXC_GP)
            exc->error_code |= ext;
        return rc;
    }
    dpl = D_DPL(cd[0]);
    if (!D_CODE(cd[0]) || dpl > cpl)
        return set_exc(exc, V3_EXC_GP, true, (csel & 0xfffc) | ext);
    if (lm && (!D_L(cd[0]) || D_DB(cd[0])))
        return set_exc(exc, V3_EXC_GP, true, (csel & 0xfffc) | ext);
    if (!D_P(cd[0]))
        return set_exc(exc, V3_EXC_NP, true, (csel & 0xfffc) | ext);
    if (D_TYPE(cd[0]) & 4)           /* conforming: stays at CPL */
        dpl = cpl;
    if ((c->rflags & V3_FLAG_VM) && dpl != 0)
        return set_exc(exc, V3_EXC_GP, true, (csel & 0xfffc) | ext);

    struct frame f = { .len = 0 };
    struct v3_segment new_ss = c->seg[V3_SS];
    uint64_t new_sp = c->gpr[V3_RSP], la;
    unsigned ssz;
    bool inner = dpl < cpl;
    uint32_t ss_ec = ext;

    if (lm) {
        if (inner || ist) {
            uint16_t dummy;
            if ((rc = tss_stack(c, dpl, ist, &new_sp, &dummy, exc)))
                return rc;
        }
        if (inner) {
            memset(&new_ss, 0, sizeof(new_ss));
            new_ss.selector = (uint16_t)dpl;
            new_ss.attrib = (uint16_t)(dpl << 5) | V3_SEG_S | 0x3;
        }
        new_sp &= ~0xfull;
        ssz = 8;
        fpush(&f, c->seg[V3_SS].selector, 8);
        fpush(&f, c->gpr[V3_RSP], 8);
        fpush(&f, fl | fault_rf(vec, src), 8);
        fpush(&f, c->seg[V3_CS].selector, 8);
        fpush(&f, rip, 8);
        if (has_ec)
            fpush(&f, ec, 8);
    } else {
        if (inner) {
            uint16_t ssel;
            if ((rc = tss_stack(c, dpl, 0, &new_sp, &ssel, exc)))
                return rc;
            if ((rc = load_inner_ss(c, ssel, dpl, ext, &new_ss, exc)))
                return rc;
            ss_ec = (ssel & 0xfffc) | ext;
        }
        ssz = (new_ss.attrib & V3_SEG_DB) ? 4 : 2;
        if (ssz == 2)
            new_sp &= 0xffff;
        else
            new_sp &= 0xffffffffull;
        if (inner) {
            if (c->rflags & V3_FLAG_VM) {
                fpush(&f, c->seg[V3_GS].selector, gate_sz);
                fpush(&f, c->seg[V3_FS].selector, gate_sz);
                fpush(&f, c->seg[V3_DS].selector, gate_sz);
                fpush(&f, c->seg[V3_ES].selector, gate_sz);
            }
            fpush(&f, c->seg[V3_SS].selector, gate_sz);
            fpush(&f, c->gpr[V3_RSP], gate_sz);
        }
        fpush(&f, fl | fault_rf(vec, src), gate_sz);
        fpush(&f, c->seg[V3_CS].selector, gate_sz);
        fpush(&f, rip, gate_sz);
        if (has_ec)
            fpush(&f, ec, gate_sz);
        if (!inner)
            ss_ec = 0;
    }
    if ((rc = stack_room(&new_ss, new_sp, f.len, ssz, ss_ec, &la, exc)))
        return rc;
    if (!lm && !inner && gate_sz == 2 && off > c->seg[V3_CS].limit)
        return set_exc(exc, V3_EXC_GP, true, 0);
    {
        int64_t r = v3_write_gva_memory(c, lm ? la : (uint32_t)la, f.len, ftop(&f),
                                        V3_ACCESS_WRITE | (dpl < 3 ? V3_ACCESS_SUPERVISOR : 0), exc);
        if (r < 0)
            return (int)r;
    }
    if ((rc = set_accessed(c, csel, &cd[0], exc)))
        return rc;

    /* commit */
    if (inner && (c->rflags & V3_FLAG_VM)) {
        load_null(c, V3_GS, 0);
        load_null(c, V3_FS, 0);
        load_null(c, V3_DS, 0);
        load_null(c, V3_ES, 0);
    }
    c->seg[V3_SS] = new_ss;
    new_sp -= f.len;
    if (ssz == 2)
        c->gpr[V3_RSP] = (c->gpr[V3_RSP] & ~0xffffull) | (new_sp & 0xffff);
    else if (ssz == 4)
        c->gpr[V3_RSP] = (uint32_t)new_sp;
    else
        c->gpr[V3_RSP] = new_sp;
    v3_cpu_desc_to_seg(cd[0], (uint16_t)((csel & 0xfffc) | dpl), &c->seg[V3_CS]);
    if (lm)
        c->seg[V3_CS].base = 0;
    fl &= ~(V3_FLAG_TF | V3_FLAG_NT | V3_FLAG_RF | V3_FLAG_VM);
    if (!(gtype & 1))
        fl &= ~V3_FLAG_IF;
    v3_core_set_rflags(c, fl);
    c->rip = off;
    v3_core_update_mode(c);
    c->cpl = (uint8_t)dpl;
    return 0;
}

static int deliver_once(struct v3_core *c, unsigned vec, enum v3_event_src src, bool has_ec,
                        uint32_t ec, uint64_t rip, struct v3_exception *exc)
{
    if (!(c->cr0 & V3_CR0_PE))
        return deliver_real(c, vec, rip, exc);
    return deliver_prot(c, vec, src, has_ec, ec, rip, exc);
}

static bool contributory(unsigned v)
{
    return v == V3_EXC_DE || (v >= V3_EXC_TS && v <= V3_EXC_GP);
}

int v3_cpu_deliver(struct v3_core *c, unsigned vec, enum v3_event_src src, bool has_ec, uint32_t ec,
                   uint64_t cr2, uint64_t rip)
{
    struct v3_exception exc;

    if (!(c->cr0 & V3_CR0_PE))
        has_ec = false;
    c->halted = 0;
    for (int depth = 0; depth < 4; depth++) {
        int rc;
        if (src == V3_SRC_HW_EXC && vec == V3_EXC_PF)
            c->cr2 = cr2;
        V3_DEBUG("cpu%u: deliver vector %u (source %d, error code %#x) at %s rip %#llx", c->id, vec,
                 (int)src, has_ec ? ec : 0, v3_cpu_mode_str(c->mode), (unsigned long long)c->rip);
        rc = deliver_once(c, vec, src, has_ec, ec, rip, &exc);
        if (rc == 0) {
            if (src == V3_SRC_NMI)
                c->nmi_blocked = 1;
            return 0;
        }
        if (rc != V3_EFAULT)
            return rc;
        /* a fault while delivering: escalate */
        if (src == V3_SRC_HW_EXC && vec == V3_EXC_DF) {
            V3_DEBUG("cpu%u: triple fault (#%u while delivering #DF)", c->id, exc.vector);
            return V3_CPU_SHUTDOWN;
        }
        bool first_hw = src == V3_SRC_HW_EXC;
        if (first_hw && ((contributory(vec) && contributory(exc.vector)) ||
                         (vec == V3_EXC_PF && (exc.vector == V3_EXC_PF || contributory(exc.vector))))) {
            vec = V3_EXC_DF;
            has_ec = true;
            ec = 0;
        } else {
            vec = exc.vector;
            has_ec = exc.has_error_code;
            ec = exc.error_code;
            cr2 = exc.cr2;
        }
        src = V3_SRC_HW_EXC;
        rip = c->rip;
        if (!(c->cr0 & V3_CR0_PE))
            has_ec = false;
    }
    return V3_CPU_SHUTDOWN;
}

int v3_cpu_deliver_event(struct v3_core *c, const struct v3_event *ev)
{
    enum v3_event_src src = ev->type == V3_EVENT_NMI ? V3_SRC_NMI
                          : ev->type == V3_EVENT_INTERRUPT ? V3_SRC_EXT_INT : V3_SRC_HW_EXC;
    unsigned vec = ev->type == V3_EVENT_NMI ? V3_EXC_NMI : ev->vector;
    bool has_ec = ev->type == V3_EVENT_EXCEPTION && ev->has_error_code;

    return v3_cpu_deliver(c, vec, src, has_ec, ev->error_code, ev->cr2, c->rip);
}

/* ------------------------------------------------------------ task switch (via task gate / IDT) */

int v3_cpu_task_switch(struct v3_core *c, uint16_t sel, int reason, bool has_ec, uint32_t ec,
                       uint64_t next_rip, struct v3_exception *exc)
{
    /* reason: 0 JMP, 1 CALL, 2 IRET, 3 interrupt/exception through a task gate */
    uint64_t d[2], nd[2];
    uint32_t ext_ec = sel & 0xfffc;
    int rc;

    if (sel & 4)
        return set_exc(exc, V3_EXC_GP, true, ext_ec);
    if ((rc = v3_cpu_read_descriptor(c, sel, nd, V3_EXC_GP, exc)))
        return rc;
    unsigned t = (unsigned)D_TYPE(nd[0]);
    if (D_S(nd[0]) || (t != 0x9 && t != 0xb) || (reason != 2 && t == 0xb))
        return set_exc(exc, V3_EXC_GP, true, ext_ec);
    if (!D_P(nd[0]))
        return set_exc(exc, V3_EXC_NP, true, ext_ec);
    struct v3_segment ntss;
    v3_cpu_desc_to_seg(nd[0], sel, &ntss);
    if (ntss.limit < 0x67)
        return set_exc(exc, V3_EXC_TS, true, ext_ec);

    /* save the current state into the old TSS (32-bit TSS only) */
    struct v3_segment *otr = &c->seg[V3_TR];
    uint32_t save[18];
    uint64_t fl = v3_core_get_rflags(c);
    if (reason == 0 || reason == 2)
        fl &= ~V3_FLAG_NT;
    save[0] = (uint32_t)next_rip;
    save[1] = (uint32_t)fl;
    for (int i = 0; i < 8; i++)
        save[2 + i] = (uint32_t)c->gpr[i];
    for (int s = 0; s < 6; s++)
        save[10 + s] = c->seg[s].selector;
    if ((rc = sys_write(c, otr->base + 0x20, save, 4 * 10, exc)))
        return rc;
    for (int s = 0; s < 6; s++) {
        uint16_t v = c->seg[s].selector;
        if ((rc = sys_write(c, otr->base + 0x48 + s * 4, &v, 2, exc)))
            return rc;
    }
    /* old TSS busy bit */
    if (reason == 0 || reason == 2) {
        uint64_t a;
        uint16_t osel = otr->selector;
        if ((rc = v3_cpu_read_descriptor(c, osel, d, V3_EXC_GP, exc)) ||
            (rc = desc_addr(c, osel, 8, V3_EXC_GP, &a, exc)))
            return rc;
        d[0] &= ~(2ull << 40);
        if ((rc = sys_write(c, a, &d[0], 8, exc)))
            return rc;
    }
    /* load the new task */
    uint32_t st[18];
    uint16_t ldt;
    uint32_t cr3;
    if ((rc = sys_read(c, ntss.base + 0x1c, &cr3, 4, exc)) ||
        (rc = sys_read(c, ntss.base + 0x20, st, 4 * 10, exc)) ||
        (rc = sys_read(c, ntss.base + 0x60, &ldt, 2, exc)))
        return rc;
    uint16_t nsel[6];
    for (int s = 0; s < 6; s++)
        if ((rc = sys_read(c, ntss.base + 0x48 + s * 4, &nsel[s], 2, exc)))
            return rc;
    if (reason == 1 || reason == 3) {
        uint16_t back = otr->selector;
        if ((rc = sys_write(c, ntss.base, &back, 2, exc)))
            return rc;
    }
    if (reason != 2) {
        uint64_t a;
        if ((rc = desc_addr(c, sel, 8, V3_EXC_GP, &a, exc)))
            return rc;
        nd[0] |= 2ull << 40;
        if ((rc = sys_write(c, a, &nd[0], 8, exc)))
            return rc;
    }
    ntss.attrib |= 0x2;
    c->seg[V3_TR] = ntss;
    c->cr0 |= V3_CR0_TS;
    if (c->cr0 & V3_CR0_PG) {
        c->cr3 = cr3;
        v3_paging_cr3_written(c);
    }
    c->rip = st[0];
    fl = st[1] | 2;
    if (reason == 1 || reason == 3)
        fl |= V3_FLAG_NT;
    v3_core_set_rflags(c, fl);
    for (int i = 0; i < 8; i++)
        c->gpr[i] = st[2 + i];
    /* LDT, then segments; CPL comes from the new CS RPL */
    if ((ldt & ~3u) == 0) {
        load_null(c, V3_LDTR, ldt);
    } else {
        if ((rc = v3_cpu_read_descriptor(c, ldt, d, V3_EXC_TS, exc)))
            return rc;
        if (D_S(d[0]) || D_TYPE(d[0]) != 2)
            return set_exc(exc, V3_EXC_TS, true, ldt & 0xfffc);
        v3_cpu_desc_to_seg(d[0], ldt, &c->seg[V3_LDTR]);
    }
    if (fl & V3_FLAG_VM) {
        for (int s = 0; s < 6; s++) {
            c->seg[s].selector = nsel[s];
            c->seg[s].base = (uint64_t)nsel[s] << 4;
            c->seg[s].limit = 0xffff;
            c->seg[s].attrib = V3_SEG_P | V3_SEG_S | (3 << 5) | (s == V3_CS ? 0xb : 0x3);
        }
        v3_core_update_mode(c);
    } else {
        if ((rc = v3_cpu_read_descriptor(c, nsel[V3_CS], d, V3_EXC_TS, exc)))
            return rc;
        if (!D_CODE(d[0]))
            return set_exc(exc, V3_EXC_TS, true, nsel[V3_CS] & 0xfffc);
        v3_cpu_desc_to_seg(d[0], nsel[V3_CS], &c->seg[V3_CS]);
        c->cpl = nsel[V3_CS] & 3;
        for (int s = 0; s < 6; s++) {
            if (s == V3_CS)
                continue;
            if ((rc = v3_load_segment(c, s, nsel[s], exc))) {
                if (rc == V3_EFAULT && exc->vector == V3_EXC_GP)
                    exc->vector = V3_EXC_TS;
                return rc;
            }
        }
        v3_core_update_mode(c);
    }
    if (has_ec) {
        uint64_t la;
        unsigned ssz = (c->seg[V3_SS].attrib & V3_SEG_DB) ? 4 : 2;
        struct frame f = { .len = 0 };
        fpush(&f, ec, ssz);
        if ((rc = stack_room(&c->seg[V3_SS], c->gpr[V3_RSP], ssz, ssz, 0, &la, exc)) ||
            (rc = sys_write(c, la, ftop(&f), ssz, exc)))
            return rc;
        c->gpr[V3_RSP] = ssz == 4 ? (uint32_t)(c->gpr[V3_RSP] - 4)
                                  : ((c->gpr[V3_RSP] & ~0xffffull) | ((c->gpr[V3_RSP] - 2) & 0xffff));
    }
    return 0;
}

/* ------------------------------------------------------------ control registers */

#define CR0_FIXED_MASK (V3_CR0_PE | V3_CR0_MP | V3_CR0_EM | V3_CR0_TS | V3_CR0_ET | V3_CR0_NE | \
                        V3_CR0_WP | V3_CR0_AM | V3_CR0_NW | V3_CR0_CD | V3_CR0_PG)
#define CR4_VALID (V3_CR4_VME | V3_CR4_PVI | V3_CR4_TSD | V3_CR4_DE | V3_CR4_PSE | V3_CR4_PAE | \
                   V3_CR4_MCE | V3_CR4_PGE | V3_CR4_PCE | V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT | \
                   V3_CR4_UMIP | V3_CR4_FSGSBASE | V3_CR4_OSXSAVE | V3_CR4_SMEP | V3_CR4_SMAP)

/*
 * CR4 bits a write may set: those of CR4_VALID whose feature the vCPU's CPUID
 * model reports (a guest cannot turn on what CPUID says is absent, e.g.
 * VME, which the model does not offer).  PCE has no CPUID bit.
 */
static uint64_t cr4_allowed(struct v3_core *c)
{
    static const struct { uint64_t bit; uint8_t leaf, reg, pos; } need[] = {
        { V3_CR4_VME, 1, 3, 1 },        { V3_CR4_PVI, 1, 3, 1 },
        { V3_CR4_TSD, 1, 3, 4 },        { V3_CR4_DE, 1, 3, 2 },
        { V3_CR4_PSE, 1, 3, 3 },        { V3_CR4_PAE, 1, 3, 6 },
        { V3_CR4_MCE, 1, 3, 7 },        { V3_CR4_PGE, 1, 3, 13 },
        { V3_CR4_OSFXSR, 1, 3, 24 },    { V3_CR4_OSXMMEXCPT, 1, 3, 25 },
        { V3_CR4_OSXSAVE, 1, 2, 26 },   { V3_CR4_FSGSBASE, 7, 1, 0 },
        { V3_CR4_SMEP, 7, 1, 7 },       { V3_CR4_SMAP, 7, 1, 20 },
        { V3_CR4_UMIP, 7, 2, 2 },
    };
    uint32_t l1[4], l7[4];
    uint64_t ok = CR4_VALID;
    v3_cpu_cpuid(c, 1, 0, l1);
    v3_cpu_cpuid(c, 7, 0, l7);
    for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const uint32_t *r = need[i].leaf == 1 ? l1 : l7;
        if (!((r[need[i].reg] >> need[i].pos) & 1))
            ok &= ~need[i].bit;
    }
    return ok;
}

int v3_cpu_write_cr(struct v3_core *c, unsigned cr, uint64_t val, struct v3_exception *exc)
{
    uint64_t old_cr0 = c->cr0, old_cr4 = c->cr4, old_efer = c->efer;

    switch (cr) {
    case 0:
        if (!long_mode(c))
            val = (uint32_t)val;
        if (val >> 32)
            return set_exc(exc, V3_EXC_GP, true, 0);
        val = (val & CR0_FIXED_MASK) | V3_CR0_ET;
        if ((val & V3_CR0_PG) && !(val & V3_CR0_PE))
            return set_exc(exc, V3_EXC_GP, true, 0);
        if ((val & V3_CR0_NW) && !(val & V3_CR0_CD))
            return set_exc(exc, V3_EXC_GP, true, 0);
        if ((val & V3_CR0_PG) && !(old_cr0 & V3_CR0_PG) && (c->efer & V3_EFER_LME)) {
            if (!(c->cr4 & V3_CR4_PAE))
                return set_exc(exc, V3_EXC_GP, true, 0);
            if (c->seg[V3_CS].attrib & V3_SEG_L)
                return set_exc(exc, V3_EXC_GP, true, 0);
        }
        if (long_mode(c) && !(val & V3_CR0_PG) && c->mode == V3_MODE_LONG64)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->cr0 = val;
        v3_core_update_mode(c);
        if ((old_cr0 ^ val) & (V3_CR0_PG | V3_CR0_WP | V3_CR0_PE))
            v3_paging_controls_changed(c, old_cr0, old_cr4, old_efer);
        return 0;
    case 2:
        c->cr2 = long_mode(c) ? val : (uint32_t)val;
        return 0;
    case 3:
        if (!long_mode(c))
            val = (uint32_t)val;
        else if (val >> 52)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->cr3 = val;
        v3_paging_cr3_written(c);
        return 0;
    case 4:
        if (val & ~cr4_allowed(c))
            return set_exc(exc, V3_EXC_GP, true, 0);
        if (long_mode(c) && !(val & V3_CR4_PAE))
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->cr4 = val;
        if ((old_cr4 ^ val) & (V3_CR4_PSE | V3_CR4_PAE | V3_CR4_PGE | V3_CR4_SMEP | V3_CR4_SMAP |
                               V3_CR4_LA57 | V3_CR4_PCIDE | V3_CR4_PKE))
            v3_paging_controls_changed(c, old_cr0, old_cr4, old_efer);
        return 0;
    case 8:
        if (c->mode != V3_MODE_LONG64)
            return set_exc(exc, V3_EXC_UD, false, 0);
        if (val & ~0xfull)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->cr8 = val;
        return 0;
    default:
        return set_exc(exc, V3_EXC_UD, false, 0);
    }
}

int v3_cpu_read_cr(struct v3_core *c, unsigned cr, uint64_t *val, struct v3_exception *exc)
{
    switch (cr) {
    case 0: *val = c->cr0; return 0;
    case 2: *val = c->cr2; return 0;
    case 3: *val = c->cr3; return 0;
    case 4: *val = c->cr4; return 0;
    case 8:
        if (c->mode != V3_MODE_LONG64)
            return set_exc(exc, V3_EXC_UD, false, 0);
        *val = c->cr8;
        return 0;
    default:
        return set_exc(exc, V3_EXC_UD, false, 0);
    }
}

#define DR7_GD (1ull << 13)
#define DR6_BD (1ull << 13)

/* General detect: with DR7.GD set, a MOV to or from a debug register raises
 * #DB (a fault) with DR6.BD set, and GD is cleared so the handler can use
 * the debug registers. */
static int general_detect(struct v3_core *c, struct v3_exception *exc)
{
    if (!(c->dr[7] & DR7_GD))
        return 0;
    c->dr[6] |= DR6_BD;
    c->dr[7] &= ~DR7_GD;
    return set_exc(exc, V3_EXC_DB, false, 0);
}

/* The checks MOV to and from DRn share: DR4/DR5 alias DR6/DR7 unless CR4.DE
 * (then #UD), no register beyond DR7 (#UD), and DR7.GD general detect (#DB).
 * Sets *dr to the register accessed; 0, or V3_EFAULT with *exc filled. */
static int dr_access(struct v3_core *c, unsigned *dr, struct v3_exception *exc)
{
    if (*dr == 4 || *dr == 5) {
        if (c->cr4 & V3_CR4_DE)
            return set_exc(exc, V3_EXC_UD, false, 0);
        *dr += 2;
    }
    if (*dr > 7)
        return set_exc(exc, V3_EXC_UD, false, 0);
    if (general_detect(c, exc))
        return V3_EFAULT;
    return 0;
}

int v3_cpu_write_dr(struct v3_core *c, unsigned dr, uint64_t val, struct v3_exception *exc)
{
    if (dr_access(c, &dr, exc))
        return V3_EFAULT;
    if (c->mode != V3_MODE_LONG64)
        val = (uint32_t)val;
    if (dr < 4) {
        c->dr[dr] = val;
    } else if (dr == 6) {
        if (val >> 32)
            return set_exc(exc, V3_EXC_GP, true, 0);
        /* B0-B3, BD, BS, BT writable; bit 16 (RTM) reads 1 as the model reports no RTM */
        c->dr[6] = (val & 0x0000e00f) | 0xffff0ff0;
    } else {
        if (val >> 32)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->dr[7] = (val & 0xffff2fff) | 0x400;
    }
    return 0;
}

int v3_cpu_read_dr(struct v3_core *c, unsigned dr, uint64_t *val, struct v3_exception *exc)
{
    if (dr_access(c, &dr, exc))
        return V3_EFAULT;
    *val = c->dr[dr];
    return 0;
}

/* ------------------------------------------------------------ MSRs */

/*
 * The MSRs the software CPU answers itself (anything else exits to the VMM
 * as V3_EXIT_MSR_READ/WRITE; the VM layer gives #GP(0) unless the embedder
 * hooked it).  "Inert" = stored and read back, with no effect.
 *
 *   all vendors
 *     TSC (10h), APIC_BASE (1Bh), SYSENTER_CS/ESP/EIP (174h-176h), MTRRCAP
 *     (FEh, RO), MTRRs (200h-20Fh, 250h-26Fh fixed, 2FFh), PAT (277h), EFER,
 *     STAR/LSTAR/CSTAR/SFMASK, FS_BASE/GS_BASE/KERNEL_GS_BASE (canonical
 *     or #GP), TSC_AUX (RDTSCP is reported);
 *     PATCH_LEVEL / BIOS_SIGN_ID (8Bh): microcode revision 1 in EDX (AMD:
 *     read-only; Intel: writes accepted and ignored, as the revision
 *     query does);
 *     MCG_CAP (179h, RO) reads 0: no banks, no MCG_CTL; MCG_STATUS (17Ah)
 *     reads 0, only 0 may be written.  CPUID reports neither MCE nor MCA;
 *     kernels that read these anyway see a machine-check architecture
 *     without banks.  MCi_* bank MSRs are absent (#GP).
 *   AuthenticAMD only
 *     PERF_CTL0-3 (C0010000h-3h) inert; PERF_CTR0-3 (C0010004h-7h) inert,
 *     48 bits, read by RDPMC ECX = 0-3 (nothing counts);
 *     HWCR (C0010015h) inert, TscFreqSel (bit 24) read-only 1, undefined
 *     bits #GP;  SYSCFG (C0010010h) inert bits 18-22, MemEncryptionModEn
 *     (23) read-only 0 (no SME);  NB_CFG (C001001Fh) inert;  DE_CFG
 *     (C0011029h) inert, bit 1 (LFENCE serialising) set at reset.
 *   GenuineIntel only
 *     IA32_FEATURE_CONTROL (3Ah) reads 1 (locked, VMX and SMX off), writes
 *     #GP;  PLATFORM_INFO (CEh, RO) max non-turbo ratio 20 (2.0 GHz at 100
 *     MHz);  IA32_MISC_ENABLE (1A0h): fast strings (0), TCC (3), EIST (16)
 *     and bit 23 inert; BTS/PEBS unavailable (11, 12) read-only 1; any other
 *     bit #GP (so LIMIT_CPUID_MAXVAL and XD_DISABLE stay 0).
 *   Absent because CPUID does not report them (#GP through the VMM):
 *     SPEC_CTRL/PRED_CMD (48h/49h), TSC_ADJUST (3Bh), TSC_DEADLINE, the
 *     x2APIC range, APERF/MPERF, Intel architectural perfmon, AMD SVM
 *     (VM_CR, HSAVE_PA), OSVW, and everything not listed above.
 */

#define MSR_PATCH_LEVEL    0x0000008bu
#define MSR_FEATURE_CONTROL 0x0000003au
#define MSR_PLATFORM_INFO  0x000000ceu
#define MSR_MCG_CAP        0x00000179u
#define MSR_MCG_STATUS     0x0000017au
#define MSR_MISC_ENABLE    0x000001a0u
#define MSR_AMD_PERF_CTL0  0xc0010000u
#define MSR_AMD_PERF_CTR0  0xc0010004u
#define MSR_AMD_SYSCFG     0xc0010010u
#define MSR_AMD_HWCR       0xc0010015u
#define MSR_AMD_NB_CFG     0xc001001fu
#define MSR_AMD_DE_CFG     0xc0011029u

#define MISC_ENABLE_RW     ((1ull << 0) | (1ull << 3) | (1ull << 16) | (1ull << 23))
#define MISC_ENABLE_RO     ((1ull << 11) | (1ull << 12))
#define HWCR_RW            (0x1ull | (1ull << 3) | (1ull << 4) | (1ull << 8) | (1ull << 9) | \
                            (1ull << 10) | (1ull << 13) | (1ull << 14) | (1ull << 17) | (1ull << 18) | \
                            (1ull << 21) | (1ull << 25) | (1ull << 26) | (1ull << 27) | (1ull << 30))
#define HWCR_RO            (1ull << 24)
#define SYSCFG_RW          (0x1full << 18)

static bool vendor_intel(struct v3_core *c)
{
    uint32_t id[4];
    v3_cpu_cpuid(c, 0, 0, id);
    return id[1] == 0x756e6547u && id[3] == 0x49656e69u && id[2] == 0x6c65746eu;   /* GenuineIntel */
}

/* The inert MSRs: 0 with *val, V3_MSR_UNKNOWN, or V3_EFAULT (#GP(0)). */
static int inert_msr(struct v3_core *c, uint32_t idx, bool write, uint64_t *val, struct v3_exception *exc)
{
    bool intel = vendor_intel(c);
    uint64_t v = *val;

    switch (idx) {
    case MSR_PATCH_LEVEL:
        if (write)
            return intel ? 0 : set_exc(exc, V3_EXC_GP, true, 0);
        *val = 1ull << 32;
        return 0;
    case MSR_MCG_CAP:
        if (write)
            return set_exc(exc, V3_EXC_GP, true, 0);
        *val = 0;
        return 0;
    case MSR_MCG_STATUS:
        if (write)
            return v ? set_exc(exc, V3_EXC_GP, true, 0) : 0;
        *val = 0;
        return 0;
    default:
        break;
    }
    if (intel) {
        switch (idx) {
        case MSR_FEATURE_CONTROL:
            if (write)
                return set_exc(exc, V3_EXC_GP, true, 0);
            *val = 1;
            return 0;
        case MSR_PLATFORM_INFO:
            if (write)
                return set_exc(exc, V3_EXC_GP, true, 0);
            *val = 20ull << 8;
            return 0;
        case MSR_MISC_ENABLE:
            if (!write) {
                *val = c->msr_inert.misc_enable;
                return 0;
            }
            if (v & ~(MISC_ENABLE_RW | MISC_ENABLE_RO))
                return set_exc(exc, V3_EXC_GP, true, 0);
            c->msr_inert.misc_enable = (v & MISC_ENABLE_RW) | MISC_ENABLE_RO;
            return 0;
        default:
            return V3_MSR_UNKNOWN;
        }
    }
    if (idx >= MSR_AMD_PERF_CTL0 && idx < MSR_AMD_PERF_CTL0 + 4) {
        uint64_t *r = &c->msr_inert.perf_ctl[idx - MSR_AMD_PERF_CTL0];
        if (write)
            *r = v;
        else
            *val = *r;
        return 0;
    }
    if (idx >= MSR_AMD_PERF_CTR0 && idx < MSR_AMD_PERF_CTR0 + 4) {
        uint64_t *r = &c->msr_inert.perf_ctr[idx - MSR_AMD_PERF_CTR0];
        if (write)
            *r = v & ((1ull << 48) - 1);
        else
            *val = *r;
        return 0;
    }
    switch (idx) {
    case MSR_AMD_HWCR:
        if (!write) {
            *val = c->msr_inert.hwcr;
            return 0;
        }
        if (v & ~(HWCR_RW | HWCR_RO))
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->msr_inert.hwcr = (v & HWCR_RW) | HWCR_RO;
        return 0;
    case MSR_AMD_SYSCFG:
        if (!write) {
            *val = c->msr_inert.syscfg;
            return 0;
        }
        if (v & ~SYSCFG_RW)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->msr_inert.syscfg = v;
        return 0;
    case MSR_AMD_NB_CFG:
        if (write)
            c->msr_inert.nb_cfg = v;
        else
            *val = c->msr_inert.nb_cfg;
        return 0;
    case MSR_AMD_DE_CFG:
        if (write)
            c->msr_inert.de_cfg = v;
        else
            *val = c->msr_inert.de_cfg;
        return 0;
    default:
        return V3_MSR_UNKNOWN;
    }
}

static int mtrr_slot(uint32_t idx)
{
    static const uint32_t fixed[11] = { 0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b,
                                        0x26c, 0x26d, 0x26e, 0x26f };
    if (idx == V3_MSR_MTRR_DEF_TYPE)
        return 0;
    for (int i = 0; i < 11; i++)
        if (idx == fixed[i])
            return 1 + i;
    if (idx >= 0x200 && idx < 0x210)
        return 12 + (int)(idx - 0x200);
    return -1;
}

static uint64_t *mtrr_ref(struct v3_core *c, int slot)
{
    return &c->mtrr[slot];
}

uint64_t v3_cpu_read_tsc(const struct v3_core *c)
{
    return v3_core_tsc_base(c) + c->tsc_offset;
}

int v3_cpu_rdmsr(struct v3_core *c, uint32_t idx, uint64_t *val, struct v3_exception *exc)
{
    int slot;

    if (c->cpl != 0 && (c->cr0 & V3_CR0_PE))
        return set_exc(exc, V3_EXC_GP, true, 0);
    switch (idx) {
    case V3_MSR_TSC:            *val = v3_cpu_read_tsc(c); return 0;
    case V3_MSR_APIC_BASE:      *val = c->apic_base; return 0;
    case V3_MSR_SYSENTER_CS:    *val = c->sysenter_cs; return 0;
    case V3_MSR_SYSENTER_ESP:   *val = c->sysenter_esp; return 0;
    case V3_MSR_SYSENTER_EIP:   *val = c->sysenter_eip; return 0;
    case V3_MSR_MTRRCAP:        *val = 0x508; return 0;    /* 8 variable, fixed, WC */
    case V3_MSR_PAT:            *val = c->pat; return 0;
    case V3_MSR_EFER:           *val = c->efer; return 0;
    case V3_MSR_STAR:           *val = c->star; return 0;
    case V3_MSR_LSTAR:          *val = c->lstar; return 0;
    case V3_MSR_CSTAR:          *val = c->cstar; return 0;
    case V3_MSR_SFMASK:         *val = c->sfmask; return 0;
    case V3_MSR_FS_BASE:        *val = c->seg[V3_FS].base; return 0;
    case V3_MSR_GS_BASE:        *val = c->seg[V3_GS].base; return 0;
    case V3_MSR_KERNEL_GS_BASE: *val = c->kernel_gs_base; return 0;
    case V3_MSR_TSC_AUX:        *val = c->tsc_aux; return 0;
    default:
        break;
    }
    if ((slot = mtrr_slot(idx)) >= 0) {
        *val = *mtrr_ref(c, slot);
        return 0;
    }
    *val = 0;
    return inert_msr(c, idx, false, val, exc);
}

int v3_cpu_wrmsr(struct v3_core *c, uint32_t idx, uint64_t val, struct v3_exception *exc)
{
    int slot;

    if (c->cpl != 0 && (c->cr0 & V3_CR0_PE))
        return set_exc(exc, V3_EXC_GP, true, 0);
    switch (idx) {
    case V3_MSR_TSC:
        c->tsc_offset = val - v3_core_tsc_base(c);
        return 0;
    case V3_MSR_APIC_BASE:
        if (val & ~(0x000ffffffffff000ull | 0xd00ull))
            return set_exc(exc, V3_EXC_GP, true, 0);
        /* the VMM completes it: a local APIC device must see enable, x2APIC and
         * base changes (v3_handle_msr_exit() stores core->apic_base without one) */
        return V3_MSR_UNKNOWN;
    case V3_MSR_SYSENTER_CS:    c->sysenter_cs = val & 0xffff; return 0;
    case V3_MSR_SYSENTER_ESP:
        if (!canonical(val))
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->sysenter_esp = val;
        return 0;
    case V3_MSR_SYSENTER_EIP:
        if (!canonical(val))
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->sysenter_eip = val;
        return 0;
    case V3_MSR_PAT:
        for (int i = 0; i < 8; i++) {
            unsigned t = (unsigned)(val >> (i * 8)) & 0xff;
            if (t == 2 || t == 3 || t > 7)
                return set_exc(exc, V3_EXC_GP, true, 0);
        }
        c->pat = val;
        return 0;
    case V3_MSR_EFER: {
        uint64_t old = c->efer;
        /* each bit exists only with its CPUID feature (0x80000001 EDX:
           SYSCALL 11, NX 20, LM 29); a bit the model lacks is reserved */
        uint32_t x1[4];
        uint64_t efer_ok = 0;
        v3_cpu_cpuid(c, 0x80000001u, 0, x1);
        if (x1[3] & (1u << 11))
            efer_ok |= V3_EFER_SCE;
        if (x1[3] & (1u << 20))
            efer_ok |= V3_EFER_NXE;
        if (x1[3] & (1u << 29))
            efer_ok |= V3_EFER_LME | V3_EFER_LMA;
        if (val & ~efer_ok)
            return set_exc(exc, V3_EXC_GP, true, 0);
        if ((c->cr0 & V3_CR0_PG) && ((val ^ old) & V3_EFER_LME))
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->efer = (val & ~V3_EFER_LMA) | (old & V3_EFER_LMA);
        v3_core_update_mode(c);
        if ((old ^ c->efer) & (V3_EFER_NXE | V3_EFER_LMA))
            v3_paging_controls_changed(c, c->cr0, c->cr4, old);
        return 0;
    }
    case V3_MSR_STAR:           c->star = val; return 0;
    case V3_MSR_LSTAR:
    case V3_MSR_CSTAR:
    case V3_MSR_FS_BASE:
    case V3_MSR_GS_BASE:
    case V3_MSR_KERNEL_GS_BASE:
        if (!canonical(val))
            return set_exc(exc, V3_EXC_GP, true, 0);
        if (idx == V3_MSR_LSTAR) c->lstar = val;
        else if (idx == V3_MSR_CSTAR) c->cstar = val;
        else if (idx == V3_MSR_FS_BASE) c->seg[V3_FS].base = val;
        else if (idx == V3_MSR_GS_BASE) c->seg[V3_GS].base = val;
        else c->kernel_gs_base = val;
        return 0;
    case V3_MSR_SFMASK:         c->sfmask = (uint32_t)val; return 0;
    case V3_MSR_TSC_AUX:
        if (val >> 32)
            return set_exc(exc, V3_EXC_GP, true, 0);
        c->tsc_aux = val;
        return 0;
    case V3_MSR_MTRRCAP:
        return set_exc(exc, V3_EXC_GP, true, 0);
    default:
        break;
    }
    if ((slot = mtrr_slot(idx)) >= 0) {
        *mtrr_ref(c, slot) = val;
        return 0;
    }
    return inert_msr(c, idx, true, &val, exc);
}

/* ------------------------------------------------------------ I/O permission */

int v3_cpu_io_allowed(struct v3_core *c, uint16_t port, unsigned size, struct v3_exception *exc)
{
    const struct v3_segment *tr = &c->seg[V3_TR];
    uint16_t base;
    uint16_t bits;
    unsigned iopl = (unsigned)((c->rflags & V3_FLAG_IOPL) >> 12);
    int rc;

    if (!(c->cr0 & V3_CR0_PE))
        return 0;
    if (!(c->rflags & V3_FLAG_VM) && c->cpl <= iopl)
        return 0;
    /* the bitmap: only in a 32/64-bit TSS */
    if ((V3_SEG_TYPE(tr->attrib) & 0x9) != 0x9 || tr->limit < 0x67)
        return set_exc(exc, V3_EXC_GP, true, 0);
    if ((rc = sys_read(c, tr->base + 0x66, &base, 2, exc)))
        return rc;
    if ((uint32_t)base + port / 8 + 1 > tr->limit)
        return set_exc(exc, V3_EXC_GP, true, 0);
    if ((rc = sys_read(c, tr->base + base + port / 8, &bits, 2, exc)))
        return rc;
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        return set_exc(exc, V3_EXC_GP, true, 0);
    return 0;
}

/* ------------------------------------------------------------ debug */

static unsigned bp_len(uint64_t dr7, unsigned i)
{
    static const unsigned lens[4] = { 1, 2, 8, 4 };
    return lens[(dr7 >> (18 + i * 4)) & 3];
}

unsigned v3_cpu_exec_breakpoint(struct v3_core *c, uint64_t la)
{
    uint64_t dr7 = c->dr[7];
    unsigned hits = 0;

    if (c->rflags & V3_FLAG_RF)
        return 0;
    for (unsigned i = 0; i < 4; i++)
        if (((dr7 >> (i * 2)) & 3) && ((dr7 >> (16 + i * 4)) & 3) == 0 && c->dr[i] == la)
            hits |= 1u << i;
    return hits;
}

unsigned v3_cpu_data_breakpoint(struct v3_core *c, uint64_t la, unsigned len, bool write)
{
    uint64_t dr7 = c->dr[7];
    unsigned hits = 0;

    for (unsigned i = 0; i < 4; i++) {
        unsigned rw = (unsigned)(dr7 >> (16 + i * 4)) & 3;
        if (!((dr7 >> (i * 2)) & 3) || rw == 0 || rw == 2)
            continue;
        if (rw == 1 && !write)
            continue;
        unsigned l = bp_len(dr7, i);
        uint64_t b = c->dr[i] & ~(uint64_t)(l - 1);
        if (la < b + l && b < la + len)
            hits |= 1u << i;
    }
    return hits;
}

int v3_cpu_debug_trap(struct v3_core *c, unsigned hits, bool single_step)
{
    c->dr[6] = (c->dr[6] & ~0xfull) | (hits & 0xf) | (single_step ? 0x4000 : 0);
    return v3_cpu_deliver(c, V3_EXC_DB, V3_SRC_HW_EXC, false, 0, 0, c->rip);
}

/* ------------------------------------------------------------ A20 */

void v3_cpu_set_a20(struct v3_core *core, bool enabled)
{
    struct v3_vm *vm = core->vm;
    uint64_t v = enabled ? 0 : (1ull << 20);

    if (!vm) {
        if (core->a20_clear != v) {
            core->a20_clear = v;
            v3_tlb_flush_all(core);
        }
        return;
    }
    for (unsigned i = 0; i < vm->num_cores; i++) {
        if (vm->cores[i].a20_clear != v) {
            vm->cores[i].a20_clear = v;
            v3_tlb_flush_all(&vm->cores[i]);
        }
    }
}
