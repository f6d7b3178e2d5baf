/* SPDX-License-Identifier: MIT */
/* The decode cache of the software CPU: blocks of decoded instructions per guest physical page. */
#include <Zydis/Zydis.h>
#include "internal/host.h"
#include "internal/vm.h"
#include "cpu/cpu.h"

int cpu_op_ud(struct v3_emu_ctx *ctx, const struct v3_insn *in);
int cpu_op_gp0(struct v3_emu_ctx *ctx, const struct v3_insn *in);

#define jc_index cpu_jc_index
static inline unsigned hash_index(uint64_t gpa, unsigned mode)
{
    uint64_t h = (gpa ^ ((uint64_t)mode << 52)) * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> (64 - CPU_HASH_BITS));
}
static inline unsigned page_index(uint64_t page)
{
    return (unsigned)((page * 0x9E3779B97F4A7C15ull) >> (64 - CPU_PAGE_HASH_BITS));
}

static bool vm_smp(const struct v3_cpu *cpu)
{
    return cpu->core->vm && cpu->core->vm->num_cores > 1;
}

int cpu_cache_init(struct v3_cpu *cpu)
{
    uint64_t pages = v3_mem_size(cpu->core->vm) >> 12;
    cpu->codemap_pages = pages;
    cpu->codemap = v3_zalloc((size_t)((pages + 7) / 8) + 1);
    if (!cpu->codemap) {
        V3_ERROR("cpu: out of memory for the code-page bitmap");
        return V3_ENOMEM;
    }
    cpu->storemap = cpu->codemap;
    if (vm_smp(cpu)) {
        struct v3_vm *vm = cpu->core->vm;
        /* several vCPUs: a store checks the VM's shared map (vCPUs are set up one at a time) */
        if (!vm->xmc_shared)
            vm->xmc_shared = v3_zalloc((size_t)((pages + 7) / 8) + 1);
        cpu->xmc_req = v3_zalloc((size_t)((pages + 7) / 8) + 1);
        if (!vm->xmc_shared || !cpu->xmc_req) {
            V3_ERROR("cpu: out of memory for the shared code-page bitmap");
            v3_free(cpu->codemap);
            v3_free(cpu->xmc_req);
            cpu->codemap = cpu->xmc_req = NULL;
            return V3_ENOMEM;
        }
        cpu->storemap = vm->xmc_shared;
    }
    cpu->cur_page = ~0ull;
    return V3_OK;
}

static void free_page_records(struct v3_cpu *cpu)
{
    for (unsigned i = 0; i < (1u << CPU_PAGE_HASH_BITS); i++) {
        struct cpu_page *p = cpu->pages[i], *n;
        for (; p; p = n) {
            struct cpu_block *b = p->blocks, *bn;
            n = p->next;
            for (; b; b = bn) {
                bn = b->pnext;
                v3_free(b);
            }
            v3_free(p);
        }
        cpu->pages[i] = NULL;
    }
}

void cpu_cache_free(struct v3_cpu *cpu)
{
    cpu_cache_reap(cpu);
    free_page_records(cpu);
    v3_free(cpu->codemap);
    v3_free(cpu->xmc_req);
    cpu->codemap = cpu->storemap = cpu->xmc_req = NULL;
}

void cpu_cache_reap(struct v3_cpu *cpu)
{
    struct cpu_block *b = cpu->graveyard, *n;
    for (; b; b = n) {
        n = b->dead_next;
        v3_free(b);
    }
    cpu->graveyard = NULL;
}

/*
 * Cross-modifying code: vCPU @p cpu stored to page @p pg, which another vCPU
 * may have decoded.  Each vCPU whose map has the page gets a request; it
 * drops the page at its next block boundary (cpu_xmc_process()).
 */
