/* SPDX-License-Identifier: MIT */
/*
 * Differential test of the hooked-access emulator in 16- and 32-bit code
 * against Unicorn 2 (this host cannot execute 32-bit code natively).  The
 * same generator as the 64-bit test produces one instruction with a memory
 * operand; Unicorn runs it in UC_MODE_16 / UC_MODE_32 with flat segments,
 * the emulator runs it twice (operand in RAM; scratch pages hooked, through
 * the fault path) in real mode / 32-bit protected mode.  The low 32 bits of
 * the GPRs, EIP, defined flags, XMM0-7, MM0-7, memory and the exception
 * vector must match.
 *
 *   emulate_diff_unicorn [--cases N] [--seed S] [--mode 16|32] [--family NAME] [--show K]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unicorn/unicorn.h>
#include "emurun.h"

static long ncases = 40000;
static uint64_t seed = 0x5eed1632;
static int only_mode;
static int only_fam = -1;
static int show = 10;

static const struct layout lay32 = { 32, 0x10000000ull, 0x4000 };
static const struct layout lay16 = { 16, 0x8000ull, 0x4000 };

struct ucx {
    uc_engine *uc;
    uc_context *ctx;     /* state after setup, restored before every case */
    int intno;
};

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
    struct ucx *u = user;
    if (u->intno < 0)
        u->intno = (int)intno;
    uc_emu_stop(uc);
}

static bool hook_insn_invalid(uc_engine *uc, void *user)
{
    struct ucx *u = user;
    if (u->intno < 0)
        u->intno = 6;
    return false;
}

static struct ucx *uc_setup(const struct layout *lay)
{
    static struct ucx u[2];
    struct ucx *x = &u[lay->mode == 32];
    if (x->uc)
        return x;
    uc_hook h1, h2;
    if (uc_open(UC_ARCH_X86, lay->mode == 32 ? UC_MODE_32 : UC_MODE_16, &x->uc) != UC_ERR_OK ||
        uc_ctl_set_cpu_model(x->uc, UC_CPU_X86_HASWELL) != UC_ERR_OK ||   /* MOVBE, SSE2 */
        uc_mem_map(x->uc, lay->code, 4096, UC_PROT_ALL) != UC_ERR_OK ||
        uc_mem_map(x->uc, lay->scr, SCR_SIZE, UC_PROT_ALL) != UC_ERR_OK ||
        /* the IVT/IDT page: Unicorn reads it before it reports an exception */
        uc_mem_map(x->uc, 0, 4096, UC_PROT_ALL) != UC_ERR_OK ||
        uc_hook_add(x->uc, &h1, UC_HOOK_INTR, (void *)hook_intr, x, 1, 0) != UC_ERR_OK ||
        uc_hook_add(x->uc, &h2, UC_HOOK_INSN_INVALID, (void *)hook_insn_invalid, x, 1, 0) != UC_ERR_OK) {
        fprintf(stderr, "unicorn setup failed\n");
        exit(2);
    }
    /* SSE enabled (CR4.OSFXSR) and x87/MMX usable, as in the emulator's VM */
    uint64_t cr0 = 0, cr4 = 0;
    uc_reg_read(x->uc, UC_X86_REG_CR0, &cr0);
    uc_reg_read(x->uc, UC_X86_REG_CR4, &cr4);
    cr0 = (cr0 & ~4ull) | 0x22;            /* clear EM, set MP and NE */
    cr4 |= 0x600;                          /* OSFXSR, OSXMMEXCPT */
    uc_reg_write(x->uc, UC_X86_REG_CR0, &cr0);
    uc_reg_write(x->uc, UC_X86_REG_CR4, &cr4);
    /* an exception leaves Unicorn's CPU in a state where the next one is
       reported as #DF: every case starts from this saved context */
    if (uc_context_alloc(x->uc, &x->ctx) != UC_ERR_OK || uc_context_save(x->uc, x->ctx) != UC_ERR_OK) {
        fprintf(stderr, "unicorn context failed\n");
        exit(2);
    }
    return x;
}

static const int ucgpr[8] = { UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
                              UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI };

/* Unicorn 2.0.1 has no MM0-7 register access: MMX registers are the
   mantissas of the physical x87 registers (UC_X86_REG_FP0-7: 64-bit
   mantissa then 16-bit sign/exponent). */
struct fp80 { uint64_t mantissa; uint16_t exponent; };

