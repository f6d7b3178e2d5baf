/* SPDX-License-Identifier: MIT */
/*
 * src/cpu/cpu.h - internal state of the software CPU back end.
 *
 * Decode cache: a block is a run of up to CPU_BLOCK_MAX instructions decoded
 * from one guest physical page for one CPU mode, starting at the address the
 * loop entered it and ending at an unconditional control transfer, an
 * undecodable byte, an instruction that crosses the page end (never cached,
 * executed from a fresh decode each time) or the page end.  Blocks are found
 * through a direct-mapped table indexed by the start address (then a hash
 * table), and listed per code page for invalidation.  A bitmap over guest
 * RAM pages (and the page hash for addresses above RAM) tells the store path
 * whether a page holds decoded code.
 */
#ifndef V3_CPU_INTERNAL_H
#define V3_CPU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/backend.h>
#include <v3/cpu.h>
#include "emu/insn.h"

#define CPU_BLOCK_MAX      64          /* instructions per block */
#define CPU_JC_BITS        12          /* direct-mapped block table */
#define CPU_HASH_BITS      14          /* block hash buckets */
#define CPU_PAGE_HASH_BITS 10          /* code-page hash buckets */
#define CPU_MAX_BLOCKS     65536       /* flush the whole cache beyond this */
#define CPU_REP_CHUNK      4096        /* REP iterations per resumption */

/* cpu->brk bits: reasons to leave the current block at the next boundary */
#define CPU_BRK_STOP    0x01u          /* v3_cpu_request_stop() */
#define CPU_BRK_EVENT   0x02u          /* an event was injected */
#define CPU_BRK_SMC     0x04u          /* the current code page was written */
#define CPU_BRK_KICK    0x08u          /* v3_cpu_kick() */
#define CPU_BRK_EXIT    0x10u          /* the back end's kick(): return V3_EXIT_KICK */
#define CPU_BRK_WINDOW  0x20u          /* intr_window(): return V3_EXIT_INTR_WINDOW once IF allows */
#define CPU_BRK_XMC     0x40u          /* another vCPU wrote pages this one decoded (xmc_req) */

struct cpu_block {
    uint64_t gpa;                      /* guest physical address of the first byte */
    struct cpu_block *hnext;           /* hash chain */
    struct cpu_block *pnext;           /* code-page list */
    struct cpu_block *dead_next;       /* graveyard */
    uint8_t mode;                      /* enum v3_cpu_mode decoded for */
    uint8_t dead;
    uint16_t n;                        /* instructions */
    uint32_t bytes;                    /* bytes covered */
    uint32_t npure;                    /* leading instructions with a specialised threaded form:
                                          none of them changes the mode, TF, DR7, an interrupt
                                          shadow or the TLB (cheaper chaining after them) */
    struct v3_insn insn[];             /* n instructions, then the threaded-run sentinel */
};

struct cpu_page {
    uint64_t page;                     /* gpa >> 12 */
    struct cpu_page *next;
    struct cpu_block *blocks;
};

/* Translations of hooked pages (the software TLB only caches RAM): linear
 * page + access kind -> region, valid while the TLB and the memory map have
 * not changed since the fill (their invalidation counters).
 *
 * Callback counts: a call through an entry adds to its pending count, not
 * to the region's hook_calls (an atomic add per MMIO access costs as much
 * as the rest of it).  Pending counts are added to the region every
 * CPU_HC_FLUSH calls, when the entry is refilled, when the run returns and
 * when the map changes the region (the map listener, which also drops the
 * entry).  So reg, when not NULL, is a live region: only the listener, with
 * the map's write lock held, can see it go, and entries are used only with
 * the vCPU's read lock held. */
#define CPU_HC_SIZE 16
#define CPU_HC_FLUSH 4096
struct cpu_hook_ent {
    uint64_t tag;                      /* la page | kind (bit 0 write, bits 1-3 privilege context) */
    uint64_t gpa;                      /* guest physical page */
    struct v3_mem_region *reg;
    uint64_t tlb_gen, mem_gen;
    uint32_t pending;                  /* callbacks not yet added to reg->hook_calls */
};