static void xmc_post(struct v3_cpu *cpu, uint64_t pg)
{
    struct v3_vm *vm = cpu->core->vm;

    for (unsigned i = 0; i < vm->num_cores; i++) {
        struct v3_core *c = &vm->cores[i];
        struct v3_cpu *o = cpu_of(c);
        if (c == cpu->core || !o || !o->xmc_req)
            continue;
        if (pg < o->codemap_pages) {
            uint8_t bit = (uint8_t)(1u << (pg & 7));
            if (!(__atomic_load_n(&o->codemap[pg >> 3], __ATOMIC_ACQUIRE) & bit))
                continue;
            __atomic_or_fetch(&o->xmc_req[pg >> 3], bit, __ATOMIC_RELEASE);
        } else {
            if (!__atomic_load_n(&o->npages_hi, __ATOMIC_RELAXED))
                continue;
            __atomic_store_n(&o->xmc_all, 1, __ATOMIC_RELEASE);
        }
        __atomic_or_fetch(&o->brk, CPU_BRK_XMC, __ATOMIC_RELEASE);
        cpu->stats.xmc_requests++;
    }
}

void cpu_xmc_process(struct v3_cpu *cpu)
{
    uint64_t bytes = (cpu->codemap_pages + 7) / 8;

    if (!cpu->xmc_req)
        return;
    for (uint64_t i = 0; i < bytes; i++) {
        uint8_t m;
        if (!__atomic_load_n(&cpu->xmc_req[i], __ATOMIC_RELAXED))
            continue;
        m = __atomic_exchange_n(&cpu->xmc_req[i], 0, __ATOMIC_ACQ_REL);
        for (unsigned b = 0; b < 8; b++)
            if (m & (1u << b)) {
                uint64_t pg = i * 8 + b;
                cpu->stats.xmc_invalidations++;
                cpu_cache_invalidate(cpu, pg << 12, (pg + 1) << 12);
            }
    }
    if (__atomic_exchange_n(&cpu->xmc_all, 0, __ATOMIC_ACQ_REL) && cpu->npages_hi) {
        cpu->stats.xmc_invalidations++;
        cpu_cache_invalidate(cpu, cpu->codemap_pages << 12, ~0ull & ~0xfffull);
    }
}

/* Out of line part of cpu_store_check(): the page may hold code. */
__attribute__((noinline)) void cpu_store_hit(struct v3_cpu *cpu, uint64_t gpa)
{
    uint64_t pg = gpa >> 12;
    if (cpu->xmc_req)
        xmc_post(cpu, pg);
    if (pg >= cpu->codemap_pages) {
        if (!cpu->npages_hi || !cpu_page_has_code_slow(cpu, pg))
            return;
    } else if (!((cpu->codemap[pg >> 3] >> (pg & 7)) & 1)) {
        return;
    }
    cpu->stats.smc_invalidations++;
    cpu_cache_invalidate(cpu, pg << 12, (pg + 1) << 12);
}

bool cpu_page_has_code_slow(struct v3_cpu *cpu, uint64_t page)
{
    for (struct cpu_page *p = cpu->pages[page_index(page)]; p; p = p->next)
        if (p->page == page)
            return true;
    return false;
}

struct cpu_block *cpu_block_find(struct v3_cpu *cpu, uint64_t gpa, unsigned mode)
{
    struct cpu_block *b = cpu->jc[jc_index(gpa)];
    if (__builtin_expect(b && b->gpa == gpa && b->mode == mode, 1))
        return b;
    for (b = cpu->hash[hash_index(gpa, mode)]; b; b = b->hnext) {
        if (b->gpa == gpa && b->mode == mode) {
            cpu->jc[jc_index(gpa)] = b;
            return b;
        }
    }
    return NULL;
}

/* Mnemonics after which decoding stops: the next byte is not necessarily
 * reached by falling through, or the instruction changes how the following
 * ones decode or run (mode, shadows, TF). */
