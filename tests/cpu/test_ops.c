/* SPDX-License-Identifier: MIT */
/*
 * Software CPU: instruction families the differential tests cannot reach
 * (far transfers, CPUID and its exit, RDTSC determinism, FXSAVE/FXRSTOR,
 * #UD for undefined opcodes) and the back-end boundary (event injection,
 * argument errors), with values checked against the architecture manuals.
 */
#include <stdio.h>
#include <stdlib.h>
#include "v3test.h"
#include "guest64.h"

/* A real-mode guest: 1 MiB RAM, CS = DS = SS = 0. */
static struct v3_vm *real_vm(struct v3_core **core, uint8_t **ram)
{
    struct v3_vm_config cfg;
    void *hva;
    struct v3_vm *vm;
    struct v3_core *c;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1u << 20;
    cfg.backend_ops = &v3_emu_backend;
    cfg.clock = V3_CLOCK_VIRTUAL;     /* the TSC follows the instruction count */
    vm = v3_create_vm(&cfg, NULL);
    assert_non_null(vm);
    c = v3_get_core(vm, 0);
    assert_int_equal(v3_gpa_to_hva(vm, 0, &hva), 0);
    for (int s = 0; s < 6; s++) {
        c->seg[s].selector = 0;
        c->seg[s].base = 0;
    }
    c->gpr[V3_RSP] = 0x7000;
    v3_core_update_mode(c);
    v3_tlb_flush_all(c);
    *core = c;
    *ram = hva;
    return vm;
}