static void uc_run_case(const struct layout *lay, const struct tcase *c, struct rstate *o)
{
    struct ucx *x = uc_setup(lay);
    uc_engine *uc = x->uc;
    uint8_t page[4096];

    uc_context_restore(uc, x->ctx);
    memset(page, 0x90, sizeof(page));
    memcpy(page + (c->rip & 0xfff), c->insn.b, (size_t)c->insn.len);
    uc_mem_write(uc, lay->code, page, sizeof(page));
    uc_mem_write(uc, lay->scr, c->mem, SCR_SIZE);
    for (int i = 0; i < 8; i++) {
        uint32_t v = (uint32_t)c->gpr[i];
        uc_reg_write(uc, ucgpr[i], &v);
    }
    uint32_t fl = (uint32_t)c->rflags | 2;
    uc_reg_write(uc, UC_X86_REG_EFLAGS, &fl);
    for (int i = 0; i < 8; i++) {
        uc_reg_write(uc, UC_X86_REG_XMM0 + i, c->xmm[i]);
        struct fp80 f = { .mantissa = c->mm[i], .exponent = 0xffff };
        uc_reg_write(uc, UC_X86_REG_FP0 + i, &f);
    }
    x->intno = -1;
    uc_err err = uc_emu_start(uc, c->rip, c->rip + (uint64_t)c->insn.len, 0, 0);
    if (getenv("UC_TRACE")) printf("  uc err %d intno %d\n", err, x->intno);
    o->status = -1;
    o->err = 0;
    o->vector = x->intno;
    if (err == UC_ERR_INSN_INVALID)
        o->vector = 6;
    else if (err != UC_ERR_OK && o->vector < 0)
        o->vector = 100 + (int)err;         /* anything else: never matches */
    memset(&o->st, 0, sizeof(o->st));
    for (int i = 0; i < 8; i++) {
        uint32_t v = 0;
        uc_reg_read(uc, ucgpr[i], &v);
        o->st.gpr[i] = v;
    }
    uint32_t eip = 0;
    uc_reg_read(uc, UC_X86_REG_EIP, &eip);
    o->st.rip = eip;
    uc_reg_read(uc, UC_X86_REG_EFLAGS, &fl);
    o->st.rflags = fl;
    for (int i = 0; i < 8; i++) {
        uc_reg_read(uc, UC_X86_REG_XMM0 + i, o->st.xmm[i]);
        struct fp80 f = { 0, 0 };
        uc_reg_read(uc, UC_X86_REG_FP0 + i, &f);
        o->st.mm[i] = f.mantissa;
    }
    uc_mem_read(uc, lay->scr, o->mem, SCR_SIZE);
}

/*
 * Forms Unicorn 2.0.1 gets wrong or cannot run; they are covered by the
 * 64-bit test against the host CPU only:
 *  - a LOCK prefix that must raise #UD aborts Unicorn (tcg fatal error);
 *  - MOVBE raises #UD whatever CPU model is selected;
 *  - the "simd" family (MMX, SSE3-SSE4.2 forms) is checked against the host only;
 *  - SSE instructions raise #UD in UC_MODE_16 even with CR4.OSFXSR set;
 *  - LOCK NEG leaves SF/ZF/PF computed from the wrong value.
 */
static bool uc_excluded(const struct layout *lay, const struct tcase *c)
{
    if (c->fam == FAM_LOCKUD || c->fam == FAM_MOVBE || c->fam == FAM_SIMD)
        return true;
    if (c->fam == FAM_SSE && lay->mode == 16)
        return true;
    if (c->fam == FAM_UNARY && !strncmp(c->form, "neg", 3)) {
        for (int i = 0; i < c->insn.len && i < 4; i++)
            if (c->insn.b[i] == 0xf0)
                return true;
    }
    return false;
}

struct fstat { long cases, exc, bad_ram, bad_hook, bad_log, unsupported; };

