/* SPDX-License-Identifier: MIT */
/*
 * CPU findings, each against the architecture manuals: one MAXPHYADDR for
 * CPUID and the page walker (a PTE bit at or above it is #PF with RSVD),
 * 1 GiB pages reported, LGDT/LLDT with a non-canonical base (#GP; AMD APM
 * vol. 3 LGDT/LLDT/LTR), far JMP/CALL to a system descriptor that is
 * neither a call gate nor a TSS (#GP(selector), SDM JMP/CALL), SYSENTER/
 * SYSEXIT in long mode on the AMD model (#UD).
 */
#include "emu_util.h"
#include <v3/cpu.h>

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define CODEB(...) code(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

#define GDT (DATA + 0x800)

static void desc16(unsigned sel, unsigned type, uint64_t base, unsigned s_bit)
{
    uint64_t lo = 0xffff | ((base & 0xffffff) << 16) | ((uint64_t)type << 40) |
                  ((uint64_t)s_bit << 44) | (1ull << 47) | (((base >> 24) & 0xff) << 56);
    uint64_t hi = base >> 32;
    memcpy(ram + GDT + sel, &lo, 8);
    memcpy(ram + GDT + sel + 8, &hi, 8);
}

static void setup_gdt(void)
{
    memset(ram + GDT, 0, 0x100);
    uint64_t code64 = 0x00af9b000000ffffull;
    memcpy(ram + GDT + 8, &code64, 8);
    desc16(0x20, 0x2, 0x0000800000001000ull, 0);    /* LDT, non-canonical base */
    desc16(0x30, 0xe, 0, 0);                        /* 64-bit interrupt gate */
    desc16(0x40, 0x0, 0, 0);                        /* reserved system type 0 */
    desc16(0x50, 0x2, 0x1000, 0);                   /* LDT, canonical */
    desc16(0x60, 0x2, 0x1000, 0);                   /* LDT whose upper type field is not 0 */
    ram[GDT + 0x60 + 8 + 5] = 0x0d;
    core->gdtr.base = GDT;
    core->gdtr.limit = 0xff;
}

static void t_maxphyaddr(void **s)
{
    (void)s;
    uint32_t o[4];
    v3_cpu_cpuid(core, 0x80000008u, 0, o);
    assert_int_equal(o[0] & 0xff, 40);
    assert_int_equal((o[0] >> 8) & 0xff, 48);
    v3_cpu_cpuid(core, 0x80000001u, 0, o);
    assert_true(o[3] & (1u << 26));                /* 1 GiB pages */
    /* bit 40 of a PTE: reserved with MAXPHYADDR 40 -> #PF, P | RSVD */
    uint64_t *pt = (uint64_t *)(ram + 0x4000);
    pt[0x30] |= 1ull << 40;
    v3_tlb_flush_all(core);
    CODEB(0x48, 0x8b, 0x03);                       /* mov rax, [rbx] */
    core->gpr[V3_RBX] = 0x30008;
    run();
    ASSERT_EXC(V3_EXC_PF);
    assert_int_equal(res.exc.error_code, V3_PF_P | V3_PF_RSVD);
    assert_int_equal(res.exc.cr2, 0x30008);
    /* the same in a PDE (non-leaf): bit 51 */
    pt[0x30] &= ~(1ull << 40);
    uint64_t *pd = (uint64_t *)(ram + 0x3000);
    pd[0] |= 1ull << 51;
    v3_tlb_flush_all(core);
    run();
    ASSERT_EXC(V3_EXC_PF);
    assert_true(res.exc.error_code & V3_PF_RSVD);
    pd[0] &= ~(1ull << 51);
    v3_tlb_flush_all(core);
    assert_int_equal(run(), V3_OK);
}

static void t_lgdt_lldt_canonical(void **s)
{
    (void)s;
    uint8_t m[10];
    uint16_t lim = 0x7f;
    uint64_t base = 0x0000800000000000ull;
    memcpy(m, &lim, 2);
    memcpy(m + 2, &base, 8);
    memcpy(ram + DATA, m, 10);
    CODEB(0x0f, 0x01, 0x13);                       /* lgdt [rbx] */
    core->gpr[V3_RBX] = DATA;
    run();
    ASSERT_EXC(V3_EXC_GP);
    assert_int_equal(res.exc.error_code, 0);
    base = 0xffff800000000000ull;
    memcpy(ram + DATA + 2, &base, 8);
    CODEB(0x0f, 0x01, 0x1b);                       /* lidt [rbx] */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->idtr.base, base);

    setup_gdt();
    CODEB(0x0f, 0x00, 0xd0);                       /* lldt ax */
    static const struct { uint16_t sel; int ok; } cases[] = {
        { 0x20, 0 }, { 0x60, 0 }, { 0x30, 0 }, { 0x50, 1 },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        core->rip = CODE;
        core->gpr[V3_RAX] = cases[i].sel;
        if (cases[i].ok) {
            assert_int_equal(run(), V3_OK);
            assert_int_equal(core->seg[V3_LDTR].base, 0x1000);
        } else {
            run();
            ASSERT_EXC(V3_EXC_GP);
            assert_int_equal(res.exc.error_code, cases[i].sel);
        }
    }
}

