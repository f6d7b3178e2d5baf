/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the memory map (include/v3/mem.h): one or more tests per
 * function, every error code, and a named regression test for each bug of
 * the original vmm_mem.c.
 */
#include <stdio.h>
#include "mm_util.h"

#define RAM (64 * PG)       /* 256 KiB of guest RAM */

/* ------------------------------------------------------------ recording callbacks */

struct call {
    int write;
    struct v3_core *core;
    uint64_t gpa;
    uint32_t len;
    unsigned char data[4096];
};

struct recorder {
    struct call calls[64];
    int n;
    int fail_at;                /* 1-based call number that fails, 0: never */
    unsigned char fill;         /* read data: fill ^ low byte of gpa */
    void *backing;              /* write hooks: backing memory, for order checks */
    uint64_t backing_gpa;
    int saw_old_backing;        /* the write callback ran before the store */
};

static int rec_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct recorder *r = priv;
    struct call *c = &r->calls[r->n < 64 ? r->n : 63];

    r->n++;
    c->write = 0;
    c->core = core;
    c->gpa = gpa;
    c->len = len;
    for (uint32_t i = 0; i < len; i++)
        ((unsigned char *)dst)[i] = (unsigned char)(r->fill ^ (gpa + i));
    return (r->fail_at && r->n == r->fail_at) ? -5 : 0;
}

static int rec_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct recorder *r = priv;
    struct call *c = &r->calls[r->n < 64 ? r->n : 63];

    r->n++;
    c->write = 1;
    c->core = core;
    c->gpa = gpa;
    c->len = len;
    memcpy(c->data, src, len <= sizeof(c->data) ? len : sizeof(c->data));
    if (r->backing) {
        const unsigned char *b = (const unsigned char *)r->backing + (gpa - r->backing_gpa);
        r->saw_old_backing = memcmp(b, src, len) != 0;
    }
    return (r->fail_at && r->n == r->fail_at) ? -5 : 0;
}

/* ------------------------------------------------------------ creation */

static void test_create_vm_base_region(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct v3_mem_region *b = v3_mem_base(vm);
    unsigned char *p;

    (void)state;
    assert_int_equal(v3_mem_size(vm), RAM);
    assert_non_null(b);
    assert_int_equal(b->guest_start, 0);
    assert_int_equal(b->guest_end, RAM);
    assert_int_equal(b->type, V3_REGION_BASE);
    assert_non_null(b->host_addr);
    assert_int_equal((uintptr_t)b->host_addr & (PG - 1), 0);
    p = b->host_addr;
    for (uint64_t i = 0; i < RAM; i++)
        if (p[i])
            fail_msg("guest RAM not zeroed at %llu", (unsigned long long)i);
    assert_int_equal(v3_mem_region_count(vm), 0);
    assert_null(v3_mem_first(vm));
    assert_int_not_equal(v3_mem_generation(vm), 0);
    v3_free_vm(vm);
    assert_int_equal(v3t_outstanding(), 0);
}

static void expect_create_fails(uint64_t size, int code)
{
    struct v3_vm_config cfg = mm_cfg(size);
    long logs = v3t_error_logs();
    int err = 0;

    assert_null(v3_create_vm(&cfg, &err));
    assert_int_equal(err, code);
    assert_int_equal(v3t_error_logs() - logs, 1);
    assert_int_equal(v3t_outstanding(), 0);
}

static void test_create_vm_bad_size(void **state)
{
    (void)state;
    expect_create_fails(0, V3_ESIZE);
    expect_create_fails(4097, V3_ESIZE);
    expect_create_fails(PG - 1, V3_ESIZE);
    expect_create_fails(V3_GPA_LIMIT + PG, V3_ELIMIT);
    assert_non_null(strstr(v3t_last_log(), "52-bit"));
}

/* ------------------------------------------------------------ adding regions */

static void test_add_shadow_mem(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(4, 0x5a);
    struct v3_mem_region *r;
    uint64_t gen = v3_mem_generation(vm);
    void *hva;

    (void)state;
    assert_int_equal(v3_add_shadow_mem(vm, 8 * PG, 12 * PG, host), V3_OK);
    assert_int_not_equal(v3_mem_generation(vm), gen);
    assert_int_equal(v3_mem_region_count(vm), 1);
    r = v3_get_shadow_region(vm, 9 * PG + 5);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_SHADOW);
    assert_int_equal(r->guest_start, 8 * PG);
    assert_int_equal(r->guest_end, 12 * PG);
    assert_ptr_equal(r->host_addr, host);
    assert_int_equal(v3_gpa_to_hva(vm, 9 * PG + 5, &hva), V3_OK);
    assert_ptr_equal(hva, host + PG + 5);
    /* outside RAM too */
    assert_int_equal(v3_add_shadow_mem(vm, 0x100000000ull, 0x100000000ull + 4 * PG, host), V3_OK);
    assert_ptr_equal(v3_get_shadow_region(vm, 0x100000000ull)->host_addr, host);
    v3_free_vm(vm);
    free(host);
}

static void test_hook_write_mem(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(2, 0);
    struct recorder rec = { 0 };
    struct v3_mem_region *r;

    (void)state;
    assert_int_equal(v3_hook_write_mem(vm, 2 * PG, 4 * PG, host, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 3 * PG);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_WRITE_HOOK);
    assert_ptr_equal(r->write_hook, rec_write);
    assert_null(r->read_hook);
    assert_ptr_equal(r->priv, &rec);
    assert_ptr_equal(r->host_addr, host);
    v3_free_vm(vm);
    free(host);
}

static void test_hook_full_mem(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    struct v3_mem_region *r;

    (void)state;
    assert_int_equal(v3_hook_full_mem(vm, 0xFEE00000ull, 0xFEE01000ull, rec_read, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 0xFEE00ABCull);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_FULL_HOOK);
    assert_null(r->host_addr);
    assert_ptr_equal(r->read_hook, rec_read);
    assert_ptr_equal(r->write_hook, rec_write);
    /* highest possible page */
    assert_int_equal(v3_hook_full_mem(vm, V3_GPA_LIMIT - PG, V3_GPA_LIMIT, rec_read, rec_write, &rec), V3_OK);
    assert_ptr_equal(v3_get_shadow_region(vm, V3_GPA_LIMIT - 1)->read_hook, rec_read);
    assert_null(v3_get_shadow_region(vm, V3_GPA_LIMIT));
    v3_free_vm(vm);
}