static long run_mode(const struct layout *lay, long n_cases, uint64_t sd)
{
    static struct tcase c;
    static struct rstate ref, got, got2;
    struct fstat fs[FAM_NCOUNT];
    struct rng r = { sd ? sd : 1 };
    long bad = 0, shown = 0;

    memset(fs, 0, sizeof(fs));
    for (long n = 0; n < n_cases; n++) {
        do
            gen_case(&r, lay, only_fam, &c);
        while (uc_excluded(lay, &c));
        struct fstat *st = &fs[c.fam];
        st->cases++;
        if (getenv("UC_TRACE")) { print_case(&c, stdout); fflush(stdout); }
        uc_run_case(lay, &c, &ref);
        if (ref.vector >= 0) {
            st->exc++;
            /* Unicorn's register state at an exception is not reliable: the
               architectural answer is "unchanged", except for REP progress */
            if (!c.string) {
                memcpy(ref.st.gpr, c.gpr, sizeof(ref.st.gpr));
                ref.st.rip = c.rip;
                ref.st.rflags = c.rflags | 2;
                memcpy(ref.st.xmm, c.xmm, sizeof(c.xmm));
                memcpy(ref.st.mm, c.mm, sizeof(c.mm));
            }
        }
        struct evm *e = evm_get(lay, 0);
        evm_run(e, &c, false, &got);
        if (got.status == V3_EMU_UNSUPPORTED)
            st->unsupported++;
        int b1 = cmp_states(&c, &ref, &got, false, NULL);

        int kinds[SCR_PAGES];
        int pp = (int)((c.prim - lay->scr) >> 12);
        for (int i = 0; i < SCR_PAGES; i++) {
            int k = (int)rndn(&r, 10);
            kinds[i] = k < 4 ? K_RAM : k < 8 ? K_FULL : K_WRITE;
        }
        if (pp >= 0 && pp < SCR_PAGES && kinds[pp] == K_RAM)
            kinds[pp] = rndn(&r, 5) ? K_FULL : K_WRITE;
        struct evm *h = evm_get(lay, kinds[0] + 3 * kinds[1] + 9 * kinds[2]);
        evm_run(h, &c, true, &got2);
        int b2 = cmp_states(&c, &ref, &got2, false, NULL);
        int b3 = !b2 && check_hook_log(h, &c, NULL);
        st->bad_ram += b1;
        st->bad_hook += b2;
        st->bad_log += b3;
        if (b1 || b2 || b3) {
            bad++;
            if (shown++ < show) {
                printf("MISMATCH #%ld (mode %d, case %ld, seed %#llx)\n", bad, lay->mode, n,
                       (unsigned long long)sd);
                print_case(&c, stdout);
                if (b1) { printf(" RAM run vs Unicorn:\n"); cmp_states(&c, &ref, &got, false, stdout); }
                if (b2) { printf(" hooked run (kinds %d/%d/%d) vs Unicorn:\n", kinds[0], kinds[1], kinds[2]);
                          cmp_states(&c, &ref, &got2, false, stdout); }
                if (b3) { printf(" hook calls:\n"); check_hook_log(h, &c, stdout); }
            }
        }
    }
    printf("mode %d:\n%-18s %8s %8s %8s %8s %8s %8s\n", lay->mode, "family", "cases", "uc-exc", "unsupp",
           "bad-ram", "bad-hook", "bad-call");
    long tot = 0;
    for (int i = 0; i < FAM_NCOUNT; i++) {
        if (!fs[i].cases)
            continue;
        printf("%-18s %8ld %8ld %8ld %8ld %8ld %8ld\n", fam_names[i], fs[i].cases, fs[i].exc,
               fs[i].unsupported, fs[i].bad_ram, fs[i].bad_hook, fs[i].bad_log);
        tot += fs[i].cases;
    }
    printf("mode %d: %ld cases, %ld mismatching, seed %#llx\n", lay->mode, tot, bad, (unsigned long long)sd);
    return bad;
}

static void t_unicorn(void **state)
{
    (void)state;
    long bad = 0;
    if (!only_mode || only_mode == 32)
        bad += run_mode(&lay32, ncases / (only_mode ? 1 : 2), seed);
    if (!only_mode || only_mode == 16)
        bad += run_mode(&lay16, ncases / (only_mode ? 1 : 2), seed ^ 0x1616);
    evm_free_all();
    assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            ncases = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            only_mode = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--show") && i + 1 < argc)
            show = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--family") && i + 1 < argc) {
            i++;
            for (int f = 0; f < FAM_NCOUNT; f++)
                if (!strcmp(argv[i], fam_names[f]))
                    only_fam = f;
            if (only_fam < 0) {
                fprintf(stderr, "unknown family %s\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--cases N] [--seed S] [--mode 16|32] [--family NAME] [--show K]\n", argv[0]);
            return 2;
        }
    }
    gen_no_misalign = 1;
    if (evm_global_init()) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    const struct CMUnitTest tests[] = { cmocka_unit_test(t_unicorn) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
