/* SPDX-License-Identifier: MIT */
/* Shared helpers for the paging tests: a VM, guest RAM access, control setup. */
#ifndef V3_TEST_PAGING_COMMON_H
#define V3_TEST_PAGING_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include <v3/paging.h>
#include <v3/mem.h>
#include <v3/backend.h>
#include "paging/tlb.h"
#include "oracle.h"

#define T_MEM (32ull << 20)

struct tvm {
    struct v3_vm *vm;
    struct v3_core *core;
    uint8_t *ram;
};

/* The walks need no execution back end: a do-nothing one keeps the VM self-contained. */
static const struct v3_backend_ops tvm_backend = { .name = "paging-test" };

/* v3_vm_config::strict_mem for the next tvm_open() */
static bool tvm_strict_mem;

static inline void tvm_open(struct tvm *t)
{
    struct v3_vm_config cfg;
    void *p;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = T_MEM;
    cfg.backend_ops = &tvm_backend;
    cfg.strict_mem = tvm_strict_mem;
    t->vm = v3_create_vm(&cfg, &err);
    if (!t->vm)
        fail_msg("v3_create_vm: %s (%s)", v3_strerror(err), v3t_last_log());
    t->core = v3_get_core(t->vm, 0);
    assert_non_null(t->core);
    assert_non_null(t->core->tlb);
    assert_int_equal(v3_gpa_to_hva(t->vm, 0, &p), V3_OK);
    t->ram = p;
}

static inline void tvm_close(struct tvm *t)
{
    v3_free_vm(t->vm);
    t->vm = NULL;
}

static inline uint64_t rd64(struct tvm *t, uint64_t gpa) { uint64_t v; memcpy(&v, t->ram + gpa, 8); return v; }
static inline void wr64(struct tvm *t, uint64_t gpa, uint64_t v) { memcpy(t->ram + gpa, &v, 8); }
static inline uint32_t rd32(struct tvm *t, uint64_t gpa) { uint32_t v; memcpy(&v, t->ram + gpa, 4); return v; }
static inline void wr32(struct tvm *t, uint64_t gpa, uint32_t v) { memcpy(t->ram + gpa, &v, 4); }

/* Put the vCPU in paging mode @p m with controls @p c and CR3 @p cr3 (no TLB flush). */
static inline void set_mode(struct v3_core *core, enum o_mode m, const struct o_ctx *c, uint64_t cr3)
{
    core->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_ET | (c->wp ? V3_CR0_WP : 0);
    core->cr4 = (c->smep ? V3_CR4_SMEP : 0) | (c->smap ? V3_CR4_SMAP : 0) | (c->pse ? V3_CR4_PSE : 0);
    core->efer = c->nxe ? V3_EFER_NXE : 0;
    if (m != O_32)
        core->cr4 |= V3_CR4_PAE;
    if (m == O_4L || m == O_5L)
        core->efer |= V3_EFER_LME | V3_EFER_LMA;
    if (m == O_5L)
        core->cr4 |= V3_CR4_LA57;
    core->cpl = (uint8_t)c->cpl;
    core->rflags = 0x2 | (c->ac ? V3_FLAG_AC : 0);
    core->cr3 = cr3;
}

#define P_P  1ull
#define P_RW 2ull
#define P_US 4ull
#define P_A  0x20ull
#define P_D  0x40ull
#define P_PS 0x80ull
#define P_G  0x100ull
#define P_XD (1ull << 63)

#endif