static void t_far_jmp_system(void **s)
{
    (void)s;
    setup_gdt();
    static const uint16_t sels[] = { 0x20, 0x30, 0x40, 0x50 };
    for (unsigned call = 0; call < 2; call++) {
        for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
            uint32_t off = 0x1234;
            memcpy(ram + DATA, &off, 4);
            memcpy(ram + DATA + 4, &sels[i], 2);
            if (call)
                CODEB(0xff, 0x1b);                 /* call far [rbx] (m16:32) */
            else
                CODEB(0xff, 0x2b);                 /* jmp far [rbx] */
            core->rip = CODE;
            core->gpr[V3_RBX] = DATA;
            core->gpr[V3_RSP] = DATA + 0x700;
            run();
            ASSERT_EXC(V3_EXC_GP);
            assert_int_equal(res.exc.error_code, sels[i]);
            assert_int_equal(core->rip, CODE);
        }
    }
}

/* AMD (the default model): SYSENTER and SYSEXIT are #UD in long mode (AMD APM
 * vol. 3); Intel allows them (the software-CPU tests run the Intel path). */
static void t_sysenter_amd_long(void **s)
{
    (void)s;
    core->sysenter_cs = 0x08;
    CODEB(0x0f, 0x34);                             /* sysenter */
    run();
    ASSERT_EXC(V3_EXC_UD);
    CODEB(0x0f, 0x35);                             /* sysexit */
    run();
    ASSERT_EXC(V3_EXC_UD);
    assert_int_equal(core->rip, CODE);
}

/* AMD legacy-mode SYSCALL (APM vol. 3): ECX = next EIP, CS = STAR[47:32],
 * SS = CS + 8, EIP = STAR[31:0], IF/RF/VM cleared, CPL 0; SYSRET back. */
static void t_syscall_legacy_amd(void **s)
{
    (void)s;
    set_mode(32);
    core->efer = V3_EFER_SCE;
    core->star = 0x0000000812345678ull;
    core->cpl = 3;
    core->seg[V3_CS].selector = 0x1b;
    v3_core_set_rflags(core, 0x202 | V3_FLAG_RF);
    CODEB(0x0f, 0x05);                             /* syscall */
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->rip, 0x12345678);
    assert_int_equal(core->gpr[V3_RCX], CODE + 2);
    assert_int_equal(core->seg[V3_CS].selector, 0x08);
    assert_int_equal(core->seg[V3_SS].selector, 0x10);
    assert_int_equal(core->cpl, 0);
    assert_int_equal(v3_core_get_rflags(core) & (V3_FLAG_IF | V3_FLAG_RF), 0);
    assert_int_equal(core->mode, V3_MODE_PROT32);
    /* SYSRET back: CS = STAR[63:48] | 3, SS = CS + 8, EIP = ECX, IF set, CPL 3 */
    core->star |= 0x0023ull << 48;
    core->rip = CODE;
    CODEB(0x0f, 0x07);                             /* sysret */
    core->gpr[V3_RCX] = 0x4000;
    assert_int_equal(run(), V3_OK);
    assert_int_equal(core->rip, 0x4000);
    assert_int_equal(core->seg[V3_CS].selector, 0x23);
    assert_int_equal(core->seg[V3_SS].selector, 0x2b);
    assert_int_equal(core->cpl, 3);
    assert_true(v3_core_get_rflags(core) & V3_FLAG_IF);
    /* EFER.SCE clear: #UD */
    set_mode(32);
    CODEB(0x0f, 0x05);
    run();
    ASSERT_EXC(V3_EXC_UD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_maxphyaddr, reset),
        cmocka_unit_test_setup(t_lgdt_lldt_canonical, reset),
        cmocka_unit_test_setup(t_far_jmp_system, reset),
        cmocka_unit_test_setup(t_sysenter_amd_long, reset),
        cmocka_unit_test_setup(t_syscall_legacy_amd, reset),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