/* Run @p op (which must fail with @p code), check one error line and an unchanged map. */
#define EXPECT_BAD(vm, code, call) do {                                 \
        struct mm_snap before_, after_;                                 \
        long logs_ = v3t_error_logs();                                  \
        long live_ = v3t_outstanding();                                 \
        mm_snapshot((vm), &before_);                                    \
        assert_int_equal((call), (code));                               \
        assert_int_equal(v3t_error_logs() - logs_, 1);                  \
        assert_int_equal(v3t_outstanding(), live_);                     \
        mm_snapshot((vm), &after_);                                     \
        mm_assert_same(&before_, &after_);                              \
        mm_snap_free(&before_);                                         \
        mm_snap_free(&after_);                                          \
    } while (0)

static void test_add_errors(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(16, 0);
    struct recorder rec = { 0 };
    int lcalls = 0;

    (void)state;
    (void)lcalls;
    assert_int_equal(v3_hook_full_mem(vm, 0x10 * PG, 0x20 * PG, rec_read, rec_write, &rec), V3_OK);

    /* start >= end */
    EXPECT_BAD(vm, V3_ERANGE_ORDER, v3_add_shadow_mem(vm, 4 * PG, 4 * PG, host));
    EXPECT_BAD(vm, V3_ERANGE_ORDER, v3_add_shadow_mem(vm, 5 * PG, 4 * PG, host));
    EXPECT_BAD(vm, V3_ERANGE_ORDER, v3_hook_write_mem(vm, 5 * PG, 4 * PG, host, rec_write, NULL));
    EXPECT_BAD(vm, V3_ERANGE_ORDER, v3_hook_full_mem(vm, 5 * PG, 4 * PG, rec_read, rec_write, NULL));
    /* alignment */
    EXPECT_BAD(vm, V3_EALIGN, v3_add_shadow_mem(vm, 4 * PG + 1, 5 * PG, host));
    EXPECT_BAD(vm, V3_EALIGN, v3_add_shadow_mem(vm, 4 * PG, 5 * PG - 1, host));
    EXPECT_BAD(vm, V3_EALIGN, v3_hook_write_mem(vm, 4 * PG + 8, 5 * PG, host, rec_write, NULL));
    EXPECT_BAD(vm, V3_EALIGN, v3_hook_full_mem(vm, 4 * PG, 5 * PG + 0x800, rec_read, rec_write, NULL));
    EXPECT_BAD(vm, V3_EALIGN, v3_add_shadow_mem(vm, 4 * PG, 5 * PG, host + 16));
    /* beyond 2^52 */
    EXPECT_BAD(vm, V3_ELIMIT, v3_add_shadow_mem(vm, V3_GPA_LIMIT, V3_GPA_LIMIT + PG, host));
    EXPECT_BAD(vm, V3_ELIMIT, v3_hook_full_mem(vm, V3_GPA_LIMIT - PG, V3_GPA_LIMIT + PG, rec_read, rec_write, NULL));
    EXPECT_BAD(vm, V3_ELIMIT, v3_hook_write_mem(vm, 0, UINT64_MAX - PG + 1, host, rec_write, NULL));
    /* NULL callbacks */
    EXPECT_BAD(vm, V3_ENOCALLBACK, v3_hook_write_mem(vm, 4 * PG, 5 * PG, host, NULL, NULL));
    EXPECT_BAD(vm, V3_ENOCALLBACK, v3_hook_full_mem(vm, 4 * PG, 5 * PG, NULL, rec_write, NULL));
    EXPECT_BAD(vm, V3_ENOCALLBACK, v3_hook_full_mem(vm, 4 * PG, 5 * PG, rec_read, NULL, NULL));
    EXPECT_BAD(vm, V3_ENOCALLBACK, v3_hook_full_mem(vm, 4 * PG, 5 * PG, NULL, NULL, NULL));
    /* NULL host memory / VM */
    EXPECT_BAD(vm, V3_EINVAL, v3_add_shadow_mem(vm, 4 * PG, 5 * PG, NULL));
    EXPECT_BAD(vm, V3_EINVAL, v3_hook_write_mem(vm, 4 * PG, 5 * PG, NULL, rec_write, NULL));
    EXPECT_BAD(vm, V3_EINVAL, v3_add_shadow_mem(NULL, 4 * PG, 5 * PG, host));

    /* overlaps with [0x10, 0x20) pages, every shape */
    static const uint64_t shapes[][2] = {
        { 0x10, 0x20 }, { 0x12, 0x14 }, { 0x08, 0x30 }, { 0x0f, 0x11 },
        { 0x1f, 0x21 }, { 0x10, 0x11 }, { 0x1f, 0x20 }, { 0x00, 0x11 },
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        char want_new[64], want_old[64];

        EXPECT_BAD(vm, V3_EOVERLAP, v3_add_shadow_mem(vm, shapes[i][0] * PG, shapes[i][1] * PG, host));
        snprintf(want_new, sizeof(want_new), "%#llx, %#llx", shapes[i][0] * PG, shapes[i][1] * PG);
        snprintf(want_old, sizeof(want_old), "%#llx, %#llx", 0x10 * PG, 0x20 * PG);
        if (!strstr(v3t_last_log(), want_new) || !strstr(v3t_last_log(), want_old))
            fail_msg("overlap message does not name both ranges: %s", v3t_last_log());
        EXPECT_BAD(vm, V3_EOVERLAP, v3_hook_write_mem(vm, shapes[i][0] * PG, shapes[i][1] * PG, host, rec_write, NULL));
        EXPECT_BAD(vm, V3_EOVERLAP, v3_hook_full_mem(vm, shapes[i][0] * PG, shapes[i][1] * PG, rec_read, rec_write, NULL));
    }
    /* adjacent on both sides is fine */
    assert_int_equal(v3_add_shadow_mem(vm, 0x0f * PG, 0x10 * PG, host), V3_OK);
    assert_int_equal(v3_add_shadow_mem(vm, 0x20 * PG, 0x21 * PG, host), V3_OK);
    assert_int_equal(v3_mem_region_count(vm), 3);
    v3_free_vm(vm);
    free(host);
}

