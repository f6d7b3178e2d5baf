/* SPDX-License-Identifier: MIT */
/* Self-test of the native harness against values known from the ISA. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "v3native.h"

#define SCR 0x10000000ull

static void setup_state(struct v3n_state *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 16; i++)
        s->gpr[i] = 0x1111111111111111ull * (uint64_t)i;
    s->gpr[V3N_RSP] = SCR + 0x2800;
    s->rip = V3N_SNIPPET_MIN + 0x10;
}

static void t_add_flags(void **st)
{
    (void)st;
    static const uint8_t code[] = { 0x48, 0x01, 0xd8 };     /* add rax, rbx */
    struct v3n_state in; struct v3n_result r;
    setup_state(&in);
    in.gpr[V3N_RAX] = 0xffffffffffffffffull;
    in.gpr[V3N_RBX] = 1;
    assert_int_equal(v3n_run(code, sizeof(code), &in, 0, &r), 0);
    assert_int_equal(r.vector, -1);
    assert_int_equal(r.st.gpr[V3N_RAX], 0);
    assert_int_equal(r.st.rflags & 0x8d5, 0x55);           /* CF PF AF ZF */
    assert_int_equal(r.st.rip, in.rip + 3);
    for (int i = 1; i < 16; i++)
        assert_int_equal(r.st.gpr[i], in.gpr[i]);
}

static void t_flags_in_df(void **st)
{
    (void)st;
    static const uint8_t code[] = { 0x9c, 0x58 };           /* pushfq; pop rax */
    struct v3n_state in; struct v3n_result r;
    setup_state(&in);
    in.rflags = 0x400 | 0x1 | 0x800;
    assert_int_equal(v3n_run(code, sizeof(code), &in, 0, &r), 0);
    assert_int_equal(r.st.gpr[V3N_RAX] & 0xcd5, 0xc01);
    assert_int_equal(r.st.gpr[V3N_RSP], in.gpr[V3N_RSP]);
    assert_int_equal(*(uint64_t *)(uintptr_t)(SCR + 0x27f8) & 0xcd5, 0xc01);
}

static void t_div_zero(void **st)
{
    (void)st;
    static const uint8_t code[] = { 0x48, 0xf7, 0xf1 };     /* div rcx */
    struct v3n_state in; struct v3n_result r;
    setup_state(&in);
    in.gpr[V3N_RCX] = 0;
    assert_int_equal(v3n_run(code, sizeof(code), &in, 0, &r), 0);
    assert_int_equal(r.vector, 0);
    assert_int_equal(r.st.rip, in.rip);
    assert_int_equal(r.st.gpr[V3N_RAX], in.gpr[V3N_RAX]);
}

static void t_pf_and_gp(void **st)
{
    (void)st;
    static const uint8_t code[] = { 0x8b, 0x03 };           /* mov eax, [rbx] */
    struct v3n_state in; struct v3n_result r;
    setup_state(&in);
    in.gpr[V3N_RBX] = 0x1000;                               /* unmapped */
    assert_int_equal(v3n_run(code, sizeof(code), &in, 0, &r), 0);
    assert_int_equal(r.vector, 14);
    assert_int_equal(r.fault_addr, 0x1000);
    in.gpr[V3N_RBX] = 0x8000000000000000ull;                /* non-canonical */
    assert_int_equal(v3n_run(code, sizeof(code), &in, 0, &r), 0);
    assert_int_equal(r.vector, 13);
    static const uint8_t ud[] = { 0x0f, 0x0b };              /* ud2 */
    assert_int_equal(v3n_run(ud, sizeof(ud), &in, 0, &r), 0);
    assert_int_equal(r.vector, 6);
}

