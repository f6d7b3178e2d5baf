/* SPDX-License-Identifier: MIT */
/* Test fixtures shared by several test programs. */
#include <stdio.h>
#include <string.h>
#include <v3/paging.h>
#include "v3test.h"

struct v3_vm *v3t_create_vm(uint64_t mem_size, const struct v3_backend_ops *ops,
                            struct v3_core **core, uint8_t **ram)
{
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    void *p;
    int err = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem_size;
    cfg.num_cores = 1;
    cfg.backend_ops = ops;
    cfg.clock = V3_CLOCK_VIRTUAL;       /* tests are deterministic: the TSC follows retired instructions */
    vm = v3_create_vm(&cfg, &err);
    if (!vm) {
        fprintf(stderr, "v3_create_vm: %s (%d)\n", v3_strerror(err), err);
        return NULL;
    }
    *core = v3_get_core(vm, 0);
    if (v3_gpa_to_hva(vm, 0, &p)) {
        fprintf(stderr, "v3_gpa_to_hva(0) failed\n");
        v3_free_vm(vm);
        return NULL;
    }
    *ram = p;
    return vm;
}

void v3t_core_long64(struct v3_core *c, uint64_t cr3)
{
    c->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_ET | V3_CR0_NE | V3_CR0_MP;
    c->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
    c->cr3 = cr3;
    c->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_SCE;
    c->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_L;
    c->seg[V3_CS].base = 0;
    c->seg[V3_CS].selector = 8;
    for (int s = 0; s < 6; s++) {
        if (s == V3_CS)
            continue;
        c->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3 | V3_SEG_DB;
        c->seg[s].base = 0;
        c->seg[s].limit = 0xffffffff;
        c->seg[s].selector = 0x10;
    }
    v3_core_update_mode(c);
    v3_tlb_flush_all(c);
}