static bool ends_block(const struct v3_insn *in)
{
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_JMP:
    case ZYDIS_MNEMONIC_RET:
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
    case ZYDIS_MNEMONIC_HLT:
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2:
    case ZYDIS_MNEMONIC_INT:
    case ZYDIS_MNEMONIC_INT1:
    case ZYDIS_MNEMONIC_INT3:
    case ZYDIS_MNEMONIC_INTO:
    case ZYDIS_MNEMONIC_SYSCALL:
    case ZYDIS_MNEMONIC_SYSRET:
    case ZYDIS_MNEMONIC_SYSENTER:
    case ZYDIS_MNEMONIC_SYSEXIT:
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD:
    case ZYDIS_MNEMONIC_POPFQ:
    case ZYDIS_MNEMONIC_LMSW:
    case ZYDIS_MNEMONIC_WRMSR:
    case ZYDIS_MNEMONIC_RSM:
    case V3_MN_MOV_CR:
    case V3_MN_MOV_DR:
    case V3_MN_MOV_SREG:
        return true;
    case ZYDIS_MNEMONIC_POP:
        return in->nops == 1 && in->op[0].kind == V3_OPK_REG && in->op[0].cls == V3_RC_SREG;
    default:
        return in->handler == cpu_op_ud || in->handler == cpu_op_gp0;
    }
}

static struct cpu_page *page_get(struct v3_cpu *cpu, uint64_t page)
{
    unsigned i = page_index(page);
    struct cpu_page *p;
    for (p = cpu->pages[i]; p; p = p->next)
        if (p->page == page)
            return p;
    p = v3_zalloc(sizeof(*p));
    if (!p)
        return NULL;
    p->page = page;
    p->next = cpu->pages[i];
    cpu->pages[i] = p;
    if (page < cpu->codemap_pages) {
        __atomic_or_fetch(&cpu->codemap[page >> 3], (uint8_t)(1u << (page & 7)), __ATOMIC_RELEASE);
        if (cpu->storemap != cpu->codemap)
            __atomic_or_fetch(&cpu->storemap[page >> 3], (uint8_t)(1u << (page & 7)), __ATOMIC_SEQ_CST);
    } else {
        /* above the maps every store goes to cpu_store_hit(), which looks at npages_hi */
        __atomic_add_fetch(&cpu->npages_hi, 1, __ATOMIC_SEQ_CST);
    }
    return p;
}

/*
 * Decode a block at @p gpa from the @p avail bytes at @p hva (up to the end
 * of the page).  Returns NULL when the first instruction crosses the page
 * end (the caller executes it uncached) or when memory ran out (*err).
 */
struct cpu_block *cpu_block_build(struct v3_cpu *cpu, uint64_t gpa, const uint8_t *hva,
                                  unsigned avail, unsigned mode)
{
    struct v3_insn tmp[CPU_BLOCK_MAX + 1];
    unsigned n = 0, off = 0;
    struct cpu_block *b;
    struct cpu_page *p;

    if (cpu->nblocks >= CPU_MAX_BLOCKS)
        cpu_cache_flush(cpu);

    while (n < CPU_BLOCK_MAX && off < avail) {
        int rc = v3_decode((enum v3_cpu_mode)mode, hva + off, avail - off, &tmp[n]);
        if (rc == V3_DEC_SHORT)
            break;                       /* crosses the page end: not cached */
        if (rc < 0) {
            memset(&tmp[n], 0, sizeof(tmp[n]));
            tmp[n].handler = rc == V3_DEC_LONG ? cpu_op_gp0 : cpu_op_ud;
            tmp[n].thr = cpu_thr_generic;
            tmp[n].len = 1;
            tmp[n].mode = (uint8_t)mode;
            tmp[n].boff = (uint16_t)off;
            tmp[n].idx = (uint8_t)n;
            n++;
            break;
        }
        tmp[n].boff = (uint16_t)off;
        tmp[n].idx = (uint8_t)n;
        off += (unsigned)rc;
        n++;
        cpu_specialize(&tmp[n - 1]);
        if (ends_block(&tmp[n - 1]))
            break;
    }
    if (n == 0)
        return NULL;

    cpu_thr_link(tmp, n);
    /* the sentinel that ends a threaded run (never executed by the stepping loop) */
    memset(&tmp[n], 0, sizeof(tmp[n]));
    tmp[n].handler = cpu_op_ud;
    tmp[n].thr = cpu_thr_end;
    tmp[n].mode = (uint8_t)mode;
    tmp[n].boff = (uint16_t)off;
    tmp[n].idx = (uint8_t)n;

    p = page_get(cpu, gpa >> 12);
    b = p ? v3_malloc(sizeof(*b) + (n + 1) * sizeof(struct v3_insn)) : NULL;
    if (!b) {
        V3_ERROR("cpu: out of memory for a decoded block; flushing the decode cache");
        cpu_cache_flush(cpu);
        return NULL;
    }
    b->gpa = gpa;
    b->mode = (uint8_t)mode;
    b->dead = 0;
    b->n = (uint16_t)n;
    b->bytes = off;
    for (b->npure = 0; b->npure < n && tmp[b->npure].thr != cpu_thr_generic; b->npure++)
        ;
    b->dead_next = NULL;
    memcpy(b->insn, tmp, (n + 1) * sizeof(struct v3_insn));
    b->pnext = p->blocks;
    p->blocks = b;
    {
        unsigned h = hash_index(gpa, mode);
        b->hnext = cpu->hash[h];
        cpu->hash[h] = b;
    }
    cpu->jc[jc_index(gpa)] = b;
    cpu->nblocks++;
    cpu->stats.blocks_decoded++;
    cpu->stats.insns_decoded += n;
    cpu->stats.live_blocks = cpu->nblocks;
    return b;
}

