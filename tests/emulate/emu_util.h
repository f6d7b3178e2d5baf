/* SPDX-License-Identifier: MIT */
/*
 * Fixture for the emulator unit tests: a VM with 2 MiB of RAM, a two-page
 * full hook at FH, a one-page write hook at WH (backed by wh_backing), 4 KiB
 * identity page tables for 64-bit mode (with one page, NP, not present), and
 * helpers to put code at CODE and run v3_emulate_one().
 */
#ifndef V3_TEST_EMU_UTIL_H
#define V3_TEST_EMU_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"
#include <v3/emu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/backend.h>

#define PG      0x1000ull
#define RAM     (2ull << 20)
#define CODE    0x10000ull
#define FH      0x80000ull       /* full hook [FH, FH + 2 pages) */
#define WH      0x90000ull       /* write hook [WH, WH + 1 page) */
#define NP      0xa0000ull       /* page not present in the 64-bit page tables */
#define DATA    0x20000ull       /* plain RAM */
#define NOREG   0x400000ull      /* beyond RAM: no region (PG=0 modes only) */

struct call {
    int write;
    uint64_t gpa;
    uint32_t len;
    uint8_t data[16];
    uint8_t backing_at_call[16];
};

struct rec {
    struct call c[512];
    int n;
    uint8_t mem[2 * PG];     /* what a full-hook read returns / writes land in */
    int fail_write;          /* write callback returns -1 */
};

static struct rec rec;
static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *ram;
static uint8_t wh_backing[PG] __attribute__((aligned(4096)));

static int fh_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)priv;
    struct call *k = &rec.c[rec.n < 512 ? rec.n : 511];
    rec.n++;
    k->write = 0;
    k->gpa = gpa;
    k->len = len;
    memcpy(dst, rec.mem + (gpa - FH), len);
    memcpy(k->data, dst, len > 16 ? 16 : len);
    return 0;
}

static int fh_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)priv;
    struct call *k = &rec.c[rec.n < 512 ? rec.n : 511];
    rec.n++;
    k->write = 1;
    k->gpa = gpa;
    k->len = len;
    memcpy(k->data, src, len > 16 ? 16 : len);
    if (rec.fail_write)
        return -1;
    memcpy(rec.mem + (gpa - FH), src, len);
    return 0;
}

static int wh_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)priv;
    struct call *k = &rec.c[rec.n < 512 ? rec.n : 511];
    rec.n++;
    k->write = 1;
    k->gpa = gpa;
    k->len = len;
    memcpy(k->data, src, len > 16 ? 16 : len);
    memcpy(k->backing_at_call, wh_backing + (gpa - WH), len > 16 ? 16 : len);
    return rec.fail_write ? -1 : 0;
}

static const struct v3_backend_ops null_backend = { .name = "null" };

/* 64-bit identity map of the first 2 MiB with 4 KiB pages (PML4 0x1000, PDPT 0x2000,
 * PD 0x3000, PT 0x4000); NP is not present. */
static void build_page_tables(void)
{
    uint64_t *pml4 = (uint64_t *)(ram + 0x1000), *pdpt = (uint64_t *)(ram + 0x2000);
    uint64_t *pd = (uint64_t *)(ram + 0x3000), *pt = (uint64_t *)(ram + 0x4000);
    memset(ram + 0x1000, 0, 0x4000);
    pml4[0] = 0x2000 | 7;
    pdpt[0] = 0x3000 | 7;
    pd[0] = 0x4000 | 7;
    for (uint64_t i = 0; i < 512; i++)
        pt[i] = (i * PG) | 7;
    pt[NP / PG] = 0;
}

static void flat_seg(struct v3_segment *s, uint16_t attrib)
{
    s->selector = 0x10;
    s->base = 0;
    s->limit = 0xffffffff;
    s->attrib = attrib;
}

#define DATA_ATTR (V3_SEG_P | V3_SEG_S | 0x3 | V3_SEG_DB | V3_SEG_G)

static void set_mode(int bits)
{
    v3_core_reset(core);          /* keeps vm, id, tlb, backend */
    v3_tlb_flush_all(core);
    core->cr4 = V3_CR4_OSFXSR;
    if (bits == 64) {
        core->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_ET;
        core->cr4 |= V3_CR4_PAE;
        core->cr3 = 0x1000;
        core->efer = V3_EFER_LME | V3_EFER_LMA;
        for (int s = 0; s < 6; s++)
            flat_seg(&core->seg[s], DATA_ATTR);
        core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_L;
        core->rip = CODE;
    } else if (bits == 32) {
        core->cr0 = V3_CR0_PE | V3_CR0_ET;
        for (int s = 0; s < 6; s++)
            flat_seg(&core->seg[s], DATA_ATTR);
        core->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_DB | V3_SEG_G;
        core->rip = CODE;
    } else {   /* real mode, CS = DS = ES = SS = 0 except CS base = CODE */
        core->cr0 = V3_CR0_ET;
        for (int s = 0; s < 6; s++) {
            core->seg[s].selector = 0;
            core->seg[s].base = 0;
            core->seg[s].limit = 0xffff;
            core->seg[s].attrib = V3_SEG_P | V3_SEG_S | 0x3;
        }
        core->seg[V3_CS].selector = (uint16_t)(CODE >> 4);
        core->seg[V3_CS].base = CODE;
        core->rip = 0;
    }
    v3_core_update_mode(core);
    v3_core_set_rflags(core, 2);
    v3_tlb_flush_all(core);
}

static void code(const void *bytes, size_t n)
{
    memcpy(ram + CODE, bytes, n);
}

static int fixture_setup(void **state)
{
    (void)state;
    if (v3t_setup(NULL))
        return -1;
    vm = v3t_create_vm(RAM, &null_backend, &core, &ram);
    if (!vm)
        return -1;
    if (v3_hook_full_mem(vm, FH, FH + 2 * PG, fh_read, fh_write, NULL))
        return -1;
    if (v3_hook_write_mem(vm, WH, WH + PG, wh_backing, wh_write, NULL))
        return -1;
    return 0;
}

static int fixture_teardown(void **state)
{
    (void)state;
    v3_free_vm(vm);
    return v3t_teardown(NULL);
}

/* per-test reset */
static int reset(void **state)
{
    (void)state;
    memset(&rec, 0, sizeof(rec));
    memset(wh_backing, 0, sizeof(wh_backing));
    memset(ram + DATA, 0, 2 * PG);
    build_page_tables();
    set_mode(64);
    return 0;
}

static struct v3_emu_result res;

static int run(void)
{
    return v3_emulate_one(core, &res);
}

/* expect an exception with vector v and no side effects on registers */
#define ASSERT_EXC(vec) do {                                   \
        assert_int_equal(res.status, V3_EMU_EXCEPTION);        \
        assert_int_equal(res.exc.vector, (vec));               \
    } while (0)

#endif
