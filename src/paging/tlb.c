/* SPDX-License-Identifier: MIT */
/*
 * The per-vCPU software TLB: storage, invalidation, memory-map listener.
 *
 * Valid entries are also listed in a dense index array (live[]), so that
 * every invalidation costs time proportional to the number of cached
 * entries, not to the size of the TLB, and a memory-map change first checks
 * the bounds of the cached guest physical pages before scanning at all.
 */
#include "internal/host.h"
#include "internal/vm.h"
#include "paging/tlb.h"

static inline struct v3_tlb *tlb_of(struct v3_core *core)
{
    return core ? (struct v3_tlb *)core->tlb : NULL;
}

static void tlb_reset_bounds(struct v3_tlb *t)
{
    t->gpa_lo = ~0ull;
    t->gpa_hi = 0;
}

/* Remove entry @p idx from the live list (entry must be valid). */
static inline void tlb_drop(struct v3_tlb *t, unsigned idx)
{
    struct v3_tlb_entry *e = &t->e[idx];
    unsigned pos = e->live, lastpos = --t->nlive, last = t->live[lastpos];

    t->live[pos] = (uint16_t)last;
    t->live_gpa[pos] = t->live_gpa[lastpos];
    t->e[last].live = (uint16_t)pos;
    if (e->shift > 12)
        t->nlarge--;
    e->tag = V3_TLB_NOTAG;
    e->perm = 0;
    t->stats.dropped++;
}

void v3_tlb_flush_all(struct v3_core *core)
{
    struct v3_tlb *t = tlb_of(core);

    if (!t)
        return;
    v3_tlb_lock(t);
    t->stats.flush_all++;
    t->stats.dropped += t->nlive;
    for (unsigned i = 0; i < t->nlive; i++) {
        struct v3_tlb_entry *e = &t->e[t->live[i]];
        e->tag = V3_TLB_NOTAG;
        e->perm = 0;
    }
    t->nlive = 0;
    t->nlarge = 0;
    tlb_reset_bounds(t);
    v3_tlb_unlock(t);
}

void v3_tlb_drop_write(struct v3_core *core)
{
    struct v3_tlb *t = tlb_of(core);

    if (!t)
        return;
    v3_tlb_lock(t);
    for (unsigned i = 0; i < t->nlive; i++)
        t->e[t->live[i]].perm &= (uint16_t)~(V3_ACCESS_WRITE * 0x111u);
    v3_tlb_unlock(t);
}

void v3_tlb_drop_dirty(struct v3_core *core, const struct v3_mem_map *m)
{
    struct v3_tlb *t = tlb_of(core);

    if (!t || !m->dirty)
        return;
    v3_tlb_lock(t);
    t->stats.range_inval++;             /* the hook cache revalidates */
    for (unsigned i = t->nlive; i-- > 0;) {
        uint64_t k = v3_mem_dirty_index(m, t->live_gpa[i] >> 12);
        if (k != ~0ull && ((m->dirty[k >> 6] >> (k & 63)) & 1))
            tlb_drop(t, t->live[i]);
    }
    v3_tlb_unlock(t);
}

void v3_tlb_flush_nonglobal(struct v3_core *core)
{
    struct v3_tlb *t = tlb_of(core);

    if (!t)
        return;
    v3_tlb_lock(t);
    t->stats.flush_nonglobal++;
    for (unsigned i = 0; i < t->nlive;) {
        unsigned idx = t->live[i];
        if (t->e[idx].flags & V3_TLB_GLOBAL)
            i++;
        else
            tlb_drop(t, idx);       /* moves the last live index into slot i */
    }
    if (!t->nlive)
        tlb_reset_bounds(t);
    v3_tlb_unlock(t);
}

static uint64_t la_mask(const struct v3_core *core)
{
    return (core->efer & V3_EFER_LMA) ? ~0ull : 0xffffffffull;
}

void v3_tlb_invlpg(struct v3_core *core, uint64_t la)
{
    struct v3_tlb *t = tlb_of(core);
    struct v3_tlb_entry *e;

    if (!t)
        return;
    v3_tlb_lock(t);
    t->stats.invlpg++;
    la &= la_mask(core);
    e = &t->e[(la >> 12) & (V3_TLB_SIZE - 1)];
    if (e->tag == (la & ~0xfffull))
        tlb_drop(t, (unsigned)(e - t->e));
    /* Other 4 KiB slices of a large page covering la. */
    for (unsigned i = 0; i < t->nlive && t->nlarge;) {
        unsigned idx = t->live[i];
        e = &t->e[idx];
        if (e->shift > 12 && ((e->tag ^ la) >> e->shift) == 0)
            tlb_drop(t, idx);
        else
            i++;
    }
    v3_tlb_unlock(t);
}

/* Drop the entries whose gpa page is in [first, first + span) (TLB lock held). */
static void tlb_drop_range(struct v3_tlb *t, uint64_t first, uint64_t span)
{
    unsigned hits = 0;

    /* a branch-free pass first: most map changes touch nothing cached */
    for (unsigned i = 0; i < t->nlive; i++)
        hits += t->live_gpa[i] - first < span;
    if (!hits)
        return;
    for (unsigned i = 0; i < t->nlive;) {
        if (t->live_gpa[i] - first < span)
            tlb_drop(t, t->live[i]);        /* moves the last live entry into slot i */
        else
            i++;
    }
    if (!t->nlive)
        tlb_reset_bounds(t);
}

