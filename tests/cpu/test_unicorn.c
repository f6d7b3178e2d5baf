/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the software CPU against Unicorn 2 in 32-bit
 * protected mode (flat segments, no paging) and 16-bit real mode: random
 * sequences of general-purpose (and, in 32-bit code, SSE2) instructions
 * with forward branches, calls, pushes and BCD adjustments, memory operands
 * in a scratch buffer addressed through EBP/BP.  Registers, defined flags,
 * XMM0-7 and scratch/stack memory are compared after every sequence.
 * --cases N for long runs, --seed S to reproduce one sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>
#include "v3test.h"
#include "x64seq.h"
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

static long n_cases = 8000;
static uint64_t seed0 = 0x1c0de;

struct layout { int bits; uint64_t code, scratch, stack_top; };
static const struct layout L32 = { 32, 0x1000, 0x10000, 0x12000 };
static const struct layout L16 = { 16, 0x1000, 0x4000, 0x6000 };
#define DATA 0x2000u       /* scratch + stack, random */
#define ABOVE 0x1000u      /* zeroed page above the stack: ENTER frames address it through BP */

static const int ucregs[8] = { UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
                               UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI };

struct vmg { struct v3_vm *vm; struct v3_core *core; uint8_t *ram; };

static void vm_setup(struct vmg *g, int bits)
{
    struct v3_vm_config cfg;
    void *hva;
    struct v3_core *c;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 2u << 20;
    cfg.backend_ops = &v3_emu_backend;
    g->vm = v3_create_vm(&cfg, NULL);
    assert_non_null(g->vm);
    g->core = c = v3_get_core(g->vm, 0);
    assert_int_equal(v3_gpa_to_hva(g->vm, 0, &hva), 0);
    g->ram = hva;
    c->cr4 = V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
    for (int s = 0; s < 6; s++) {
        c->seg[s].base = 0;
        c->seg[s].selector = 0;
    }
    if (bits == 32) {
        c->cr0 = V3_CR0_PE | V3_CR0_ET | V3_CR0_NE | V3_CR0_MP;
        for (int s = 0; s < 6; s++) {
            c->seg[s].limit = 0xffffffff;
            c->seg[s].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_DB | V3_SEG_G | (s == V3_CS ? 0xb : 0x3);
            c->seg[s].selector = s == V3_CS ? 8 : 0x10;
        }
    } else {
        c->cr0 = V3_CR0_ET | V3_CR0_NE | V3_CR0_MP;
    }
    v3_core_update_mode(c);
    v3_tlb_flush_all(c);
}