/* ------------------------------------------------------------ removal */

static void test_unhook_mem(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(4, 0);
    struct recorder rec = { 0 };

    (void)state;
    assert_int_equal(v3_hook_write_mem(vm, 4 * PG, 6 * PG, host, rec_write, &rec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, 8 * PG, 9 * PG, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_add_shadow_mem(vm, 10 * PG, 12 * PG, host), V3_OK);

    EXPECT_BAD(vm, V3_ENOTHOOK, v3_unhook_mem(vm, 10 * PG));
    EXPECT_BAD(vm, V3_ENOENT, v3_unhook_mem(vm, 5 * PG));        /* inside, not the start */
    EXPECT_BAD(vm, V3_ENOENT, v3_unhook_mem(vm, 20 * PG));       /* plain RAM */
    EXPECT_BAD(vm, V3_ENOENT, v3_unhook_mem(vm, 0x100000000ull)); /* nothing */
    EXPECT_BAD(vm, V3_EINVAL, v3_unhook_mem(NULL, 4 * PG));

    assert_int_equal(v3_unhook_mem(vm, 4 * PG), V3_OK);
    assert_int_equal(v3_get_shadow_region(vm, 4 * PG)->type, V3_REGION_BASE);
    assert_int_equal(v3_unhook_mem(vm, 8 * PG), V3_OK);
    assert_int_equal(v3_get_shadow_region(vm, 8 * PG)->type, V3_REGION_BASE);
    assert_int_equal(v3_mem_region_count(vm), 1);
    EXPECT_BAD(vm, V3_ENOENT, v3_unhook_mem(vm, 4 * PG));        /* twice */
    v3_free_vm(vm);
    free(host);
}

/* Seed bug: "(type != FULL) || (type != WRITE)" is always true, so unhook always failed. */
static void test_regression_unhook_always_failed(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(1, 0);
    struct recorder rec = { 0 };

    (void)state;
    assert_int_equal(v3_hook_write_mem(vm, 0, PG, host, rec_write, &rec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, PG, 2 * PG, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_unhook_mem(vm, 0), V3_OK);
    assert_int_equal(v3_unhook_mem(vm, PG), V3_OK);
    assert_int_equal(v3_mem_region_count(vm), 0);
    v3_free_vm(vm);
    free(host);
}

static void test_delete_shadow_region(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(4, 0);
    struct recorder rec = { 0 };

    (void)state;
    assert_int_equal(v3_add_shadow_mem(vm, 4 * PG, 6 * PG, host), V3_OK);
    assert_int_equal(v3_hook_write_mem(vm, 6 * PG, 7 * PG, host, rec_write, &rec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, 7 * PG, 8 * PG, rec_read, rec_write, &rec), V3_OK);
    EXPECT_BAD(vm, V3_ENOENT, v3_delete_shadow_region(vm, 0));   /* base region is not an overlay */
    EXPECT_BAD(vm, V3_ENOENT, v3_delete_shadow_region(vm, 5 * PG));
    EXPECT_BAD(vm, V3_ENOENT, v3_delete_shadow_region(vm, V3_GPA_LIMIT + PG));
    EXPECT_BAD(vm, V3_EINVAL, v3_delete_shadow_region(NULL, 4 * PG));
    assert_int_equal(v3_delete_shadow_region(vm, 6 * PG), V3_OK);
    assert_int_equal(v3_delete_shadow_region(vm, 4 * PG), V3_OK);
    assert_int_equal(v3_delete_shadow_region(vm, 7 * PG), V3_OK);
    assert_int_equal(v3_mem_region_count(vm), 0);
    assert_null(v3_mem_first(vm));
    v3_free_vm(vm);
    free(host);
}

/* ------------------------------------------------------------ lookups */

static void test_get_shadow_region(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(2, 0);
    struct v3_mem_region *base = v3_mem_base(vm);

    (void)state;
    assert_int_equal(v3_add_shadow_mem(vm, 2 * PG, 4 * PG, host), V3_OK);
    assert_ptr_equal(v3_get_shadow_region(vm, 0), base);
    assert_ptr_equal(v3_get_shadow_region(vm, 2 * PG - 1), base);
    assert_ptr_equal(v3_get_shadow_region(vm, 2 * PG)->host_addr, host);   /* overlay wins */
    assert_ptr_equal(v3_get_shadow_region(vm, 4 * PG - 1)->host_addr, host);
    assert_ptr_equal(v3_get_shadow_region(vm, 4 * PG), base);
    assert_ptr_equal(v3_get_shadow_region(vm, RAM - 1), base);
    assert_null(v3_get_shadow_region(vm, RAM + 100));
    assert_null(v3_get_shadow_region(vm, UINT64_MAX));
    assert_null(v3_get_shadow_region(NULL, 0));
    v3_free_vm(vm);
    free(host);
}

/* Seed bug: "gpa > guest_end" let gpa == mem_size through to the base region. */
static void test_regression_one_past_the_end(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char b = 0xAB;
    void *hva;
    struct v3_mem_cache cache = { 0 };

    (void)state;
    assert_non_null(v3_get_shadow_region(vm, RAM - 1));
    assert_null(v3_get_shadow_region(vm, RAM));
    assert_null(v3_mem_lookup(vm, &cache, RAM));
    assert_non_null(v3_mem_lookup(vm, &cache, RAM - 1));
    assert_null(v3_mem_lookup(vm, &cache, RAM));                  /* not via the cache either */
    assert_int_equal(v3_gpa_to_hva(vm, RAM, &hva), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, RAM, 1, &b), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, RAM - 1, 2, &(uint16_t){ 1 }), V3_EUNMAPPED);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, RAM, 1, &b), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, RAM - 1, 1, &b), 1);
    v3_free_vm(vm);
}