static void test_far_real(void **state)
{
    struct v3_core *c;
    uint8_t *ram;
    struct v3_vm *vm = real_vm(&c, &ram);
    struct v3_exit ex;
    /* 0x1000: jmp far 0x0200:0x0010  (-> linear 0x2010)
     * 0x2010: call far 0x0300:0x0000 ; mov ax, cs ; hlt
     * 0x3000: mov bx, cs ; retf */
    static const uint8_t a[] = { 0xea, 0x10, 0x00, 0x00, 0x02 };
    static const uint8_t b[] = { 0x9a, 0x00, 0x00, 0x00, 0x03, 0x8c, 0xc8, 0xf4 };
    static const uint8_t d[] = { 0x8c, 0xcb, 0xcb };
    (void)state;
    memcpy(ram + 0x1000, a, sizeof(a));
    memcpy(ram + 0x2010, b, sizeof(b));
    memcpy(ram + 0x3000, d, sizeof(d));
    c->rip = 0x1000;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(c, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(c->seg[V3_CS].selector, 0x200);
    assert_int_equal(c->seg[V3_CS].base, 0x2000);
    assert_int_equal(c->rip, 0x18);                 /* past the HLT at 0x17 */
    assert_int_equal(c->gpr[V3_RBX] & 0xffff, 0x300);
    assert_int_equal(c->gpr[V3_RAX] & 0xffff, 0x200);
    assert_int_equal(c->gpr[V3_RSP] & 0xffff, 0x7000);
    v3_free_vm(vm);
}

static void test_real_mode_bcd_loop(void **state)
{
    struct v3_core *c;
    uint8_t *ram;
    struct v3_vm *vm = real_vm(&c, &ram);
    struct v3_exit ex;
    /* BCD counter: al = 0x00; cx = 123; L: add al, 1; daa; adc ah, 0 (carry into ah) ... loop L; hlt
     *   b0 00 / b9 7b 00 / 04 01 / 27 / 80 d4 00 / e2 f7 / f4 */
    static const uint8_t code[] = { 0xb0, 0x00, 0xb4, 0x00, 0xb9, 0x7b, 0x00, 0x04, 0x01, 0x27, 0x80, 0xd4, 0x00,
                                    0xe2, 0xf8, 0xf4 };
    (void)state;
    memcpy(ram + 0x1000, code, sizeof(code));
    c->rip = 0x1000;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(c, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(c->gpr[V3_RAX] & 0xffff, 0x0123);    /* 123 in packed BCD */
    v3_free_vm(vm);
}

/* An instruction that runs past the CS limit raises #GP (real mode: limit 0xffff). */
static void test_cs_limit(void **state)
{
    struct v3_core *c;
    uint8_t *ram;
    struct v3_vm *vm = real_vm(&c, &ram);
    struct v3_exit ex;
    (void)state;
    ram[13 * 4] = 0x00; ram[13 * 4 + 1] = 0x50; ram[13 * 4 + 2] = 0; ram[13 * 4 + 3] = 0;   /* IVT[13] = 0:5000 */
    ram[0x5000] = 0xf4;
    ram[0xfffc] = 0x90;                                   /* nop, then mov ax, imm16 across the limit */
    ram[0xfffd] = 0x90;
    ram[0xfffe] = 0xb8; ram[0xffff] = 0x34; ram[0x10000] = 0x12;
    c->rip = 0xfffc;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(c, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(ex.insn_rip, 0x5000);
    assert_int_equal(c->gpr[V3_RAX] & 0xffff, 0);          /* the MOV did not run */
    v3_free_vm(vm);
}

static void test_cpuid_exit_and_rdtsc(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    struct v3_cpu_model m;
    /* cpuid ; rdtsc ; hlt */
    static const uint8_t code[] = { 0x0f, 0xa2, 0x0f, 0x31, 0xf4 };
    uint64_t t1, t2;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    memcpy(g64_ptr(&g, 0x20001000), code, sizeof(code));
    v3_cpu_default_model(&m);
    m.exit_leaves = 1u << 1;
    assert_int_equal(v3_cpu_set_model(g.core, &m), 0);
    g.core->gpr[V3_RAX] = 1;
    g.core->rip = 0x20001000;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_CPUID);
    assert_int_equal(ex.cpuid.leaf, 1);
    assert_int_equal(ex.insn_rip, 0x20001000);
    assert_int_equal(g.core->rip, 0x20001002);
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    t1 = (g.core->gpr[V3_RDX] << 32) | (uint32_t)g.core->gpr[V3_RAX];
    /* same again from the same instruction count: same TSC */
    g.core->insn_count -= 2;                        /* RDTSC and HLT */
    g.core->rip = 0x20001002;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    t2 = (g.core->gpr[V3_RDX] << 32) | (uint32_t)g.core->gpr[V3_RAX];
    assert_int_equal(t1, t2);
    m.max_leaf = 0;
    assert_int_equal(v3_cpu_set_model(g.core, &m), V3_EINVAL);
    assert_int_equal(v3_cpu_set_model(NULL, &m), V3_EINVAL);
    v3_free_vm(g.vm);
}

static void test_fxsave_roundtrip(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    /* fxsave64 [rdi] ; pxor xmm3, xmm3 ; ldmxcsr [rsi] ; fxrstor64 [rdi] ; stmxcsr [rsi+4] ; hlt */
    static const uint8_t code[] = { 0x48, 0x0f, 0xae, 0x07, 0x66, 0x0f, 0xef, 0xdb, 0x0f, 0xae, 0x16,
                                    0x48, 0x0f, 0xae, 0x0f, 0x0f, 0xae, 0x5e, 0x04, 0xf4 };
    uint8_t x3[16];
    uint32_t mx = 0x3f80, out;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    memcpy(g64_ptr(&g, 0x20001000), code, sizeof(code));
    memcpy(g64_ptr(&g, 0x20020000), &mx, 4);
    for (int i = 0; i < 16; i++) x3[i] = (uint8_t)(0xa0 + i);
    memcpy(g.core->fpu.xmm[3], x3, 16);
    g.core->gpr[V3_RDI] = 0x20010000;
    g.core->gpr[V3_RSI] = 0x20020000;
    g.core->rip = 0x20001000;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_memory_equal(g.core->fpu.xmm[3], x3, 16);
    assert_memory_equal(g64_ptr(&g, 0x20010000) + 160 + 3 * 16, x3, 16);   /* XMM3 image */
    memcpy(&out, g64_ptr(&g, 0x20020004), 4);
    assert_int_equal(out, 0x1f80);                  /* FXRSTOR restored the saved MXCSR */
    /* misaligned FXSAVE area: #GP(0), nothing written */
    memset(g64_ptr(&g, 0x20010008), 0xee, 600);
    g.core->gpr[V3_RDI] = 0x20010008;
    g.core->rip = 0x20001000;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    assert_true(ex.reason != V3_EXIT_HLT);
    assert_int_equal(g64_ptr(&g, 0x20010008)[0], 0xee);
    v3_free_vm(g.vm);
}

/*
 * A store that straddles two pages, the second not present: #PF on the
 * second page (CR2), and no trace of the access on the first: its PTE and
 * PDE keep A/D clear and no byte is written (v3/paging.h: a faulting
 * access sets no A/D bit).  Then the same store with both pages present
 * sets A on every entry, D on both PTEs, and writes all four bytes.
 */
/* mov [rdi], eax ; hlt with RDI = 0x20400ffe: PD index 258 -> PT at 0x5000, pages 0 and 1. */
static void straddle_setup(struct g64 *g, uint64_t pte1)
{
    static const uint8_t code[] = { 0x89, 0x07, 0xf4 };
    uint64_t *pd, *pt;
    assert_int_equal(g64_init(g), 0);
    pd = (uint64_t *)(g->ram + 0x3000);
    pt = (uint64_t *)(g->ram + 0x5000);
    pd[258] = 0x5000 | 3;
    pt[0] = 0x300000 | 3;
    pt[1] = pte1;
    memset(g->ram + 0x300ff0, 0xee, 0x20);
    memcpy(g64_ptr(g, 0x20001000), code, sizeof(code));
    g->core->gpr[V3_RDI] = 0x20400ffe;
    g->core->gpr[V3_RAX] = 0x44332211;
    g->core->rip = 0x20001000;
}

static void test_straddling_store_fault(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    uint64_t *pd, *pt;
    (void)state;
    straddle_setup(&g, 0);                          /* second page not present */
    pd = (uint64_t *)(g.ram + 0x3000);
    pt = (uint64_t *)(g.ram + 0x5000);
    v3_emu_backend.run(g.core, &ex);
    assert_true(ex.reason == V3_EXIT_SHUTDOWN || ex.reason == V3_EXIT_ERROR);   /* no IDT: #PF escalates */
    assert_int_equal(g.core->cr2, 0x20401000);      /* the second page faulted */
    assert_int_equal(pd[258], 0x5000 | 3);          /* no A */
    assert_int_equal(pt[0], 0x300000 | 3);          /* no A, no D */
    assert_int_equal(pt[1], 0);
    for (int i = 0; i < 0x20; i++)
        assert_int_equal(g.ram[0x300ff0 + i], 0xee);
    v3_free_vm(g.vm);

    /* both pages present: the store completes and marks both */
    straddle_setup(&g, 0x301000 | 3);
    pd = (uint64_t *)(g.ram + 0x3000);
    pt = (uint64_t *)(g.ram + 0x5000);
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(pd[258], 0x5000 | 3 | 0x20);
    assert_int_equal(pt[0], 0x300000 | 3 | 0x60);
    assert_int_equal(pt[1], 0x301000 | 3 | 0x60);
    assert_int_equal(g.ram[0x300ffd], 0xee);
    assert_int_equal(g.ram[0x300ffe], 0x11);
    assert_int_equal(g.ram[0x300fff], 0x22);
    assert_int_equal(g.ram[0x301000], 0x33);
    assert_int_equal(g.ram[0x301001], 0x44);
    assert_int_equal(g.ram[0x301002], 0xee);
    v3_free_vm(g.vm);
}

static void test_ud(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    /* 0f 04 is undefined; f0 90 is LOCK NOP (#UD); both must not run on */
    static const uint8_t c1[] = { 0x0f, 0x04, 0xf4 };
    static const uint8_t c2[] = { 0xf0, 0x90, 0xf4 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    memcpy(g64_ptr(&g, 0x20001000), c1, sizeof(c1));
    memcpy(g64_ptr(&g, 0x20001100), c2, sizeof(c2));
    g.core->rip = 0x20001000;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    assert_true(ex.reason == V3_EXIT_SHUTDOWN || ex.reason == V3_EXIT_ERROR);   /* no IDT: #UD escalates */
    g.core->rip = 0x20001100;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g.core, &ex);
    assert_true(ex.reason == V3_EXIT_SHUTDOWN || ex.reason == V3_EXIT_ERROR);
    v3_free_vm(g.vm);
}

static void test_inject_real(void **state)
{
    struct v3_core *c;
    uint8_t *ram;
    struct v3_vm *vm = real_vm(&c, &ram);
    struct v3_exit ex;
    struct v3_event ev = { .type = V3_EVENT_INTERRUPT, .vector = 0x20 };
    /* IVT[0x20] = 0000:0x4000 (hlt); main: sti; L: jmp L */
    static const uint8_t code[] = { 0xfb, 0xeb, 0xfe };
    (void)state;
    ram[0x80] = 0x00; ram[0x81] = 0x40; ram[0x82] = 0; ram[0x83] = 0;
    ram[0x4000] = 0xf4;
    memcpy(ram + 0x1000, code, sizeof(code));
    c->rip = 0x1000;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    assert_int_equal(v3_cpu_set_insn_limit(c, 1000), 0);
    v3_emu_backend.run(c, &ex);
    assert_int_equal(ex.reason, V3_EXIT_INSN_LIMIT);
    assert_int_equal(v3_emu_backend.inject(c, &ev), 0);
    assert_int_equal(v3_emu_backend.inject(c, &ev), V3_EBUSY);      /* one at a time */
    assert_int_equal(v3_cpu_set_insn_limit(c, 0), 0);
    v3_emu_backend.run(c, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(ex.insn_rip, 0x4000);
    assert_int_equal(c->gpr[V3_RSP] & 0xffff, 0x7000 - 6);         /* FLAGS, CS, IP pushed */
    assert_int_equal(v3_emu_backend.inject(NULL, &ev), V3_EINVAL);
    assert_int_equal(v3_emu_backend.run(NULL, &ex), V3_EINVAL);
    v3_free_vm(vm);
}

/* RFLAGS.RF is clear after the next instruction completes (SDM 17.3.1.1). */
static void test_rf_cleared(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    static const uint8_t code[] = { 0x90, 0x90, 0xf4 };   /* nop ; nop ; hlt */
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    memcpy(g64_ptr(&g, 0x20001000), code, sizeof(code));
    g.core->rip = 0x20001000;
    g.core->rflags |= V3_FLAG_RF;
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_HLT);
    assert_int_equal(g.core->rflags & V3_FLAG_RF, 0);
    v3_free_vm(g.vm);
}

/*
 * Two- and three-operand IMUL (register and memory sources, 16/32/64 bits):
 * the low half of the product, CF = OF = "the product does not fit" (SDM
 * Vol. 2A, IMUL), and SF, ZF, AF, PF as the instruction before left them
 * (undefined by the SDM; v3vmm keeps them, see src/emu/flags.c).  The
 * instruction before is a CMP or SUB whose flags follow from its definition.
 */
struct imul_case {
    const char *name;
    uint8_t code[40];
    unsigned len;
    uint64_t rcx;          /* expected RCX after the IMUL */
    uint64_t flags;        /* expected CF PF AF ZF SF OF */
};

static void test_imul_flags(void **state)
{
    static const struct imul_case cases[] = {
        /* mov eax,1; mov ebx,2; mov ecx,0x10000; mov edx,0x10000; cmp eax,ebx; imul ecx,edx:
           CMP 1-2 = 0xffffffff: CF SF AF PF; 2^32 does not fit in 32 bits: CF OF */
        { "imul r32, r32", { 0xb8, 1, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0xb9, 0, 0, 1, 0, 0xba, 0, 0, 1, 0,
                             0x39, 0xd8, 0x0f, 0xaf, 0xca, 0xf4 }, 26, 0,
          V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_SF | V3_FLAG_AF | V3_FLAG_PF },
        /* mov ecx,5; mov edx,-1; sub eax,eax; imul rcx,rdx,3: SUB leaves ZF PF;
           RDX = 0xffffffff (zero-extended by the MOV) * 3 fits in 64 bits */
        { "imul r64, r64, imm8", { 0xb9, 5, 0, 0, 0, 0xba, 0xff, 0xff, 0xff, 0xff, 0x29, 0xc0,
                                   0x48, 0x6b, 0xca, 0x03, 0xf4 }, 17, 0x2fffffffdull,
          V3_FLAG_ZF | V3_FLAG_PF },
        /* mov rcx,-1 (sign-extended imm32); mov cx,0x100; mov dx,0x100; sub eax,eax; imul cx,dx:
           0x10000 does not fit in 16 bits; bits 63:16 of RCX kept */
        { "imul r16, r16", { 0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, 0x66, 0xb9, 0, 1, 0x66, 0xba, 0, 1,
                             0x29, 0xc0, 0x66, 0x0f, 0xaf, 0xca, 0xf4 }, 22, 0xffffffffffff0000ull,
          V3_FLAG_CF | V3_FLAG_OF | V3_FLAG_ZF | V3_FLAG_PF },
        /* mov edi,0x20002000; mov ecx,-3; mov eax,2; cmp eax,eax; imul rcx,[rdi] ([rdi] = -7):
           CMP equal: ZF PF; -3 (zero-extended: 0xfffffffd) * -7 fits */
        { "imul r64, m64", { 0xbf, 0x00, 0x20, 0x00, 0x20, 0xb9, 0xfd, 0xff, 0xff, 0xff, 0xb8, 2, 0, 0, 0,
                             0x39, 0xc0, 0x48, 0x0f, 0xaf, 0x0f, 0xf4 }, 22, (uint64_t)(0xfffffffdll * -7),
          V3_FLAG_ZF | V3_FLAG_PF },
        /* mov edi,0x20002000; mov eax,0; cmp eax,1; imul ecx,[rdi],0x7f ([rdi] low half = -7):
           CMP 0-1 = 0xffffffff: SF AF PF (and CF, which the IMUL clears: -889 fits in 32 bits) */
        { "imul r32, m32, imm8", { 0xbf, 0x00, 0x20, 0x00, 0x20, 0xb8, 0, 0, 0, 0, 0x83, 0xf8, 0x01,
                                   0x6b, 0x0f, 0x7f, 0xf4 }, 17, (uint32_t)-889,
          V3_FLAG_SF | V3_FLAG_AF | V3_FLAG_PF },
        /* mov eax,1; mov ebx,2; mov ecx,0x10000; mov edx,0x10000; cmp eax,ebx; imul ecx,edx;
           imul ecx,ebx: the first IMUL overflows, the second (0 * 2) does not: CF OF clear,
           SF AF PF still from the CMP */
        { "imul r32, r32 twice", { 0xb8, 1, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0xb9, 0, 0, 1, 0, 0xba, 0, 0, 1, 0,
                                   0x39, 0xd8, 0x0f, 0xaf, 0xca, 0x0f, 0xaf, 0xcb, 0xf4 }, 29, 0,
          V3_FLAG_SF | V3_FLAG_AF | V3_FLAG_PF },
        /* mov ecx,0x10001; mov edx,0x10000; cmp eax,eax; imul ecx,edx (overflows);
           imul ecx,edx,3; add edx,edx: RCX = 0x10000 * 3; the flags are the ADD's
           (0x20000: only PF, the low byte has no bit set) */
        { "imul then add", { 0xb9, 1, 0, 1, 0, 0xba, 0, 0, 1, 0, 0x39, 0xc0, 0x0f, 0xaf, 0xca,
                             0x6b, 0xca, 0x03, 0x01, 0xd2, 0xf4 }, 21, 0x30000,
          V3_FLAG_PF },
    };
    const uint64_t arith = V3_FLAG_CF | V3_FLAG_PF | V3_FLAG_AF | V3_FLAG_ZF | V3_FLAG_SF | V3_FLAG_OF;
    (void)state;
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct imul_case *k = &cases[i];
        struct g64 g;
        struct v3_exit ex;
        int64_t m = -7;
        {
            assert_int_equal(g64_init(&g), 0);
            memcpy(g64_ptr(&g, 0x20001000), k->code, k->len);
            memcpy(g64_ptr(&g, 0x20002000), &m, 8);
            g.core->rip = 0x20001000;
            v3_emu_backend.run(g.core, &ex);
            if (!g64_halted_at(&ex, 0x20001000 + k->len - 1) || g.core->gpr[V3_RCX] != k->rcx ||
                (v3_core_get_rflags(g.core) & arith) != k->flags)
                fprintf(stderr, "%s: exit %d at %#llx, rcx %#llx (want %#llx), flags %#llx (want %#llx)\n",
                        k->name, ex.reason, (unsigned long long)ex.insn_rip,
                        (unsigned long long)g.core->gpr[V3_RCX], (unsigned long long)k->rcx,
                        (unsigned long long)(v3_core_get_rflags(g.core) & arith), (unsigned long long)k->flags);
            assert_true(g64_halted_at(&ex, 0x20001000 + k->len - 1));
            assert_int_equal(g.core->gpr[V3_RCX], k->rcx);
            assert_int_equal(v3_core_get_rflags(g.core) & arith, k->flags);
            v3_free_vm(g.vm);
        }
    }
}

/*
 * FS- and GS-relative loads, stores and ALU sources in 64-bit mode: the
 * linear address is the segment base plus the offset (SDM Vol. 3A, 3.4.4;
 * without the base the offsets 0x10..0x18 are unmapped here and fault).  The
 * loop runs twice, so the second pass hits the software TLB.
 */
static void test_fs_gs_memory(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    static const uint8_t code[] = {
        0xbf, 0x10, 0, 0, 0,                /* mov edi, 0x10 */
        0xba, 0x02, 0, 0, 0,                /* mov edx, 2 */
        0x65, 0x48, 0x8b, 0x07,             /* L: mov rax, gs:[rdi] */
        0x64, 0x48, 0x89, 0x07,             /* mov fs:[rdi], rax */
        0x65, 0x0f, 0xb6, 0x4f, 0x01,       /* movzx ecx, byte gs:[rdi+1] */
        0x65, 0x48, 0x03, 0x47, 0x08,       /* add rax, gs:[rdi+8] */
        0xff, 0xca,                         /* dec edx */
        0x75, 0xea,                         /* jnz L */
        0xf4,                               /* hlt */
    };
    uint64_t v = 0x1122334455667788ull, w = 0x100, got;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    memcpy(g64_ptr(&g, 0x20001000), code, sizeof(code));
    memcpy(g64_ptr(&g, 0x20002010), &v, 8);
    memcpy(g64_ptr(&g, 0x20002018), &w, 8);
    g.core->seg[V3_GS].base = 0x20002000;
    g.core->seg[V3_FS].base = 0x20003000;
    g.core->rip = 0x20001000;
    v3_emu_backend.run(g.core, &ex);
    assert_true(g64_halted_at(&ex, 0x20001000 + sizeof(code) - 1));
    assert_int_equal(g.core->gpr[V3_RAX], v + w);
    assert_int_equal(g.core->gpr[V3_RCX], (v >> 8) & 0xff);
    memcpy(&got, g64_ptr(&g, 0x20003010), 8);
    assert_int_equal(got, v);
    v3_free_vm(g.vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_far_real),
        cmocka_unit_test(test_real_mode_bcd_loop),
        cmocka_unit_test(test_cs_limit),
        cmocka_unit_test(test_cpuid_exit_and_rdtsc),
        cmocka_unit_test(test_fxsave_roundtrip),
        cmocka_unit_test(test_ud),
        cmocka_unit_test(test_rf_cleared),
        cmocka_unit_test(test_imul_flags),
        cmocka_unit_test(test_fs_gs_memory),
        cmocka_unit_test(test_straddling_store_fault),
        cmocka_unit_test(test_inject_real),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
