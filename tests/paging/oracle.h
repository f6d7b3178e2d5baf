/* SPDX-License-Identifier: MIT */
/*
 * Reference model of x86 paging permission and reserved-bit rules, written
 * from the Intel SDM vol. 3A chapter 4 (4.6 access rights, 4.7 page-fault
 * error code, tables 4-4..4-20 entry formats) independently of
 * src/paging.  The walk itself is described by the test (which levels exist,
 * which flags each has); the model only decides.
 */
#ifndef V3_TEST_PAGING_ORACLE_H
#define V3_TEST_PAGING_ORACLE_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/paging.h>

enum o_mode { O_32, O_PAE, O_4L, O_5L };

/* What kind of paging-structure entry an entry is. */
enum o_kind {
    O_PDE32_TABLE, O_PDE32_4M, O_PTE32,
    O_PDPTE_PAE, O_PDE_PAE_TABLE, O_PDE_PAE_2M, O_PTE_PAE,
    O_PML5E, O_PML4E, O_PDPTE_TABLE, O_PDPTE_1G, O_PDE_TABLE, O_PDE_2M, O_PTE,
};

/* The controls that matter. */
struct o_ctx {
    unsigned cpl;
    bool wp, smep, smap, ac, nxe, pse;
    unsigned maxphy;
};

/* Is bit @p b of an entry of kind @p k reserved (must be 0)? */
static inline bool o_reserved(enum o_kind k, unsigned b, const struct o_ctx *c)
{
    unsigned M = c->maxphy;

    switch (k) {
    case O_PDE32_TABLE:
    case O_PTE32:
        return false;                                   /* no reserved bits in 32-bit paging */
    case O_PDE32_4M: {
        /* bits 20:13 hold physical bits 39:32 (PSE-36); bit 21 reserved;
           physical bits at or above MAXPHYADDR (max 40 here) reserved */
        unsigned m = M > 40 ? 40 : M;
        if (b == 21)
            return true;
        if (b >= 13 && b <= 20)
            return (b - 13 + 32) >= m;
        return false;
    }
    case O_PDPTE_PAE:
        if (b == 1 || b == 2 || (b >= 5 && b <= 8))
            return true;
        return b >= M;                                  /* 63:M, including bit 63 */
    case O_PDE_PAE_TABLE:
    case O_PDE_PAE_2M:
    case O_PTE_PAE:
        if (b == 63)
            return !c->nxe;
        if (b >= M)                                     /* 62:M */
            return true;
        return k == O_PDE_PAE_2M && b >= 13 && b <= 20;
    default:
        break;
    }
    /* 4-level and 5-level */
    if (b == 63)
        return !c->nxe;
    if (b >= M && b <= 51)
        return true;
    if (b >= 52)
        return false;                                   /* ignored (or protection key) */
    if ((k == O_PML5E || k == O_PML4E) && b == 7)
        return true;                                    /* PS must be 0 */
    if (k == O_PDPTE_1G && b >= 13 && b <= 29)
        return true;
    if (k == O_PDE_2M && b >= 13 && b <= 20)
        return true;
    return false;
}

/* Access rights (SDM 4.6.1), from effective U/S, R/W and XD. */
static inline bool o_allowed(const struct o_ctx *c, enum o_mode m, bool us_all, bool rw_all,
                             bool xd_any, unsigned access)
{
    bool implicit = access & V3_ACCESS_SUPERVISOR;
    bool user_mode_access = c->cpl == 3 && !implicit;
    bool xd_on = m != O_32 && c->nxe;
    bool fetch = access & V3_ACCESS_EXEC;
    bool write = access & V3_ACCESS_WRITE;

    if (user_mode_access) {
        if (!us_all)
            return false;                   /* supervisor-mode address */
        if (fetch)
            return !(xd_on && xd_any);
        if (write)
            return rw_all;
        return true;
    }
    /* supervisor-mode access */
    if (fetch) {
        if (us_all && c->smep)
            return false;
        return !(xd_on && xd_any);
    }
    if (us_all && c->smap) {
        /* only explicit accesses with AC = 1 may touch user-mode addresses */
        if (implicit || !c->ac)
            return false;
    }
    if (write) {
        if (!c->wp)
            return true;
        return rw_all;
    }
    return true;
}

/* #PF error code (SDM 4.7). */
static inline uint32_t o_error_code(const struct o_ctx *c, enum o_mode m, bool present, bool rsvd,
                                    unsigned access)
{
    uint32_t ec = 0;
    bool pae = m != O_32;

    if (present)
        ec |= 1;
    if (access & V3_ACCESS_WRITE)
        ec |= 2;
    if (c->cpl == 3 && !(access & V3_ACCESS_SUPERVISOR))
        ec |= 4;
    if (rsvd)
        ec |= 8;
    if ((access & V3_ACCESS_EXEC) && (c->smep || (pae && c->nxe)))
        ec |= 16;
    return ec;
}

#endif