void v3_tlb_invalidate_gpa_range(struct v3_core *core, uint64_t start, uint64_t end)
{
    struct v3_tlb *t = tlb_of(core);
    uint64_t first;

    if (!t)
        return;
    v3_tlb_lock(t);
    t->stats.range_inval++;
    /* the memory windows may describe the old map */
    for (unsigned i = 0; i < V3_TLB_NWIN; i++) {
        t->win[i].start = 1;
        t->win[i].size = 0;
    }
    first = start & ~0xfffull;              /* entries hold page addresses */
    if (end > start && t->nlive && t->gpa_hi >= first && t->gpa_lo < end)
        tlb_drop_range(t, first, end - first);
    v3_tlb_unlock(t);
}

void v3_paging_cr3_written(struct v3_core *core)
{
    if (!core)
        return;
    if (core->cr4 & V3_CR4_PGE)
        v3_tlb_flush_nonglobal(core);
    else
        v3_tlb_flush_all(core);
}

void v3_paging_controls_changed(struct v3_core *core, uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer)
{
    const uint64_t cr0_bits = V3_CR0_PG | V3_CR0_WP;
    const uint64_t cr4_bits = V3_CR4_PAE | V3_CR4_PSE | V3_CR4_PGE | V3_CR4_SMEP | V3_CR4_SMAP |
                              V3_CR4_LA57 | V3_CR4_PCIDE;
    const uint64_t efer_bits = V3_EFER_NXE | V3_EFER_LME | V3_EFER_LMA;

    if (!core)
        return;
    if (((old_cr0 ^ core->cr0) & cr0_bits) || ((old_cr4 ^ core->cr4) & cr4_bits) ||
        ((old_efer ^ core->efer) & efer_bits))
        v3_tlb_flush_all(core);
}

/* ------------------------------------------------------------ listener */

static uint64_t bit_range(unsigned hi, unsigned lo)
{
    return (~0ull >> (63 - hi)) & ~((1ull << lo) - 1);
}

static void tlb_set_masks(struct v3_tlb *t, unsigned m)
{
    t->maxphyaddr = m;
    t->addr_mask = bit_range(m - 1, 12);
    t->rsvd_pae = m <= 62 ? bit_range(62, m) : 0;
    t->rsvd_long = m <= 51 ? bit_range(51, m) : 0;
    t->rsvd_long_nxe[0] = t->rsvd_long | (1ull << 63);
    t->rsvd_long_nxe[1] = t->rsvd_long;
}

static void tlb_map_changed(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    (void)vm;
    v3_tlb_invalidate_gpa_range((struct v3_core *)priv, start, end);
}

int v3_paging_init_core(struct v3_core *core)
{
    struct v3_tlb *t;
    int rc;

    if (!core || !core->vm) {
        V3_ERROR("v3_paging_init_core: NULL %s", core ? "VM" : "core");
        return V3_EINVAL;
    }
    if (core->tlb) {
        V3_ERROR("v3_paging_init_core: vCPU %u already has a TLB", core->id);
        return V3_EEXIST;
    }
    t = v3_malloc(sizeof(*t));
    if (!t) {
        V3_ERROR("v3_paging_init_core: out of memory for the TLB of vCPU %u", core->id);
        return V3_ENOMEM;
    }
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < V3_TLB_SIZE; i++)
        t->e[i].tag = V3_TLB_NOTAG;
    tlb_reset_bounds(t);
    for (unsigned i = 0; i < V3_TLB_NWIN; i++)
        t->win[i].start = 1;            /* empty windows */
    tlb_set_masks(t, V3_PAGING_MAXPHYADDR);
    t->core = core;
    rc = v3_mem_add_listener(core->vm, tlb_map_changed, core);
    if (rc < 0) {
        v3_free(t);
        return rc;
    }
    core->tlb = t;
    return V3_OK;
}

void v3_paging_free_core(struct v3_core *core)
{
    if (!core || !core->tlb)
        return;
    if (core->vm)
        v3_mem_remove_listener(core->vm, tlb_map_changed, core);
    v3_free(core->tlb);
    core->tlb = NULL;
}

int v3_paging_set_maxphyaddr(struct v3_core *core, unsigned bits)
{
    struct v3_tlb *t = tlb_of(core);

    if (!t || bits < 36 || bits > 52) {
        V3_ERROR("v3_paging_set_maxphyaddr: %s", t ? "width must be 36..52" : "vCPU has no TLB");
        return V3_EINVAL;
    }
    v3_tlb_lock(t);
    tlb_set_masks(t, bits);
    v3_tlb_unlock(t);
    v3_tlb_flush_all(core);
    return V3_OK;
}

/* ------------------------------------------------------------ probes */

int v3_tlb_probe(struct v3_core *core, uint64_t la, struct v3_tlb_probe *out)
{
    struct v3_tlb *t = tlb_of(core);
    struct v3_tlb_entry *e;

    if (!t)
        return 0;
    e = &t->e[(la >> 12) & (V3_TLB_SIZE - 1)];
    if (e->tag != (la & ~0xfffull))
        return 0;
    if (out) {
        out->gpa = e->gpa;
        out->hva = e->hva;
        out->perm = e->perm;
        out->flags = e->flags;
        out->shift = e->shift;
    }
    return 1;
}

unsigned v3_tlb_count(struct v3_core *core)
{
    struct v3_tlb *t = tlb_of(core);
    return t ? t->nlive : 0;
}

const struct v3_tlb_stats *v3_tlb_get_stats(struct v3_core *core)
{
    struct v3_tlb *t = tlb_of(core);
    return t ? &t->stats : NULL;
}