struct v3_cpu {
    struct v3_emu_ctx ctx;             /* first: handlers get &ctx */
    struct v3_core *core;
    volatile uint32_t brk;             /* CPU_BRK_* (atomic updates) */
    uint32_t running;

    uint64_t limit;                    /* absolute insn_count limit, 0 = none */
    uint64_t slice_end;                /* absolute insn_count end of the slice, ~0 = none */
    uint64_t stop_at;                  /* min(limit or ~0, slice_end): where the loop stops */
    bool want_window;                  /* intr_window(on) */

    /* pending injected event (one at a time, as hardware queues one) */
    bool ev_pending;
    struct v3_event ev;

    /* decode cache */
    struct cpu_block *jc[1u << CPU_JC_BITS];
    struct cpu_block *hash[1u << CPU_HASH_BITS];
    struct cpu_page *pages[1u << CPU_PAGE_HASH_BITS];
    uint8_t *codemap;                  /* bit per RAM page: holds decoded code */
    uint8_t *storemap;                 /* what a store checks: codemap, or with several vCPUs
                                          the VM's shared map (a page any vCPU decoded) */
    uint8_t *xmc_req;                  /* SMP: pages other vCPUs wrote, to drop (atomic bits) */
    int xmc_all;                       /* SMP: atomic: drop every page at or above codemap_pages */
    uint64_t codemap_pages;            /* pages covered by codemap */
    uint64_t nblocks;
    uint64_t npages_hi;                /* code pages at or above codemap_pages */
    struct cpu_block *graveyard;       /* invalidated blocks, freed between blocks */
    uint64_t cur_page;                 /* gpa page of the block being executed, ~0 if none */

    /* threaded execution of a block (fast.c, run.c) */
    uint64_t blk_rip;                  /* RIP of the block's first instruction */
    uint64_t blk_mask;                 /* instruction-pointer mask of the code size */
    const struct v3_insn *stop_in;     /* where the threaded run stopped (see cpu_thr_generic) */
    bool listener;

    struct cpu_hook_ent hc[CPU_HC_SIZE];

    /* an INS exit: the VMM writes guest memory at ES:rDI; its code is dropped on the next run() */
    bool ins_pending;
    uint8_t db_deferred;        /* data-breakpoint hits (B0-B3) of a MOV SS/POP SS, reported after
                                   the instruction that follows it (SDM vol. 3 6.8.3) */
    uint8_t ins_asize;
    uint64_t ins_rdi, ins_base;

    struct v3_cpu_stats stats;
};

static inline struct v3_cpu *cpu_of(struct v3_core *core) { return (struct v3_cpu *)core->backend; }
/* cpu->brk as the vCPU thread reads it (other threads set bits atomically) */
static inline uint32_t cpu_brk(const struct v3_cpu *cpu) { return __atomic_load_n(&cpu->brk, __ATOMIC_ACQUIRE); }
static inline struct v3_cpu *cpu_of_ctx(struct v3_emu_ctx *ctx) { return (struct v3_cpu *)ctx; }

/* cache.c */
int cpu_cache_init(struct v3_cpu *cpu);
void cpu_cache_free(struct v3_cpu *cpu);
struct cpu_block *cpu_block_find(struct v3_cpu *cpu, uint64_t gpa, unsigned mode);
struct cpu_block *cpu_block_build(struct v3_cpu *cpu, uint64_t gpa, const uint8_t *hva,
                                  unsigned avail, unsigned mode);
void cpu_cache_invalidate(struct v3_cpu *cpu, uint64_t start, uint64_t end);
void cpu_cache_flush(struct v3_cpu *cpu);
void cpu_cache_reap(struct v3_cpu *cpu);
bool cpu_page_has_code_slow(struct v3_cpu *cpu, uint64_t page);
/* Drop the pages other vCPUs asked for (CPU_BRK_XMC; the vCPU's own thread). */
void cpu_xmc_process(struct v3_cpu *cpu);