/* Seed bug: callers dereferenced the NULL returned for an address with no region. */
static void test_regression_null_region_deref(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    void *hva = (void *)1;
    char buf[8];

    (void)state;
    assert_null(v3_get_shadow_region(vm, 0x200000000ull));
    assert_int_equal(v3_get_shadow_addr(NULL, 0, &hva), V3_EINVAL);
    assert_int_equal(v3_gpa_to_hva(vm, 0x200000000ull, &hva), V3_EUNMAPPED);
    assert_ptr_equal(hva, (void *)1);
    assert_int_equal(v3_unhook_mem(vm, 0x200000000ull), V3_ENOENT);
    assert_int_equal(v3_delete_shadow_region(vm, 0x200000000ull), V3_ENOENT);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0x200000000ull, 8, buf), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x200000000ull, 8, buf), V3_EUNMAPPED);
    v3_free_vm(vm);
}

static void test_get_shadow_addr(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(2, 0);
    struct recorder rec = { 0 };
    struct v3_mem_region *base = v3_mem_base(vm), *r;
    void *hva = NULL;

    (void)state;
    assert_int_equal(v3_get_shadow_addr(base, 0x1234, &hva), V3_OK);
    assert_ptr_equal(hva, (char *)base->host_addr + 0x1234);
    assert_int_equal(v3_get_shadow_addr(base, RAM, &hva), V3_EUNMAPPED);
    assert_int_equal(v3_get_shadow_addr(base, 0, NULL), V3_EINVAL);

    assert_int_equal(v3_hook_write_mem(vm, 0x10 * PG, 0x12 * PG, host, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 0x11 * PG);
    assert_int_equal(v3_get_shadow_addr(r, 0x11 * PG + 7, &hva), V3_OK);
    assert_ptr_equal(hva, host + PG + 7);
    assert_int_equal(v3_get_shadow_addr(r, 0x12 * PG, &hva), V3_EUNMAPPED);
    assert_int_equal(v3_get_shadow_addr(r, 0x10 * PG - 1, &hva), V3_EUNMAPPED);

    assert_int_equal(v3_hook_full_mem(vm, 0x20 * PG, 0x21 * PG, rec_read, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 0x20 * PG);
    hva = (void *)1;
    /* a full hook reports its own error, not address 0 */
    assert_int_equal(v3_get_shadow_addr(r, 0x20 * PG, &hva), V3_EHOOKED);
    assert_ptr_equal(hva, (void *)1);
    v3_free_vm(vm);
    free(host);
}

static void test_gpa_to_hva(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(2, 0);
    struct recorder rec = { 0 };
    void *hva = NULL;

    (void)state;
    assert_int_equal(v3_gpa_to_hva(vm, 0x2345, &hva), V3_OK);
    assert_ptr_equal(hva, (char *)v3_mem_base(vm)->host_addr + 0x2345);
    assert_int_equal(v3_add_shadow_mem(vm, 0x1000000, 0x1002000, host), V3_OK);
    assert_int_equal(v3_gpa_to_hva(vm, 0x1001003, &hva), V3_OK);
    assert_ptr_equal(hva, host + 0x1003);
    assert_int_equal(v3_hook_full_mem(vm, 0xFEE00000ull, 0xFEE01000ull, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_gpa_to_hva(vm, 0xFEE00010ull, &hva), V3_EHOOKED);
    assert_int_equal(v3_gpa_to_hva(vm, 0xFEE01000ull, &hva), V3_EUNMAPPED);
    assert_int_equal(v3_gpa_to_hva(NULL, 0, &hva), V3_EINVAL);
    assert_int_equal(v3_gpa_to_hva(vm, 0, NULL), V3_EINVAL);
    v3_free_vm(vm);
    free(host);
}

static void test_iteration_and_count(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    static const uint64_t starts[] = { 50, 3, 900, 17, 0x100000, 4, 600, 1 };
    uint64_t prev = 0;
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
        assert_int_equal(v3_hook_full_mem(vm, starts[i] * PG, (starts[i] + 1) * PG, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_mem_region_count(vm), 8);
    for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r), n++) {
        if (n)
            assert_true(r->guest_start > prev);
        prev = r->guest_start;
    }
    assert_int_equal(n, 8);
    assert_int_equal(v3_mem_first(vm)->guest_start, PG);
    assert_null(v3_mem_next(vm, v3_mem_base(vm)));
    assert_null(v3_mem_next(vm, NULL));
    assert_null(v3_mem_first(NULL));
    assert_int_equal(v3_mem_region_count(NULL), 0);
    v3_free_vm(vm);
}

static void test_type_to_str(void **state)
{
    (void)state;
    assert_string_equal(v3_shdw_region_type_to_str(V3_REGION_BASE), "base");
    assert_string_equal(v3_shdw_region_type_to_str(V3_REGION_SHADOW), "shadow");
    assert_string_equal(v3_shdw_region_type_to_str(V3_REGION_WRITE_HOOK), "write-hook");
    assert_string_equal(v3_shdw_region_type_to_str(V3_REGION_FULL_HOOK), "full-hook");
    assert_string_equal(v3_shdw_region_type_to_str((enum v3_region_type)77), "unknown");
}

/* Seed bug: print_shadow_map dereferenced the first tree node of an empty map. */
static void test_regression_print_empty_map(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    long logs = v3t_error_logs();

    (void)state;
    /* logging at error level so the test host counts the lines */
    v3_print_shadow_map(vm, V3_LOG_ERROR);
    assert_int_equal(v3t_error_logs() - logs, 3);       /* summary, header, base */
    assert_non_null(strstr(v3t_last_log(), "base"));
    assert_int_equal(v3_hook_full_mem(vm, 0xFEE00000ull, 0xFEE01000ull, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, 0x100000000ull, 0x100001000ull, rec_read, rec_write, &rec), V3_OK);
    logs = v3t_error_logs();
    v3_print_shadow_map(vm, V3_LOG_ERROR);
    assert_int_equal(v3t_error_logs() - logs, 5);
    assert_non_null(strstr(v3t_last_log(), "0x100000000"));
    assert_non_null(strstr(v3t_last_log(), "full-hook"));
    v3_print_shadow_map(vm, V3_LOG_DEBUG);               /* other levels: no crash */
    v3_print_shadow_map(vm, 99);
    v3_print_shadow_map(NULL, V3_LOG_INFO);
    v3_free_vm(vm);
}

/* ------------------------------------------------------------ teardown */

static long pages_live;
static struct v3_os_hooks counting;
static void *count_alloc_pages(size_t n)
{
    void *p = v3t_host()->alloc_pages(n);
    if (p)
        pages_live += (long)n;
    return p;
}
static void count_free_pages(void *p, size_t n)
{
    if (p)
        pages_live -= (long)n;
    v3t_host()->free_pages(p, n);
}

/* Seed bug: teardown freed one page of the base region instead of all of them. */
static void test_regression_teardown_frees_all_pages(void **state)
{
    struct v3_vm *vm;
    struct v3_vm_config cfg = mm_cfg(300 * PG);
    struct recorder rec = { 0 };
    unsigned char *host = mm_host_pages(1, 0);

    (void)state;
    counting = *v3t_host();
    counting.alloc_pages = count_alloc_pages;
    counting.free_pages = count_free_pages;
    assert_int_equal(v3_init(&counting), V3_OK);
    pages_live = 0;
    vm = v3_create_vm(&cfg, NULL);
    assert_non_null(vm);
    assert_int_equal(pages_live, 300);
    assert_int_equal(v3_hook_full_mem(vm, 0xFEE00000ull, 0xFEE01000ull, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_add_shadow_mem(vm, 0x1000, 0x2000, host), V3_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(v3_hook_full_mem(vm, (0x1000 + 2 * i) * PG, (0x1001 + 2 * i) * PG, rec_read, rec_write, &rec), V3_OK);
    v3_free_vm(vm);
    assert_int_equal(pages_live, 0);
    assert_int_equal(v3t_outstanding(), 0);
    assert_int_equal(v3_init(v3t_host()), V3_OK);
    free(host);
}

/* ------------------------------------------------------------ listeners */

struct lrec {
    int n;
    struct v3_vm *vm;
    uint64_t start[16], end[16];
    int present[16];            /* was the changed range mapped as an overlay at call time? */
    int order[16];
    int *seq;
};

static void listener(struct v3_vm *vm, uint64_t start, uint64_t end, void *priv)
{
    struct lrec *l = priv;
    struct v3_mem_region *r = v3_get_shadow_region(vm, start);

    if (l->n < 16) {
        l->vm = vm;
        l->start[l->n] = start;
        l->end[l->n] = end;
        l->present[l->n] = r && r->type != V3_REGION_BASE && r->guest_start == start && r->guest_end == end;
        l->order[l->n] = l->seq ? (*l->seq)++ : 0;
    }
    l->n++;
}

/* Seed bug: the invalidation ran once per 4 KiB page; listeners get one call per change. */
static void test_regression_listener_once_per_change(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    struct lrec l = { 0 };

    (void)state;
    assert_int_equal(v3_mem_add_listener(vm, listener, &l), V3_OK);
    /* 4 GiB region: a per-page loop would make a million calls */
    assert_int_equal(v3_hook_full_mem(vm, 0x100000000ull, 0x200000000ull, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(l.n, 1);
    assert_ptr_equal(l.vm, vm);
    assert_int_equal(l.start[0], 0x100000000ull);
    assert_int_equal(l.end[0], 0x200000000ull);
    assert_true(l.present[0]);                  /* after insert: visible */
    assert_int_equal(v3_unhook_mem(vm, 0x100000000ull), V3_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.start[1], 0x100000000ull);
    assert_int_equal(l.end[1], 0x200000000ull);
    assert_true(l.present[1]);                  /* before removal: still there */
    v3_free_vm(vm);
}

static void test_listeners(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    unsigned char *host = mm_host_pages(1, 0);
    int seq = 0;
    struct lrec a = { .seq = &seq }, b = { .seq = &seq };

    (void)state;
    assert_int_equal(v3_mem_add_listener(vm, listener, &a), V3_OK);
    assert_int_equal(v3_mem_add_listener(vm, listener, &b), V3_OK);
    EXPECT_BAD(vm, V3_EEXIST, v3_mem_add_listener(vm, listener, &a));
    EXPECT_BAD(vm, V3_ENOCALLBACK, v3_mem_add_listener(vm, NULL, &a));
    EXPECT_BAD(vm, V3_ENOENT, v3_mem_remove_listener(vm, listener, &rec));
    assert_int_equal(v3_mem_add_listener(NULL, listener, &a), V3_EINVAL);

    assert_int_equal(v3_add_shadow_mem(vm, PG, 2 * PG, host), V3_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_true(a.order[0] < b.order[0]);       /* registration order */

    /* failed changes call nobody */
    assert_int_equal(v3_add_shadow_mem(vm, PG, 2 * PG, host), V3_EOVERLAP);
    assert_int_equal(v3_unhook_mem(vm, PG), V3_ENOTHOOK);
    assert_int_equal(v3_delete_shadow_region(vm, 5 * PG), V3_ENOENT);
    assert_int_equal(a.n, 1);

    assert_int_equal(v3_mem_remove_listener(vm, listener, &a), V3_OK);
    assert_int_equal(v3_delete_shadow_region(vm, PG), V3_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.start[1], PG);
    assert_int_equal(b.end[1], 2 * PG);
    /* lookups and accesses call nobody */
    v3_get_shadow_region(vm, PG);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0, 8, "abcdefgh"), 8);
    assert_int_equal(b.n, 2);
    v3_free_vm(vm);                             /* frees b's record */
    assert_int_equal(v3t_outstanding(), 0);
    free(host);
}

/* ------------------------------------------------------------ generation and cache */

static void test_generation(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct v3_vm *vm2 = mm_vm(RAM);
    struct recorder rec = { 0 };
    uint64_t g0 = v3_mem_generation(vm), g1, g2;
    char buf[4];

    (void)state;
    assert_int_not_equal(g0, v3_mem_generation(vm2));   /* unique across maps */
    v3_get_shadow_region(vm, 0);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0, 4, buf), 4);
    assert_int_equal(v3_mem_generation(vm), g0);
    assert_int_equal(v3_hook_full_mem(vm, PG, 2 * PG, rec_read, rec_write, &rec), V3_OK);
    g1 = v3_mem_generation(vm);
    assert_int_not_equal(g1, g0);
    assert_int_equal(v3_hook_full_mem(vm, PG, 2 * PG, rec_read, rec_write, &rec), V3_EOVERLAP);
    assert_int_equal(v3_mem_generation(vm), g1);
    assert_int_equal(v3_unhook_mem(vm, PG), V3_OK);
    g2 = v3_mem_generation(vm);
    assert_int_not_equal(g2, g1);
    assert_int_not_equal(g2, g0);
    assert_int_equal(v3_mem_generation(NULL), 0);
    v3_free_vm(vm);
    v3_free_vm(vm2);
}

static void test_mem_lookup_cache(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct v3_vm *vm2 = mm_vm(RAM);
    struct recorder rec = { 0 };
    struct v3_mem_cache c = { 0 };
    struct v3_mem_region *base = v3_mem_base(vm), *r;

    (void)state;
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x3000), base);
    assert_ptr_equal(c.region, base);
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x3008), base);
    /* A hook appears inside the cached RAM gap: the cache must not answer. */
    assert_int_equal(v3_hook_full_mem(vm, 0x3000, 0x4000, rec_read, rec_write, &rec), V3_OK);
    r = v3_mem_lookup(vm, &c, 0x3008);
    assert_non_null(r);
    assert_int_equal(r->type, V3_REGION_FULL_HOOK);
    /* RAM windows on both sides of the hook are distinct */
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x2fff), base);
    assert_int_equal(v3_mem_lookup(vm, &c, 0x3000)->type, V3_REGION_FULL_HOOK);
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x4000), base);
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x2000), base);
    assert_int_equal(v3_mem_lookup(vm, &c, 0x3fff)->type, V3_REGION_FULL_HOOK);
    /* removal */
    assert_int_equal(v3_unhook_mem(vm, 0x3000), V3_OK);
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x3fff), base);
    /* a cache filled from one VM never answers for another */
    assert_ptr_equal(v3_mem_lookup(vm2, &c, 0x3000), v3_mem_base(vm2));
    assert_ptr_equal(v3_mem_lookup(vm, &c, 0x3000), base);
    /* misses are not cached */
    assert_null(v3_mem_lookup(vm, &c, RAM + 5));
    assert_ptr_equal(v3_mem_lookup(vm, &c, 5), base);
    assert_ptr_equal(v3_mem_lookup(vm, NULL, 5), base);
    assert_null(v3_mem_lookup(NULL, &c, 5));
    v3_free_vm(vm);
    v3_free_vm(vm2);
}

