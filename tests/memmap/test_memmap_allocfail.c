/* SPDX-License-Identifier: MIT */
/*
 * Allocation failure injection: every allocation made by VM creation and by
 * each map operation is failed in turn (v3t_fail_nth(1..N)).  Each failure
 * must give V3_ENOMEM with one log line, leave the map exactly as it was
 * (regions, listeners, generation, RAM contents) and leak nothing.
 */
#include <stdio.h>
#include "mm_util.h"

#define RAM (32 * PG)

static int rd_cb(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)priv;
    memset(dst, 0x42, len);
    return 0;
}
static int wr_cb(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)priv;
    return 0;
}
static int lcalls;
static void lis(struct v3_vm *vm, uint64_t s, uint64_t e, void *priv)
{
    (void)vm; (void)s; (void)e; (void)priv;
    lcalls++;
}

static void test_create_vm_every_allocation_fails(void **state)
{
    struct v3_vm_config cfg = mm_cfg(RAM);
    long n;

    (void)state;
    for (n = 1; n < 1000; n++) {
        int err = 0;
        long logs = v3t_error_logs();
        struct v3_vm *vm;

        v3t_fail_nth(n);
        vm = v3_create_vm(&cfg, &err);
        if (!v3t_failed()) {
            v3t_fail_nth(0);
            assert_non_null(vm);
            assert_int_equal(err, V3_OK);
            v3_free_vm(vm);
            break;
        }
        v3t_fail_nth(0);
        if (vm)
            fail_msg("allocation %ld failed but v3_create_vm succeeded", n);
        assert_int_equal(err, V3_ENOMEM);
        assert_true(v3t_error_logs() > logs);
        if (v3t_outstanding() != 0)
            fail_msg("allocation %ld failed: %ld allocations leaked", n, v3t_outstanding());
    }
    printf("v3_create_vm: %ld allocation points failed in turn\n", n - 1);
    assert_true(n >= 3);          /* VM object, vCPUs, map lock, RAM at least */
    assert_int_equal(v3t_outstanding(), 0);
}

/* A map with a bit of everything, a listener, and recognisable RAM. */
static struct v3_vm *populated(unsigned char *host)
{
    struct v3_vm *vm = mm_vm(RAM);

    assert_int_equal(v3_add_shadow_mem(vm, 2 * PG, 4 * PG, host), V3_OK);
    assert_int_equal(v3_hook_write_mem(vm, 4 * PG, 5 * PG, host, wr_cb, NULL), V3_OK);
    assert_int_equal(v3_hook_full_mem(vm, 0xFEE00000ull, 0xFEE01000ull, rd_cb, wr_cb, NULL), V3_OK);
    assert_int_equal(v3_mem_add_listener(vm, lis, NULL), V3_OK);
    for (uint64_t i = 0; i < RAM; i += 64)
        assert_int_equal(v3_write_gpa_memory(vm, NULL, i < 2 * PG || i >= 5 * PG ? i : 0, 8, "ramdata!"), 8);
    return vm;
}

enum op { OP_SHADOW, OP_HOOK_WRITE, OP_HOOK_FULL, OP_LISTENER, OP_COUNT };

static int do_op(struct v3_vm *vm, enum op op, unsigned char *host)
{
    switch (op) {
    case OP_SHADOW:     return v3_add_shadow_mem(vm, 8 * PG, 10 * PG, host);
    case OP_HOOK_WRITE: return v3_hook_write_mem(vm, 0x100000000ull, 0x100002000ull, host, wr_cb, NULL);
    case OP_HOOK_FULL:  return v3_hook_full_mem(vm, 10 * PG, 11 * PG, rd_cb, wr_cb, NULL);
    case OP_LISTENER:   return v3_mem_add_listener(vm, lis, vm);
    default:            return V3_EINVAL;
    }
}

static void undo_op(struct v3_vm *vm, enum op op)
{
    switch (op) {
    case OP_SHADOW:     assert_int_equal(v3_delete_shadow_region(vm, 8 * PG), V3_OK); break;
    case OP_HOOK_WRITE: assert_int_equal(v3_unhook_mem(vm, 0x100000000ull), V3_OK); break;
    case OP_HOOK_FULL:  assert_int_equal(v3_unhook_mem(vm, 10 * PG), V3_OK); break;
    case OP_LISTENER:   assert_int_equal(v3_mem_remove_listener(vm, lis, vm), V3_OK); break;
    default: break;
    }
}

static void test_map_ops_every_allocation_fails(void **state)
{
    unsigned char *host = mm_host_pages(2, 0x33);

    (void)state;
    for (enum op op = 0; op < OP_COUNT; op++) {
        struct v3_vm *vm = populated(host);
        long n;
        int failures = 0;

        for (n = 1; n < 100; n++) {
            struct mm_snap before, after;
            long live = v3t_outstanding();
            long logs = v3t_error_logs();
            int calls = lcalls;
            int rc;

            mm_snapshot(vm, &before);
            v3t_fail_nth(n);
            rc = do_op(vm, op, host);
            if (!v3t_failed()) {
                v3t_fail_nth(0);
                assert_int_equal(rc, V3_OK);
                mm_snap_free(&before);
                undo_op(vm, op);
                break;
            }
            v3t_fail_nth(0);
            failures++;
            assert_int_equal(rc, V3_ENOMEM);
            assert_int_equal(v3t_error_logs() - logs, 1);
            assert_int_equal(v3t_outstanding(), live);
            assert_int_equal(lcalls, calls);
            mm_snapshot(vm, &after);
            mm_assert_same(&before, &after);
            mm_snap_free(&before);
            mm_snap_free(&after);
        }
        printf("map operation %d: %d allocation point(s) failed in turn\n", (int)op, failures);
        assert_true(failures >= 1);
        v3_free_vm(vm);
        assert_int_equal(v3t_outstanding(), 0);
    }
    free(host);
}

/* Operations that must not allocate at all keep working with every allocation failing. */
static void test_non_allocating_ops(void **state)
{
    unsigned char *host = mm_host_pages(2, 0x33);
    struct v3_vm *vm = populated(host);
    struct v3_mem_cache c = { 0 };
    char buf[3 * PG];
    void *hva;

    (void)state;
    v3t_fail_nth(1);
    assert_int_equal(v3_read_gpa_memory(vm, v3_get_core(vm, 0), PG, sizeof(buf), buf), sizeof(buf));
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0xFEE00000ull - 8, 16, buf), V3_EUNMAPPED);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, PG, sizeof(buf), buf), sizeof(buf));
    assert_non_null(v3_mem_lookup(vm, &c, 0));
    assert_int_equal(v3_gpa_to_hva(vm, 5, &hva), V3_OK);
    v3_print_shadow_map(vm, V3_LOG_DEBUG);
    assert_int_equal(v3_unhook_mem(vm, 4 * PG), V3_OK);
    assert_int_equal(v3_unhook_mem(vm, 0xFEE00000ull), V3_OK);
    assert_int_equal(v3_delete_shadow_region(vm, 2 * PG), V3_OK);
    assert_int_equal(v3_mem_remove_listener(vm, lis, NULL), V3_OK);
    assert_int_equal(v3t_alloc_count(), 0);
    assert_false(v3t_failed());
    v3t_fail_nth(1);
    v3_free_vm(vm);
    assert_int_equal(v3t_alloc_count(), 0);
    v3t_fail_nth(0);
    assert_int_equal(v3t_outstanding(), 0);
    free(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_vm_every_allocation_fails),
        cmocka_unit_test(test_map_ops_every_allocation_fails),
        cmocka_unit_test(test_non_allocating_ops),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
