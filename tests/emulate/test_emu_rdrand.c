/* SPDX-License-Identifier: MIT */
/*
 * RDRAND/RDSEED follow the host's entropy() member: reported and working
 * with it (CF = 1 and fresh values; CF = 0 and 0 when the source fails),
 * unreported and #UD without it (this test runs twice, the second time with
 * V3T_NO_ENTROPY=1: a host without the member).
 */
#include <stdio.h>
#include <stdlib.h>
#include "v3test.h"
#include <v3/cpu.h>
#include "emu/insn.h"

static struct v3_core c;

static int exec(const uint8_t *b, size_t n, struct v3_emu_ctx *ctx)
{
    struct v3_insn in;
    uint8_t buf[15] = { 0 };
    memcpy(buf, b, n);
    memset(ctx, 0, sizeof(*ctx));
    ctx->core = &c;
    assert_true(v3_decode(V3_MODE_LONG64, buf, sizeof(buf), &in) > 0);
    return v3_exec(ctx, &in);
}

static void t_rdrand(void **state)
{
    (void)state;
    int have = getenv("V3T_NO_ENTROPY") == NULL;
    static const uint8_t rdrand_rax[] = { 0x48, 0x0f, 0xc7, 0xf0 }, rdseed_ecx[] = { 0x0f, 0xc7, 0xf9 };
    static const uint8_t rdrand_bx[] = { 0x66, 0x0f, 0xc7, 0xf3 };
    struct v3_emu_ctx ctx;
    uint32_t id[4];

    memset(&c, 0, sizeof(c));
    c.mode = V3_MODE_LONG64;
    c.cr0 = V3_CR0_PE;
    c.cpl = 3;
    v3_cpu_cpuid(NULL, 1, 0, id);
    assert_int_equal((id[2] >> 30) & 1, have);
    v3_cpu_cpuid(NULL, 7, 0, id);
    assert_int_equal((id[1] >> 18) & 1, have);
    if (!have) {
        assert_int_equal(exec(rdrand_rax, 4, &ctx), V3_X_EXC);
        assert_int_equal(ctx.exc.vector, V3_EXC_UD);
        assert_int_equal(exec(rdseed_ecx, 3, &ctx), V3_X_EXC);
        assert_int_equal(ctx.exc.vector, V3_EXC_UD);
        return;
    }
    /* fresh 64-bit values (a repeat has probability 2^-64 per pair), CF = 1, others 0 */
    uint64_t seen[8];
    for (int i = 0; i < 8; i++) {
        c.rflags = 2 | V3_FLAG_ZF | V3_FLAG_OF | V3_FLAG_SF;
        assert_int_equal(exec(rdrand_rax, 4, &ctx), V3_X_NEXT);
        assert_int_equal(v3_core_get_rflags(&c) & 0x8d5, V3_FLAG_CF);
        seen[i] = c.gpr[V3_RAX];
        for (int j = 0; j < i; j++)
            assert_true(seen[j] != seen[i]);
    }
    c.gpr[V3_RCX] = ~0ull;
    assert_int_equal(exec(rdseed_ecx, 3, &ctx), V3_X_NEXT);
    assert_int_equal(c.gpr[V3_RCX] >> 32, 0);       /* 32-bit destination zero-extends */
    c.gpr[V3_RBX] = 0x1111222233334444ull;
    assert_int_equal(exec(rdrand_bx, 4, &ctx), V3_X_NEXT);
    assert_int_equal(c.gpr[V3_RBX] >> 16, 0x111122223333ull);   /* 16-bit merges */
    /* the source fails: destination 0, CF = 0 */
    v3t_entropy_fail(1);
    c.gpr[V3_RAX] = 77;
    assert_int_equal(exec(rdrand_rax, 4, &ctx), V3_X_NEXT);
    assert_int_equal(c.gpr[V3_RAX], 0);
    assert_int_equal(v3_core_get_rflags(&c) & V3_FLAG_CF, 0);
    v3t_entropy_fail(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(t_rdrand) };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