static void t_fs_gs_xmm_mmx(void **st)
{
    (void)st;
    /* mov rax, fs:[8]; mov rbx, gs:[16]; movdqu xmm3, [rcx]; movq mm2, [rcx+16]; paddb xmm0, xmm1 */
    static const uint8_t code[] = { 0x64, 0x48, 0x8b, 0x04, 0x25, 8, 0, 0, 0,
                                    0x65, 0x48, 0x8b, 0x1c, 0x25, 16, 0, 0, 0,
                                    0xf3, 0x0f, 0x6f, 0x19,
                                    0x0f, 0x6f, 0x51, 0x10,
                                    0x66, 0x0f, 0xfc, 0xc1 };
    struct v3n_state in; struct v3n_result r;
    uint64_t *m = (uint64_t *)(uintptr_t)SCR;
    for (int i = 0; i < 8; i++)
        m[i] = 0x0101010101010101ull * (uint64_t)(i + 1);
    setup_state(&in);
    in.fs_base = SCR;
    in.gs_base = SCR + 8;
    in.gpr[V3N_RCX] = SCR + 16;
    memset(in.xmm[0], 1, 16);
    memset(in.xmm[1], 2, 16);
    assert_int_equal(v3n_run(code, sizeof(code), &in, V3N_SET_FS | V3N_SET_GS | V3N_MMX, &r), 0);
    assert_int_equal(r.vector, -1);
    assert_int_equal(r.st.gpr[V3N_RAX], m[1]);
    assert_int_equal(r.st.gpr[V3N_RBX], m[3]);
    assert_memory_equal(r.st.xmm[3], &m[2], 16);
    assert_int_equal(r.st.mm[2], m[4]);
    for (int i = 0; i < 16; i++)
        assert_int_equal(r.st.xmm[0][i], 3);
    /* a fault with FS set must come back cleanly (TLS restored) */
    in.fs_base = 0x1000;
    assert_int_equal(v3n_run(code, sizeof(code), &in, V3N_SET_FS | V3N_SET_GS | V3N_MMX, &r), 0);
    assert_int_equal(r.vector, 14);
}

static void t_encoder(void **st)
{
    (void)st;
    struct v3n_insn x;
    struct v3n_mem m = { .base = V3N_R13, .index = V3N_R12 - 0, .scale = 4, .disp = 0, .disp_bytes = -1 };
    static const uint8_t op[] = { 0x89 };
    /* mov [r13+r12*4+0], r9 : 4f 89 4c a5 00 */
    assert_int_equal(v3n_encode(&x, 64, NULL, 0, 8, false, op, 1, V3N_R9, -1, &m, 0, 0, 0), 0);
    static const uint8_t exp[] = { 0x4f, 0x89, 0x4c, 0xa5, 0x00 };
    assert_int_equal(x.len, 5);
    assert_memory_equal(x.b, exp, 5);
    /* mov eax, [rip+X] */
    struct v3n_mem mr = { .base = V3N_RIPREL, .index = V3N_NOREG, .disp = 0x1000 };
    static const uint8_t op8b[] = { 0x8b };
    assert_int_equal(v3n_encode(&x, 64, NULL, 0, 0, false, op8b, 1, 0, -1, &mr, 0, 0, 0x800), 0);
    static const uint8_t exp2[] = { 0x8b, 0x05, 0xfa, 0x07, 0, 0 };
    assert_memory_equal(x.b, exp2, 6);
    /* 16-bit: mov ax, [bp+si+0x12] -> 8b 42 12 */
    struct v3n_mem m16 = { .rm16 = 2, .disp = 0x12, .disp_bytes = -1 };
    assert_int_equal(v3n_encode(&x, 16, NULL, 0, 0, false, op8b, 1, 0, -1, &m16, 0, 0, 0), 0);
    static const uint8_t exp3[] = { 0x8b, 0x42, 0x12 };
    assert_int_equal(x.len, 3);
    assert_memory_equal(x.b, exp3, 3);
}

int main(void)
{
    if (v3n_init() || v3n_map_fixed(SCR, 0x3000))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_add_flags),
        cmocka_unit_test(t_flags_in_df),
        cmocka_unit_test(t_div_zero),
        cmocka_unit_test(t_pf_and_gp),
        cmocka_unit_test(t_fs_gs_xmm_mmx),
        cmocka_unit_test(t_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