static int run_case(uc_engine *uc, struct vmg *g, const struct layout *l, uint64_t seed, int verbose)
{
    uint64_t rng = seed;
    struct x64seq seq;
    struct x64seq_opts o = { .min_insns = 4, .max_insns = 24, .sse = l->bits == 32, .branches = 1,
                             .stack = 1, .bits = l->bits, .code_addr = l->code,
                             .scratch_addr = l->scratch, .scratch_size = 0x1000 };
    uint32_t regs[8], flags;
    uint8_t xmm[8][16], data[DATA + ABOVE], udata[DATA + ABOVE];
    struct v3_core *c = g->core;
    struct v3_exit ex;
    uc_err err;
    int bad = 0;
    uint32_t mask;

    x64seq_generate(&seq, &o, &rng);
    for (int i = 0; i < 8; i++) {
        uint64_t v = x64_rand(&rng);
        regs[i] = (uint32_t)((x64_rand(&rng) & 1) ? v & 0xff : v);
    }
    regs[4] = (uint32_t)(l->stack_top - 0x200);
    regs[5] = (uint32_t)l->scratch;
    flags = 0x2 | (uint32_t)(x64_rand(&rng) & 0x8d5);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 16; j += 8) {
            uint64_t v = x64_rand(&rng);
            memcpy(&xmm[i][j], &v, 8);
        }
    for (unsigned i = 0; i < DATA; i += 8) {
        uint64_t v = x64_rand(&rng);
        memcpy(data + i, &v, 8);
    }
    memset(data + DATA, 0, ABOVE);

    /* Unicorn */
    uc_mem_write(uc, l->code, seq.code, seq.len);
    uc_ctl_remove_cache(uc, l->code, l->code + sizeof(seq.code));   /* Unicorn keeps translated code */
    uc_mem_write(uc, l->scratch, data, DATA + ABOVE);
    for (int i = 0; i < 8; i++) {
        uint64_t v = regs[i];
        uc_reg_write(uc, ucregs[i], &v);
    }
    {
        uint64_t f = flags;
        uc_reg_write(uc, UC_X86_REG_EFLAGS, &f);
    }
    if (l->bits == 32)
        for (int i = 0; i < 8; i++)
            uc_reg_write(uc, UC_X86_REG_XMM0 + i, xmm[i]);
    err = uc_emu_start(uc, l->code, l->code + seq.len, 0, 100000);
    if (err != UC_ERR_OK) {
        uint64_t eip = 0;
        uc_reg_read(uc, UC_X86_REG_EIP, &eip);
        fprintf(stderr, "seed %#llx (%d-bit): unicorn error %s at %#llx\n", (unsigned long long)seed, l->bits,
                uc_strerror(err), (unsigned long long)eip);
        x64seq_print(&seq, stderr);
        return 1;
    }

    /* v3 */
    memcpy(g->ram + l->code, seq.code, seq.len);
    g->ram[l->code + seq.len] = 0xf4;
    memcpy(g->ram + l->scratch, data, DATA + ABOVE);
    v3_cpu_invalidate_code(c, l->code & ~0xfffull, (l->code & ~0xfffull) + 0x2000);
    for (int i = 0; i < 8; i++)
        c->gpr[i] = regs[i];
    for (int i = 8; i < 16; i++)
        c->gpr[i] = 0;
    c->rip = l->code;
    c->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_core_set_rflags(c, flags);
    for (int i = 0; i < 8; i++)
        memcpy(c->fpu.xmm[i], xmm[i], 16);
    v3_emu_backend.run(c, &ex);
    if (ex.insn_rip != l->code + seq.len ||
        !(ex.reason == V3_EXIT_HLT || (ex.reason == V3_EXIT_ERROR && ex.error.code == V3_EUNSUPPORTED))) {
        fprintf(stderr, "seed %#llx (%d-bit): v3 exit %d code %d at %#llx\n", (unsigned long long)seed, l->bits,
                ex.reason, ex.error.code, (unsigned long long)ex.insn_rip);
        bad = 1;
    }
    if (!bad) {
        mask = 0x8d5 & ~(uint32_t)seq.undef_flags;
        for (int i = 0; i < 8; i++) {
            uint64_t v = 0;
            uc_reg_read(uc, ucregs[i], &v);
            if ((uint32_t)v != (uint32_t)c->gpr[i]) {
                fprintf(stderr, "seed %#llx (%d-bit): reg %d unicorn %#x v3 %#x\n", (unsigned long long)seed,
                        l->bits, i, (uint32_t)v, (uint32_t)c->gpr[i]);
                bad = 1;
            }
        }
        {
            uint64_t f = 0;
            uc_reg_read(uc, UC_X86_REG_EFLAGS, &f);
            if (((uint32_t)f & mask) != ((uint32_t)v3_core_get_rflags(c) & mask)) {
                fprintf(stderr, "seed %#llx (%d-bit): eflags unicorn %#x v3 %#x mask %#x\n",
                        (unsigned long long)seed, l->bits, (uint32_t)f, (uint32_t)v3_core_get_rflags(c), mask);
                bad = 1;
            }
        }
        if (l->bits == 32)
            for (int i = 0; i < 8; i++) {
                uint8_t x[16];
                uc_reg_read(uc, UC_X86_REG_XMM0 + i, x);
                if (memcmp(x, c->fpu.xmm[i], 16)) {
                    fprintf(stderr, "seed %#llx: xmm%d differs\n", (unsigned long long)seed, i);
                    bad = 1;
                }
            }
        uc_mem_read(uc, l->scratch, udata, DATA + ABOVE);
        for (unsigned i = 0; i < DATA + ABOVE; i++)
            if (udata[i] != g->ram[l->scratch + i]) {
                fprintf(stderr, "seed %#llx (%d-bit): memory +%#x unicorn %02x v3 %02x\n",
                        (unsigned long long)seed, l->bits, i, udata[i], g->ram[l->scratch + i]);
                bad = 1;
                break;
            }
    }
    if (bad || verbose) {
        struct v3_cpu_stats cs;
        v3_cpu_get_stats(c, &cs);
        fprintf(stderr, "  (cpu: %llu blocks decoded, %llu live, %llu flushes, insn_count %llu)\n",
                (unsigned long long)cs.blocks_decoded, (unsigned long long)cs.live_blocks,
                (unsigned long long)cs.cache_flushes, (unsigned long long)c->insn_count);
        x64seq_print(&seq, stderr);
    }
    return bad;
}

static void run_mode(const struct layout *l)
{
    uc_engine *uc;
    struct vmg g;
    long fails = 0;
    memset(&g, 0, sizeof(g));
    assert_int_equal(uc_open(UC_ARCH_X86, l->bits == 32 ? UC_MODE_32 : UC_MODE_16, &uc), UC_ERR_OK);
    /* a model with POPCNT, LZCNT and TZCNT, as the host the 64-bit test uses */
    assert_int_equal(uc_ctl_set_cpu_model(uc, UC_CPU_X86_EPYC), UC_ERR_OK);
    assert_int_equal(uc_mem_map(uc, 0, 0x100000, UC_PROT_ALL), UC_ERR_OK);
    vm_setup(&g, l->bits);
    for (long i = 0; i < n_cases && fails < 5; i++) {
        /* Unicorn 2.0.1 keeps stale translations of real-mode code across
         * uc_mem_write even after uc_ctl_remove_cache: a fresh engine per case */
        if (l->bits == 16) {
            uc_close(uc);
            uc_open(UC_ARCH_X86, l->bits == 32 ? UC_MODE_32 : UC_MODE_16, &uc);
            uc_ctl_set_cpu_model(uc, UC_CPU_X86_EPYC);
            uc_mem_map(uc, 0, 0x100000, UC_PROT_ALL);
        }
        fails += run_case(uc, &g, l, seed0 + (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)l->bits, 0);
    }
    printf("unicorn %d-bit: %ld sequences, %ld mismatches\n", l->bits, n_cases, fails);
    uc_close(uc);
    v3_free_vm(g.vm);
    assert_int_equal(fails, 0);
}

static void test_prot32(void **state) { (void)state; run_mode(&L32); }
static void test_real16(void **state) { (void)state; run_mode(&L16); }

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            n_cases = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed0 = strtoull(argv[++i], NULL, 0);
    }
    if (getenv("V3_TEST_QUICK") && n_cases > 1000)
        n_cases = 1000;
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_prot32), cmocka_unit_test(test_real16) };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