/* ------------------------------------------------------------ guest physical access */

static void test_read_write_ram(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *ram = v3_mem_base(vm)->host_addr;
    unsigned char in[3 * PG + 17], out[sizeof(in)];

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 31 + 7);
    /* odd start, crosses three page boundaries */
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 5 * PG - 3, sizeof(in), in), (int64_t)sizeof(in));
    assert_memory_equal(ram + 5 * PG - 3, in, sizeof(in));
    assert_int_equal(ram[5 * PG - 4], 0);
    assert_int_equal(ram[5 * PG - 3 + sizeof(in)], 0);
    memset(out, 0, sizeof(out));
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 5 * PG - 3, sizeof(in), out), (int64_t)sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    /* whole RAM */
    unsigned char *all = malloc(RAM);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0, RAM, all), (int64_t)RAM);
    assert_memory_equal(all, ram, RAM);
    free(all);
    /* zero length, bad args */
    assert_int_equal(v3_read_gpa_memory(vm, NULL, RAM + 10, 0, out), 0);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0, 1, NULL), V3_EINVAL);
    assert_int_equal(v3_write_gpa_memory(NULL, NULL, 0, 1, in), V3_EINVAL);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0, (size_t)INT64_MAX + 1, out), V3_EINVAL);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, UINT64_MAX - 2, 8, out), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, V3_GPA_LIMIT - 4, 8, in), V3_EUNMAPPED);
    /* through a vCPU (its lookup cache) */
    struct v3_core *core = v3_get_core(vm, 0);
    assert_int_equal(v3_write_gpa_memory(vm, core, 0x100, 4, "wxyz"), 4);
    assert_int_equal(v3_read_gpa_memory(vm, core, 0x100, 4, out), 4);
    assert_memory_equal(out, "wxyz", 4);
    v3_free_vm(vm);
}

