/* SPDX-License-Identifier: MIT */
/* A long-mode test guest: 4 MiB RAM, linear 0x20000000-0x201fffff -> guest physical 0x200000. */
#ifndef V3_TEST_GUEST64_H
#define V3_TEST_GUEST64_H

#include <string.h>
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

#define G64_MEM     (4u << 20)
#define G64_GPA     0x200000ull
#define G64_LA      0x20000000ull

struct g64 {
    struct v3_vm *vm;
    struct v3_core *core;
    uint8_t *ram;
};

/* A VM of @p ncores vCPUs, each in 64-bit mode on the same page tables. */
static inline int g64_init_cores(struct g64 *g, unsigned ncores)
{
    struct v3_vm_config cfg;
    void *hva;
    uint64_t *pt;
    memset(g, 0, sizeof(*g));
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = G64_MEM;
    cfg.num_cores = ncores;
    cfg.backend_ops = &v3_emu_backend;
    cfg.clock = V3_CLOCK_VIRTUAL;       /* the TSC follows retired instructions: deterministic */
    g->vm = v3_create_vm(&cfg, NULL);
    if (!g->vm)
        return -1;
    g->core = v3_get_core(g->vm, 0);
    if (v3_gpa_to_hva(g->vm, 0, &hva))
        return -1;
    g->ram = hva;
    pt = (uint64_t *)(g->ram + 0x1000); pt[0] = 0x2000 | 3;
    pt = (uint64_t *)(g->ram + 0x2000); pt[0] = 0x3000 | 3;
    pt = (uint64_t *)(g->ram + 0x3000); pt[(G64_LA >> 21) & 511] = G64_GPA | 0x83;
    for (unsigned i = 0; i < (ncores ? ncores : 1); i++)
        v3t_core_long64(v3_get_core(g->vm, i), 0x1000);
    return 0;
}

static inline int g64_init(struct g64 *g)
{
    return g64_init_cores(g, 1);
}

/* Host pointer of linear address @p la inside the window. */
static inline uint8_t *g64_ptr(struct g64 *g, uint64_t la) { return g->ram + G64_GPA + (la - G64_LA); }
static inline uint64_t g64_gpa(uint64_t la) { return G64_GPA + (la - G64_LA); }

/* Did the run end at the HLT at @p rip?  (HLT exit, or HLT not handled in this build.) */
static inline int g64_halted_at(const struct v3_exit *ex, uint64_t rip)
{
    return ex->insn_rip == rip &&
           (ex->reason == V3_EXIT_HLT || (ex->reason == V3_EXIT_ERROR && ex->error.code == -14));
}

#endif