void cpu_store_hit(struct v3_cpu *cpu, uint64_t gpa);

/* A store reached guest physical page @p gpa: drop its code if it has any. */
static inline void cpu_store_check(struct v3_cpu *cpu, uint64_t gpa)
{
    uint64_t pg = gpa >> 12;
    if (__builtin_expect(pg < cpu->codemap_pages, 1) &&
        __builtin_expect(!((__atomic_load_n(&cpu->storemap[pg >> 3], __ATOMIC_RELAXED) >> (pg & 7)) & 1), 1))
        return;
    cpu_store_hit(cpu, gpa);
}

static inline unsigned cpu_jc_index(uint64_t gpa)
{
    return (unsigned)((gpa ^ (gpa >> CPU_JC_BITS)) & ((1u << CPU_JC_BITS) - 1));
}

/* Block lookup: the direct-mapped table inline, the hash table out of line. */
static inline struct cpu_block *cpu_block_lookup(struct v3_cpu *cpu, uint64_t gpa, unsigned mode)
{
    struct cpu_block *b = cpu->jc[cpu_jc_index(gpa)];
    if (__builtin_expect(b && b->gpa == gpa && b->mode == mode, 1))
        return b;
    return cpu_block_find(cpu, gpa, mode);
}

/* mem.c */
extern const struct v3_emu_mem_ops cpu_mem_ops;
/*
 * A user-mode-or-supervisor data access of @p len (1..8) bytes at @p la,
 * within one page, to a hooked page the hook cache already knows (a
 * previous access filled it): the region's callback directly.  Returns
 * V3_OK or a negative enum v3_error as the memory ops do, or 1 when the page
 * is not in the hook cache (the caller takes the memory ops).  A read of a
 * write-hooked page reads its memory (no callback).
 */
int cpu_hook_write(struct v3_cpu *cpu, uint64_t la, uint64_t val, unsigned len);
int cpu_hook_read(struct v3_cpu *cpu, uint64_t la, uint64_t *val, unsigned len);
/* Add the hook cache's pending callback counts to their regions (the
 * vCPU's map read lock is taken; at the end of a run). */
void cpu_hc_flush(struct v3_cpu *cpu);
/* Map listener part: flush and drop the hook-cache entries in [start, end)
 * (called with the map's write lock held). */
void cpu_hc_drop(struct v3_cpu *cpu, uint64_t start, uint64_t end);
/* Translate the fetch address of the instruction at @p la; *hva may be NULL (not RAM). */
int cpu_fetch_xlate(struct v3_cpu *cpu, uint64_t la, uint64_t *gpa, uint8_t **hva,
                    struct v3_exception *exc);

/* fast.c: pick an operand-specialised handler and the threaded form for a
 * decoded instruction (block build) */
void cpu_specialize(struct v3_insn *in);

/*
 * Threaded forms (fast.c).  A block is run by calling insn[0].thr; each
 * threaded routine does its instruction and tail-calls the next one's, so a
 * straight run costs no return to a dispatch loop.  Register-only forms do
 * not maintain core->rip (nothing they do reads it); every other form sets it
 * from blk_rip + boff first.  The run ends by returning a V3_X_* status with
 * cpu->stop_in set:
 *   V3_X_NEXT: stop_in is the next instruction to run (the block's end
 *              sentinel, or one after an instruction that set cpu->brk or an
 *              interrupt shadow); RIP is at it; stop_in - insn[0] retired.
 *   V3_X_JUMP: stop_in jumped (retired, RIP set by it).
 *   else:      stop_in raised an exception or an exit (not retired; RIP at it).
 */
int cpu_thr_generic(struct v3_emu_ctx *ctx, const struct v3_insn *in);
/* Set insn[0..n).thr for a block whose instructions were specialised (the
 * form of each depends on the flag kind the ones before it leave). */
void cpu_thr_link(struct v3_insn *insn, unsigned n);
int cpu_thr_end(struct v3_emu_ctx *ctx, const struct v3_insn *in);


#endif