static void test_read_write_shadow(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(2, 0x11);
    unsigned char *ram = v3_mem_base(vm)->host_addr;
    unsigned char buf[PG + 8];

    (void)state;
    assert_int_equal(v3_add_shadow_mem(vm, 4 * PG, 6 * PG, host), V3_OK);
    /* a write spanning RAM | shadow | RAM */
    memset(buf, 0xEE, sizeof(buf));
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 4 * PG - 4, 2 * PG + 8, NULL), V3_EINVAL);
    unsigned char *big = malloc(2 * PG + 8);
    for (size_t i = 0; i < 2 * PG + 8; i++)
        big[i] = (unsigned char)i;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 4 * PG - 4, 2 * PG + 8, big), 2 * PG + 8);
    assert_memory_equal(ram + 4 * PG - 4, big, 4);
    assert_memory_equal(host, big + 4, 2 * PG);
    assert_memory_equal(ram + 6 * PG, big + 4 + 2 * PG, 4);
    /* RAM under the overlay is untouched */
    for (uint64_t i = 4 * PG; i < 6 * PG; i++)
        assert_int_equal(ram[i], 0);
    memset(big, 0, 2 * PG + 8);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 4 * PG - 4, 2 * PG + 8, big), 2 * PG + 8);
    for (size_t i = 0; i < 2 * PG + 8; i++)
        assert_int_equal(big[i], (unsigned char)i);
    free(big);
    free(host);
    v3_free_vm(vm);
}