static void kill_block(struct v3_cpu *cpu, struct cpu_block *b)
{
    unsigned h = hash_index(b->gpa, b->mode);
    struct cpu_block **pp;
    for (pp = &cpu->hash[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == b) {
            *pp = b->hnext;
            break;
        }
    }
    if (cpu->jc[jc_index(b->gpa)] == b)
        cpu->jc[jc_index(b->gpa)] = NULL;
    b->dead = 1;
    b->dead_next = cpu->graveyard;
    cpu->graveyard = b;
    cpu->nblocks--;
}

static void kill_page(struct v3_cpu *cpu, struct cpu_page **pp)
{
    struct cpu_page *p = *pp;
    struct cpu_block *b = p->blocks, *n;
    for (; b; b = n) {
        n = b->pnext;
        kill_block(cpu, b);
    }
    if (p->page < cpu->codemap_pages)
        __atomic_and_fetch(&cpu->codemap[p->page >> 3], (uint8_t)~(1u << (p->page & 7)), __ATOMIC_RELEASE);
    else
        __atomic_sub_fetch(&cpu->npages_hi, 1, __ATOMIC_RELAXED);
    if (p->page == cpu->cur_page || cpu->running)
        __atomic_or_fetch(&cpu->brk, CPU_BRK_SMC, __ATOMIC_RELAXED);
    *pp = p->next;
    v3_free(p);
}

void cpu_cache_invalidate(struct v3_cpu *cpu, uint64_t start, uint64_t end)
{
    uint64_t first = start >> 12, last = (end + 0xfff) >> 12;
    if (last - first <= 64) {
        for (uint64_t pg = first; pg < last; pg++) {
            struct cpu_page **pp;
            for (pp = &cpu->pages[page_index(pg)]; *pp; pp = &(*pp)->next) {
                if ((*pp)->page == pg) {
                    kill_page(cpu, pp);
                    break;
                }
            }
        }
    } else {
        for (unsigned i = 0; i < (1u << CPU_PAGE_HASH_BITS); i++) {
            struct cpu_page **pp = &cpu->pages[i];
            while (*pp) {
                if ((*pp)->page >= first && (*pp)->page < last)
                    kill_page(cpu, pp);
                else
                    pp = &(*pp)->next;
            }
        }
    }
    cpu->stats.live_blocks = cpu->nblocks;
}

void cpu_cache_flush(struct v3_cpu *cpu)
{
    for (unsigned i = 0; i < (1u << CPU_PAGE_HASH_BITS); i++)
        while (cpu->pages[i])
            kill_page(cpu, &cpu->pages[i]);
    cpu->stats.cache_flushes++;
    cpu->stats.live_blocks = cpu->nblocks;
}