static void test_write_hook_access(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(3, 0x22);
    struct recorder rec = { .backing = host, .backing_gpa = 8 * PG };
    struct v3_core *core = v3_get_core(vm, 0);
    unsigned char data[PG + 100], out[sizeof(data)];
    struct v3_mem_region *r;

    (void)state;
    assert_int_equal(v3_hook_write_mem(vm, 8 * PG, 11 * PG, host, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 8 * PG);
    /* reads come from backing memory, no callback */
    assert_int_equal(v3_read_gpa_memory(vm, core, 8 * PG + 10, 4, out), 4);
    assert_memory_equal(out, "\x22\x22\x22\x22", 4);
    assert_int_equal(rec.n, 0);
    assert_int_equal(r->hook_calls, 0);
    /* a write across two page boundaries: three calls, callback before store */
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i ^ 0x5c);
    assert_int_equal(v3_write_gpa_memory(vm, core, 9 * PG - 50, sizeof(data), data), (int64_t)sizeof(data));
    assert_int_equal(rec.n, 3);
    assert_int_equal(rec.calls[0].gpa, 9 * PG - 50);
    assert_int_equal(rec.calls[0].len, 50);
    assert_ptr_equal(rec.calls[0].core, core);
    assert_memory_equal(rec.calls[0].data, data, 50);
    assert_int_equal(rec.calls[1].gpa, 9 * PG);
    assert_int_equal(rec.calls[1].len, PG);
    assert_memory_equal(rec.calls[1].data, data + 50, PG);
    assert_int_equal(rec.calls[2].gpa, 10 * PG);
    assert_int_equal(rec.calls[2].len, 50);
    assert_memory_equal(rec.calls[2].data, data + 50 + PG, 50);
    assert_true(rec.saw_old_backing);
    assert_memory_equal(host + PG - 50, data, sizeof(data));
    assert_int_equal(r->hook_calls, 3);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 9 * PG - 50, sizeof(out), out), (int64_t)sizeof(out));
    assert_memory_equal(out, data, sizeof(data));

    /* a failing callback vetoes its piece and stops the access */
    rec.n = 0;
    rec.fail_at = 2;
    memset(data, 0x77, sizeof(data));
    unsigned char old_second[8];
    memcpy(old_second, host + 2 * PG, 8);
    long logs = v3t_error_logs();
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 10 * PG - 8, 16, data), V3_ECALLBACK);
    assert_int_equal(v3t_error_logs() - logs, 1);
    assert_int_equal(rec.n, 2);
    assert_memory_equal(host + 2 * PG - 8, data, 8);               /* first piece stored */
    assert_memory_equal(host + 2 * PG, old_second, 8);             /* second vetoed */
    assert_null(rec.calls[0].core);
    v3_free_vm(vm);
    free(host);
}

static void test_full_hook_access(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { .fill = 0xA5 };
    struct v3_core *core = v3_get_core(vm, 0);
    unsigned char *ram = v3_mem_base(vm)->host_addr;
    unsigned char *buf = malloc(3 * PG + 2);
    uint64_t gpa = 0x20 * PG - 1;       /* RAM byte, then the hook, then RAM */
    struct v3_mem_region *r;

    (void)state;
    assert_int_equal(v3_hook_full_mem(vm, 0x20 * PG, 0x23 * PG, rec_read, rec_write, &rec), V3_OK);
    r = v3_get_shadow_region(vm, 0x20 * PG);
    ram[gpa] = 0x99;
    ram[0x23 * PG] = 0x98;
    assert_int_equal(v3_read_gpa_memory(vm, core, gpa, 3 * PG + 2, buf), 3 * PG + 2);
    assert_int_equal(buf[0], 0x99);
    assert_int_equal(buf[3 * PG + 1], 0x98);
    assert_int_equal(rec.n, 3);                                   /* one call per page */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rec.calls[i].write, 0);
        assert_int_equal(rec.calls[i].gpa, (0x20 + (uint64_t)i) * PG);
        assert_int_equal(rec.calls[i].len, PG);
        assert_ptr_equal(rec.calls[i].core, core);
    }
    for (uint64_t i = 0; i < 3 * PG; i++)
        assert_int_equal(buf[1 + i], (unsigned char)(0xA5 ^ (0x20 * PG + i)));
    assert_int_equal(r->hook_calls, 3);

    /* writes go to the callback only; RAM underneath is untouched */
    rec.n = 0;
    memset(buf, 0x3c, 10);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x21 * PG - 5, 10, buf), 10);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.calls[0].gpa, 0x21 * PG - 5);
    assert_int_equal(rec.calls[0].len, 5);
    assert_int_equal(rec.calls[1].gpa, 0x21 * PG);
    assert_int_equal(rec.calls[1].len, 5);
    assert_memory_equal(rec.calls[1].data, buf, 5);
    for (uint64_t i = 0x20 * PG; i < 0x23 * PG; i++)
        assert_int_equal(ram[i], 0);

    /* a failing read callback */
    rec.n = 0;
    rec.fail_at = 1;
    assert_int_equal(v3_read_gpa_memory(vm, NULL, 0x20 * PG, 4, buf), V3_ECALLBACK);
    assert_int_equal(r->hook_calls, 3 + 2 + 1);
    free(buf);
    v3_free_vm(vm);
}

/* A write with an unmapped byte anywhere writes nothing and calls nothing. */
static void test_write_checks_whole_range_first(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    unsigned char *host = mm_host_pages(1, 0);
    struct recorder rec = { 0 }, frec = { 0 };
    unsigned char *ram = v3_mem_base(vm)->host_addr;
    unsigned char *data = malloc(4 * PG);
    struct mm_snap before, after;

    (void)state;
    memset(data, 0xCD, 4 * PG);
    /* RAM | write hook | full hook | (end of RAM) hole */
    assert_int_equal(v3_hook_write_mem(vm, RAM - 2 * PG, RAM - PG, host, rec_write, &rec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, RAM - PG, RAM, rec_read, rec_write, &frec), V3_OK);
    mm_snapshot(vm, &before);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, RAM - 3 * PG, 3 * PG + 1, data), V3_EUNMAPPED);
    assert_int_equal(v3_read_gpa_memory(vm, NULL, RAM - 3 * PG, 3 * PG + 1, data), V3_EUNMAPPED);
    assert_int_equal(rec.n, 0);
    assert_int_equal(frec.n, 0);
    assert_int_equal(host[0], 0);
    assert_int_equal(ram[RAM - 3 * PG], 0);
    mm_snapshot(vm, &after);
    mm_assert_same(&before, &after);
    mm_snap_free(&before);
    mm_snap_free(&after);
    /* a hole between two overlays above RAM */
    assert_int_equal(v3_hook_full_mem(vm, 0x10000000, 0x10001000, rec_read, rec_write, &frec), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, 0x10002000, 0x10003000, rec_read, rec_write, &frec), V3_OK);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x10000ff0, 0x2000, data), V3_EUNMAPPED);
    assert_int_equal(frec.n, 0);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x10000ff0, 0x10, data), 0x10);
    assert_int_equal(frec.n, 1);
    free(data);
    free(host);
    v3_free_vm(vm);
}

/* After an unhook, an access through a vCPU whose cache held the hook must go to RAM. */
static void test_core_cache_invalidated(void **state)
{
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { .fill = 0 };
    struct v3_core *core = v3_get_core(vm, 0);
    unsigned char *ram = v3_mem_base(vm)->host_addr;
    uint32_t v = 0;

    (void)state;
    assert_int_equal(v3_hook_full_mem(vm, 3 * PG, 4 * PG, rec_read, rec_write, &rec), V3_OK);
    assert_int_equal(v3_read_gpa_memory(vm, core, 3 * PG, 4, &v), 4);
    assert_int_equal(rec.n, 1);
    assert_int_equal(v3_unhook_mem(vm, 3 * PG), V3_OK);
    memcpy(ram + 3 * PG, "\x01\x02\x03\x04", 4);
    assert_int_equal(v3_read_gpa_memory(vm, core, 3 * PG, 4, &v), 4);
    assert_int_equal(rec.n, 1);
    assert_int_equal(v, 0x04030201);
    v3_free_vm(vm);
}

/* Many regions: the lookup index grows, shifts in place and shrinks by removal. */
static void test_many_regions(void **state)
{
    enum { N = 3000 };
    struct v3_vm *vm = mm_vm(RAM);
    struct recorder rec = { 0 };
    static uint64_t order[N];
    static char live[N];
    struct v3_mem_cache c = { 0 };
    uint64_t seed = 12345;

    (void)state;
    for (int i = 0; i < N; i++)
        order[i] = (uint64_t)i;
    for (int i = N - 1; i > 0; i--) {          /* shuffle */
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((seed >> 33) % (uint64_t)(i + 1));
        uint64_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    /* region i covers pages [3i+1, 3i+3) above 4 GiB: a one-page gap before each */
#define RSTART(i) (0x100000000ull + (3 * (uint64_t)(i) + 1) * PG)
    for (int k = 0; k < N; k++) {
        uint64_t i = order[k];
        assert_int_equal(v3_hook_full_mem(vm, RSTART(i), RSTART(i) + 2 * PG, rec_read, rec_write, &rec), V3_OK);
        live[i] = 1;
    }
    for (int phase = 0; phase < 2; phase++) {
        size_t count = 0;
        struct v3_mem_region *prev = NULL;

        for (int i = 0; i < N; i++) {
            struct v3_mem_region *r = v3_get_shadow_region(vm, RSTART(i) + PG + 7);
            assert_ptr_equal(v3_mem_lookup(vm, &c, RSTART(i) + PG + 7), r);
            assert_null(v3_get_shadow_region(vm, RSTART(i) - 1));     /* the gap */
            if (live[i]) {
                assert_non_null(r);
                assert_int_equal(r->guest_start, RSTART(i));
                assert_int_equal(r->guest_end, RSTART(i) + 2 * PG);
                count++;
            } else {
                assert_null(r);
            }
        }
        assert_int_equal(v3_mem_region_count(vm), count);
        for (struct v3_mem_region *r = v3_mem_first(vm); r; r = v3_mem_next(vm, r)) {
            if (prev)
                assert_true(prev->guest_end < r->guest_start);
            prev = r;
        }
        /* remove every other region, in shuffled order */
        for (int k = 0; k < N && phase == 0; k++) {
            uint64_t i = order[k];
            if (i % 2 == 0) {
                assert_int_equal(v3_unhook_mem(vm, RSTART(i)), V3_OK);
                live[i] = 0;
            }
        }
    }
#undef RSTART
    v3_free_vm(vm);
    assert_int_equal(v3t_outstanding(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_vm_base_region),
        cmocka_unit_test(test_create_vm_bad_size),
        cmocka_unit_test(test_add_shadow_mem),
        cmocka_unit_test(test_hook_write_mem),
        cmocka_unit_test(test_hook_full_mem),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_unhook_mem),
        cmocka_unit_test(test_regression_unhook_always_failed),
        cmocka_unit_test(test_delete_shadow_region),
        cmocka_unit_test(test_get_shadow_region),
        cmocka_unit_test(test_regression_one_past_the_end),
        cmocka_unit_test(test_regression_null_region_deref),
        cmocka_unit_test(test_get_shadow_addr),
        cmocka_unit_test(test_gpa_to_hva),
        cmocka_unit_test(test_iteration_and_count),
        cmocka_unit_test(test_type_to_str),
        cmocka_unit_test(test_regression_print_empty_map),
        cmocka_unit_test(test_regression_teardown_frees_all_pages),
        cmocka_unit_test(test_regression_listener_once_per_change),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_generation),
        cmocka_unit_test(test_mem_lookup_cache),
        cmocka_unit_test(test_read_write_ram),
        cmocka_unit_test(test_read_write_shadow),
        cmocka_unit_test(test_write_hook_access),
        cmocka_unit_test(test_full_hook_access),
        cmocka_unit_test(test_write_checks_whole_range_first),
        cmocka_unit_test(test_core_cache_invalidated),
        cmocka_unit_test(test_many_regions),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
