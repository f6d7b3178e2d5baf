/* SPDX-License-Identifier: MIT */
/*
 * Software CPU: decode-cache coherence (self-modifying code in the same
 * block and in another block, page-crossing instructions, memory-map
 * changes, VMM writes announced with v3_cpu_invalidate_code), the
 * instruction limit, stop requests, stores to a fully hooked page, CPUID.
 */
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include "v3test.h"
#include "guest64.h"

#define CODE 0x20001000ull

static void load(struct g64 *g, uint64_t la, const void *b, size_t n)
{
    memcpy(g64_ptr(g, la), b, n);
    v3_cpu_invalidate_code(g->core, g64_gpa(la) & ~0xfffull, (g64_gpa(la + n) + 0xfff) & ~0xfffull);
}

static void run_to(struct g64 *g, uint64_t rip, struct v3_exit *ex)
{
    g->core->rip = rip;
    g->core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    v3_emu_backend.run(g->core, ex);
}

static void test_smc_same_block(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    /* mov byte [rip+1], 0x2a ; mov al, 0 ; hlt  -> the store patches the immediate of the next insn */
    static const uint8_t code[] = { 0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x2a, 0xb0, 0x00, 0xf4 };
    struct v3_cpu_stats st;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    for (int round = 0; round < 3; round++) {
        load(&g, CODE, code, sizeof(code));       /* restore the original bytes */
        g.core->gpr[V3_RAX] = 0x1111;
        run_to(&g, CODE, &ex);
        assert_true(g64_halted_at(&ex, CODE + 9));
        assert_int_equal(g.core->gpr[V3_RAX] & 0xff, 0x2a);
    }
    assert_int_equal(v3_cpu_get_stats(g.core, &st), 0);
    assert_true(st.smc_invalidations >= 3);
    v3_free_vm(g.vm);
}

static void test_smc_other_block(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    /* 0: mov ecx, 3
     * 5: L: call F            (F at 0x40)
     * a: mov byte [rip+?], al   -> patches the imm8 of F's "add ebx, imm8"
     * loop L ; hlt
     * F (0x40): add ebx, 1 (83 c3 01) ; ret */
    uint8_t code[0x50];
    int32_t d;
    memset(code, 0x90, sizeof(code));
    code[0] = 0xb9; code[1] = 3; code[2] = code[3] = code[4] = 0;
    code[5] = 0xe8; d = 0x40 - 0x0a; memcpy(code + 6, &d, 4);
    /* 0x0a: 88 05 disp32 : mov [rip+disp], al ; next ip = 0x10, target 0x42 */
    code[0x0a] = 0x88; code[0x0b] = 0x05; d = 0x42 - 0x10; memcpy(code + 0x0c, &d, 4);
    code[0x10] = 0xfe; code[0x11] = 0xc0;            /* inc al */
    code[0x12] = 0xe2; code[0x13] = (uint8_t)(0x05 - 0x14);   /* loop 5 */
    code[0x14] = 0xf4;
    code[0x40] = 0x83; code[0x41] = 0xc3; code[0x42] = 0x01; code[0x43] = 0xc3;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RBX] = 0;
    g.core->gpr[V3_RAX] = 10;
    g.core->gpr[V3_RSP] = 0x20100800;
    run_to(&g, CODE, &ex);
    assert_true(g64_halted_at(&ex, CODE + 0x14));
    /* F adds 1, then 10, then 11 */
    assert_int_equal(g.core->gpr[V3_RBX], 1 + 10 + 11);
    v3_free_vm(g.vm);
}

static void test_page_cross(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    uint64_t at = 0x20002000 - 2;               /* mov eax, imm32 straddles the page end */
    static const uint8_t code[] = { 0xb8, 0x11, 0x22, 0x33, 0x44, 0xf4 };
    struct v3_cpu_stats st;
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, at, code, sizeof(code));
    run_to(&g, at, &ex);
    assert_true(g64_halted_at(&ex, at + 5));
    assert_int_equal(g.core->gpr[V3_RAX], 0x44332211);
    /* change the bytes on the second page only: the instruction is never cached */
    g64_ptr(&g, 0x20002000)[1] = 0x99;
    v3_cpu_invalidate_code(g.core, g64_gpa(0x20002000), g64_gpa(0x20002000) + 0x1000);
    run_to(&g, at, &ex);
    assert_int_equal(g.core->gpr[V3_RAX], 0x44992211);
    assert_int_equal(v3_cpu_get_stats(g.core, &st), 0);
    assert_true(st.cross_page_insns >= 2);
    v3_free_vm(g.vm);
}

static void test_map_change(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    static const uint8_t code_a[] = { 0xb8, 0xaa, 0, 0, 0, 0xf4 };   /* mov eax, 0xaa; hlt */
    static const uint8_t code_b[] = { 0xb8, 0xbb, 0, 0, 0, 0xf4 };
    uint8_t *shadow = aligned_alloc(4096, 4096);
    (void)state;
    assert_non_null(shadow);
    memset(shadow, 0xcc, 4096);
    memcpy(shadow + 0x100, code_b, sizeof(code_b));
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE + 0x100, code_a, sizeof(code_a));
    run_to(&g, CODE + 0x100, &ex);
    assert_int_equal(g.core->gpr[V3_RAX], 0xaa);
    /* overlay the code page with other memory: the cached block must go */
    assert_int_equal(v3_add_shadow_mem(g.vm, g64_gpa(CODE), g64_gpa(CODE) + 4096, shadow), 0);
    run_to(&g, CODE + 0x100, &ex);
    assert_true(g64_halted_at(&ex, CODE + 0x105));
    assert_int_equal(g.core->gpr[V3_RAX], 0xbb);
    assert_int_equal(v3_delete_shadow_region(g.vm, g64_gpa(CODE)), 0);
    run_to(&g, CODE + 0x100, &ex);
    assert_int_equal(g.core->gpr[V3_RAX], 0xaa);
    v3_free_vm(g.vm);
    free(shadow);
}

/* A VMM-completed INS that overwrites code the CPU already decoded. */
static void test_ins_over_code(void **state)
{
    struct g64 g;
    struct v3_exit ex;
    static const uint8_t old_code[] = { 0xb8, 0xaa, 0, 0, 0, 0xf4 };        /* mov eax, 0xaa; hlt */
    static const uint8_t new_code[] = { 0xb8, 0xbb, 0, 0, 0, 0xf4 };        /* mov eax, 0xbb; hlt */
    /* mov edi, CODE+0x100 ; mov ecx, 6 ; mov edx, 0x1234 ; rep insb ; jmp rdi-6 (jmp to CODE+0x100) */
    static const uint8_t main_code[] = { 0xbf, 0x00, 0x11, 0x00, 0x20, 0xb9, 0x06, 0, 0, 0, 0xba, 0x34, 0x12, 0, 0,
                                         0xf3, 0x6c, 0xe9, 0xea, 0x00, 0x00, 0x00 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE + 0x100, old_code, sizeof(old_code));
    load(&g, CODE, main_code, sizeof(main_code));
    run_to(&g, CODE + 0x100, &ex);
    assert_int_equal(g.core->gpr[V3_RAX], 0xaa);            /* decoded and cached */
    run_to(&g, CODE, &ex);
    assert_int_equal(ex.reason, V3_EXIT_IO);
    assert_true(ex.io.string && ex.io.in && ex.io.rep);
    assert_int_equal(ex.io.port, 0x1234);
    /* the VMM performs the transfer as hardware would */
    memcpy(g64_ptr(&g, g.core->gpr[V3_RDI]), new_code, sizeof(new_code));
    g.core->gpr[V3_RDI] += 6;
    g.core->gpr[V3_RCX] = 0;
    v3_emu_backend.run(g.core, &ex);
    assert_true(g64_halted_at(&ex, CODE + 0x105));
    assert_int_equal(g.core->gpr[V3_RAX], 0xbb);
    v3_free_vm(g.vm);
}

/* Same image and inputs: same instruction count, same memory, same exits. */
static uint64_t det_run(uint64_t *count, unsigned *exits)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    uint64_t h = 1469598103934665603ull;
    /* L: rdtsc ; xor [rdi+rcx*4], eax ; imul eax, eax, 7 ; out 0x80, al ; loop L ; hlt */
    static const uint8_t code[] = { 0x0f, 0x31, 0x31, 0x04, 0x8f, 0x69, 0xc0, 0x07, 0, 0, 0, 0xe6, 0x80,
                                    0xe2, 0xf1, 0xf4 };
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RCX] = 500;
    g.core->gpr[V3_RDI] = 0x20100000;
    g.core->rip = CODE;
    g.core->halted = 0;  /* a new start: resume the vCPU out of its HLT */
    *exits = 0;
    for (;;) {
        v3_emu_backend.run(g.core, &ex);
        if (ex.reason != V3_EXIT_IO)
            break;
        (*exits)++;
    }
    assert_true(g64_halted_at(&ex, CODE + 15));
    for (int i = 0; i < 4096; i++)
        h = (h ^ g64_ptr(&g, 0x20100000)[i]) * 1099511628211ull;
    *count = g.core->insn_count;
    v3_free_vm(g.vm);
    return h;
}

static void test_determinism(void **state)
{
    uint64_t c1, c2;
    unsigned e1, e2;
    (void)state;
    uint64_t h1 = det_run(&c1, &e1), h2 = det_run(&c2, &e2);
    assert_int_equal(h1, h2);
    assert_int_equal(c1, c2);
    assert_int_equal(e1, 500);
    assert_int_equal(e2, 500);
    assert_int_equal(c1, 5 * 500 + 1);
}

static void test_limit_and_stop(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    static const uint8_t code[] = { 0x48, 0xff, 0xc0, 0xeb, 0xfb };   /* L: inc rax; jmp L */
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RAX] = 0;
    g.core->insn_count = 0;
    assert_int_equal(v3_cpu_set_insn_limit(g.core, 1001), 0);
    run_to(&g, CODE, &ex);
    assert_int_equal(ex.reason, V3_EXIT_INSN_LIMIT);
    assert_int_equal(g.core->insn_count, 1001);
    assert_int_equal(g.core->gpr[V3_RAX], 501);      /* deterministic: inc, jmp, inc, ... */
    assert_int_equal(v3_cpu_set_insn_limit(g.core, 0), 0);
    v3_cpu_request_stop(g.core);
    v3_emu_backend.run(g.core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_STOP);
    assert_int_equal(g.core->insn_count, 1001);
    assert_int_equal(v3_cpu_set_insn_limit(NULL, 1), V3_EINVAL);
    v3_free_vm(g.vm);
}

static long hook_writes;
static uint64_t hook_last;
static int hk_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)priv; memset(dst, 0x5a, len); (void)gpa;
    return 0;
}
static int hk_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)priv; (void)gpa;
    hook_writes++;
    hook_last = 0;
    memcpy(&hook_last, src, len > 8 ? 8 : len);
    return 0;
}

static void test_hooked_stores(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    /* mov ecx, 100; L: mov [rdi], rcx ; mov rax, [rdi] ; loop L ; hlt */
    static const uint8_t code[] = { 0xb9, 100, 0, 0, 0, 0x48, 0x89, 0x0f, 0x48, 0x8b, 0x07, 0xe2, 0xf8, 0xf4 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    assert_int_equal(v3_hook_full_mem(g.vm, g64_gpa(0x20180000), g64_gpa(0x20181000), hk_read, hk_write, NULL), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RDI] = 0x20180010;
    hook_writes = 0;
    run_to(&g, CODE, &ex);
    assert_true(g64_halted_at(&ex, CODE + 13));
    assert_int_equal(hook_writes, 100);
    assert_int_equal(hook_last, 1);
    assert_int_equal(g.core->gpr[V3_RAX], 0x5a5a5a5a5a5a5a5aull);

    /* unhook: the cached hook translation must go, stores reach RAM */
    assert_int_equal(v3_unhook_mem(g.vm, g64_gpa(0x20180000)), 0);
    hook_writes = 0;
    run_to(&g, CODE, &ex);
    assert_true(g64_halted_at(&ex, CODE + 13));
    assert_int_equal(hook_writes, 0);
    assert_int_equal(g.core->gpr[V3_RAX], 1);
    assert_int_equal(*(uint64_t *)g64_ptr(&g, 0x20180010), 1);

    /* hook again, then remap the linear page elsewhere (page-table change + INVLPG) */
    assert_int_equal(v3_hook_full_mem(g.vm, g64_gpa(0x20180000), g64_gpa(0x20181000), hk_read, hk_write, NULL), 0);
    run_to(&g, CODE, &ex);
    assert_int_equal(hook_writes, 100);
    {
        /* map linear 0x40000000 (2 MiB) first to the hooked page's 2 MiB frame, then to RAM at 0 */
        uint64_t *pd = (uint64_t *)(g.ram + 0x3000);
        uint64_t *pdpt = (uint64_t *)(g.ram + 0x2000);
        pdpt[1] = 0x4000 | 3;
        pd = (uint64_t *)(g.ram + 0x4000);
        pd[0] = (g64_gpa(0x20180000) & ~0x1fffffull) | 0x83;
        g.core->gpr[V3_RDI] = 0x40000000 + (g64_gpa(0x20180000) & 0x1fffff) + 0x10;
        hook_writes = 0;
        run_to(&g, CODE, &ex);
        assert_int_equal(hook_writes, 100);
        pd[0] = 0x0 | 0x83;                      /* now guest RAM [0, 2 MiB) */
        v3_tlb_invlpg(g.core, g.core->gpr[V3_RDI]);
        hook_writes = 0;
        run_to(&g, CODE, &ex);
        assert_int_equal(hook_writes, 0);
        assert_int_equal(*(uint64_t *)(g.ram + (g64_gpa(0x20180000) & 0x1fffff) + 0x10), 1);
    }
    v3_free_vm(g.vm);
}

/* request a stop once the vCPU has run the loop a while (RAX counts iterations) */
static void *stop_later(void *arg)
{
    struct v3_core *core = arg;
    struct timespec ts = { 0, 1000 * 1000 };
    while (__atomic_load_n(&core->gpr[V3_RAX], __ATOMIC_RELAXED) <= 1000)
        nanosleep(&ts, NULL);
    v3_cpu_request_stop(core);
    return NULL;
}

/* A stop requested from another thread ends a tight loop of specialised
 * forms (run as threaded code, looping back to its own block without a
 * lookup) at an iteration boundary, with the instruction count exact. */
static void test_stop_pure_loop(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    pthread_t t;
    /* L: inc rax ; add rbx, 3 ; cmp rax, 0 ; jnz L ; hlt */
    static const uint8_t code[] = { 0x48, 0xff, 0xc0, 0x48, 0x83, 0xc3, 0x03, 0x48, 0x83, 0xf8, 0x00,
                                    0x75, 0xf3, 0xf4 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RAX] = 0;
    g.core->gpr[V3_RBX] = 0;
    g.core->insn_count = 0;
    assert_int_equal(pthread_create(&t, NULL, stop_later, g.core), 0);
    run_to(&g, CODE, &ex);
    pthread_join(t, NULL);
    assert_int_equal(ex.reason, V3_EXIT_STOP);
    assert_true(g.core->gpr[V3_RAX] > 1000);
    assert_int_equal(g.core->gpr[V3_RBX], 3 * g.core->gpr[V3_RAX]);
    assert_int_equal(g.core->insn_count, 4 * g.core->gpr[V3_RAX]);
    assert_int_equal(g.core->rip, CODE);
    v3_free_vm(g.vm);
}

/* ---- map changes from another thread while the vCPU runs */

static volatile long mt_calls;
static int mt_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)priv;
    __atomic_add_fetch(&mt_calls, 1, __ATOMIC_RELAXED);
    return 0;
}
static int mt_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)priv;
    memset(dst, 0, len);
    return 0;
}

static void *mt_vcpu(void *arg)
{
    struct g64 *g = arg;
    struct v3_exit ex;
    run_to(g, CODE, &ex);
    assert_int_equal(ex.reason, V3_EXIT_STOP);
    return NULL;
}

static void pause_us(long us)
{
    struct timespec ts = { 0, us * 1000 };
    nanosleep(&ts, NULL);
}

/*
 * The seed's property with the map changed by another thread while the
 * vCPU keeps storing to the page (through the software TLB's fast path):
 * once v3_hook_full_mem() returns no store reaches the page's RAM, and once
 * v3_unhook_mem() returns no callback runs.
 */
static void test_map_change_while_running(void **state)
{
    struct g64 g = { 0 };
    pthread_t t;
    const uint64_t la = 0x20190000, gpa = g64_gpa(0x20190000);
    volatile uint64_t *ram;
    long violations_ram = 0, violations_cb = 0, hooked_calls = 0;
    /* L: mov [rdi], rcx ; inc rcx ; test rcx, rcx ; jnz L ; hlt */
    static const uint8_t code[] = { 0x48, 0x89, 0x0f, 0x48, 0xff, 0xc1, 0x48, 0x85, 0xc9, 0x75, 0xf5, 0xf4 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    ram = (volatile uint64_t *)g64_ptr(&g, la);
    g.core->gpr[V3_RDI] = la;
    g.core->gpr[V3_RCX] = 1;
    mt_calls = 0;
    assert_int_equal(pthread_create(&t, NULL, mt_vcpu, &g), 0);
    for (int w = 0; w < 2000 && *ram == 0; w++)
        pause_us(1000);                          /* the vCPU is storing */
    for (int i = 0; i < 200; i++) {
        uint64_t v0, v1;
        long c0, c1;
        assert_int_equal(v3_hook_full_mem(g.vm, gpa, gpa + 4096, mt_read, mt_write, NULL), V3_OK);
        v0 = *ram;
        c0 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        pause_us(200);
        /* the first time, give a busy machine time to run the vCPU while hooked */
        for (int w = 0; i == 0 && w < 2000 && __atomic_load_n(&mt_calls, __ATOMIC_RELAXED) == c0; w++)
            pause_us(1000);
        v1 = *ram;
        hooked_calls += __atomic_load_n(&mt_calls, __ATOMIC_RELAXED) - c0;
        if (v0 != v1)
            violations_ram++;
        assert_int_equal(v3_unhook_mem(g.vm, gpa), V3_OK);
        c0 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        pause_us(200);
        c1 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        if (c1 != c0)
            violations_cb++;
    }
    v3_cpu_request_stop(g.core);
    pthread_join(t, NULL);
    printf("map changes while running: 200 hook/unhook pairs, %ld callbacks while hooked, "
           "%ld stores to RAM while hooked, %ld callbacks after unhook\n",
           hooked_calls, violations_ram, violations_cb);
    assert_int_equal(violations_ram, 0);
    assert_int_equal(violations_cb, 0);
    assert_true(hooked_calls > 0);
    assert_true(g.core->gpr[V3_RCX] > 1);
    v3_free_vm(g.vm);
}

/*
 * The same property with four vCPUs (four host threads) storing to the page,
 * each to its own quadword: once v3_hook_full_mem() returns no store of any
 * vCPU reaches the page's RAM; once v3_unhook_mem() returns no callback runs.
 */
#define MT_CORES 4
struct mt_arg {
    struct v3_core *core;
};
static void *mt_vcpu_n(void *arg)
{
    struct mt_arg *a = arg;
    struct v3_exit ex;
    a->core->rip = CODE;
    v3_emu_backend.run(a->core, &ex);
    assert_int_equal(ex.reason, V3_EXIT_STOP);
    return NULL;
}

static void test_map_change_smp(void **state)
{
    struct g64 g = { 0 };
    pthread_t t[MT_CORES];
    struct mt_arg args[MT_CORES];
    const uint64_t la = 0x20190000, gpa = g64_gpa(0x20190000);
    volatile uint64_t *ram;
    long violations_ram = 0, violations_cb = 0, hooked_calls = 0;
    /* L: mov [rdi], rcx ; inc rcx ; test rcx, rcx ; jnz L ; hlt */
    static const uint8_t code[] = { 0x48, 0x89, 0x0f, 0x48, 0xff, 0xc1, 0x48, 0x85, 0xc9, 0x75, 0xf5, 0xf4 };
    (void)state;
    assert_int_equal(g64_init_cores(&g, MT_CORES), 0);
    assert_int_equal(v3_vm_num_cores(g.vm), MT_CORES);
    memcpy(g64_ptr(&g, CODE), code, sizeof(code));
    ram = (volatile uint64_t *)g64_ptr(&g, la);
    mt_calls = 0;
    for (unsigned i = 0; i < MT_CORES; i++) {
        struct v3_core *c = v3_get_core(g.vm, i);
        c->gpr[V3_RDI] = la + 8 * i;
        c->gpr[V3_RCX] = 1;
        args[i].core = c;
        assert_int_equal(pthread_create(&t[i], NULL, mt_vcpu_n, &args[i]), 0);
    }
    for (unsigned i = 0; i < MT_CORES; i++)
        for (int w = 0; w < 5000 && ram[i] == 0; w++)
            pause_us(1000);                      /* every vCPU is storing */
    for (int i = 0; i < 100; i++) {
        uint64_t v0[MT_CORES];
        long c0, c1;
        assert_int_equal(v3_hook_full_mem(g.vm, gpa, gpa + 4096, mt_read, mt_write, NULL), V3_OK);
        for (unsigned k = 0; k < MT_CORES; k++)
            v0[k] = ram[k];
        c0 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        pause_us(300);
        for (int w = 0; i == 0 && w < 2000 && __atomic_load_n(&mt_calls, __ATOMIC_RELAXED) == c0; w++)
            pause_us(1000);
        for (unsigned k = 0; k < MT_CORES; k++)
            if (ram[k] != v0[k])
                violations_ram++;
        hooked_calls += __atomic_load_n(&mt_calls, __ATOMIC_RELAXED) - c0;
        assert_int_equal(v3_unhook_mem(g.vm, gpa), V3_OK);
        c0 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        pause_us(300);
        c1 = __atomic_load_n(&mt_calls, __ATOMIC_RELAXED);
        if (c1 != c0)
            violations_cb++;
    }
    for (unsigned i = 0; i < MT_CORES; i++)
        v3_cpu_request_stop(v3_get_core(g.vm, i));
    for (unsigned i = 0; i < MT_CORES; i++)
        pthread_join(t[i], NULL);
    printf("map changes with %d vCPUs storing: 100 hook/unhook pairs, %ld callbacks while hooked, "
           "%ld stores to RAM while hooked, %ld callbacks after unhook\n",
           MT_CORES, hooked_calls, violations_ram, violations_cb);
    assert_int_equal(violations_ram, 0);
    assert_int_equal(violations_cb, 0);
    assert_true(hooked_calls > 0);
    for (unsigned i = 0; i < MT_CORES; i++)
        assert_true(v3_get_core(g.vm, i)->gpr[V3_RCX] > 1);
    v3_free_vm(g.vm);
}

/* vetoes the store of the value 2 */
static int veto_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    uint32_t v = 0;
    (void)c; (void)gpa; (void)priv;
    memcpy(&v, src, len < 4 ? len : 4);
    if (v == 2)
        return -1;
    hook_writes++;
    return 0;
}

/* A failing write callback ends the run with an error exit at the storing
 * instruction: the first store (3) fills the hook cache through the slow
 * path, the second (2) fails on the direct path. */
static void test_hook_callback_failure(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    uint64_t hook = g64_gpa(0x20180000);
    /* mov ecx, 3; L: mov [rdi], ecx ; dec ecx ; jnz L ; hlt */
    static const uint8_t code[] = { 0xb9, 3, 0, 0, 0, 0x89, 0x0f, 0xff, 0xc9, 0x75, 0xfa, 0xf4 };
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    assert_int_equal(v3_hook_full_mem(g.vm, hook, hook + 4096, hk_read, hk_write, NULL), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RDI] = 0x20180000;
    hook_writes = 0;
    run_to(&g, CODE, &ex);                       /* the hook cache learns the page */
    assert_true(g64_halted_at(&ex, CODE + 11));
    assert_int_equal(hook_writes, 3);
    assert_int_equal(v3_unhook_mem(g.vm, hook), 0);
    assert_int_equal(v3_hook_full_mem(g.vm, hook, hook + 4096, hk_read, veto_write, NULL), 0);
    hook_writes = 0;
    run_to(&g, CODE, &ex);
    assert_int_equal(ex.reason, V3_EXIT_ERROR);
    assert_int_equal(ex.error.code, V3_ECALLBACK);
    assert_int_equal(ex.insn_rip, CODE + 5);
    assert_int_equal(hook_writes, 1);
    assert_int_equal(g.core->gpr[V3_RCX], 2);    /* the failing store did not retire */
    v3_free_vm(g.vm);
}

static long hook_reads;
static int hk_read_count(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    hook_reads++;
    return hk_read(c, gpa, dst, len, priv);
}

static uint32_t region_calls(struct v3_vm *vm, uint64_t gpa)
{
    struct v3_mem_region *r = v3_get_shadow_region(vm, gpa);
    assert_non_null(r);
    return __atomic_load_n(&r->hook_calls, __ATOMIC_RELAXED);
}

/* The region's hook_calls counts every callback made by the software CPU
 * (which batches them per vCPU): exact after each run, including runs that
 * stop in the middle of a loop and runs longer than one batch. */
static void test_hook_call_counts(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    /* mov ecx, 10000; L: mov [rdi], ecx ; mov eax, [rdi+8] ; dec ecx ; jnz L ; hlt */
    static const uint8_t code[] = { 0xb9, 0x10, 0x27, 0, 0, 0x89, 0x0f, 0x8b, 0x47, 0x08, 0xff, 0xc9,
                                    0x75, 0xf7, 0xf4 };
    uint64_t hook = g64_gpa(0x20180000);
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    assert_int_equal(v3_hook_full_mem(g.vm, hook, hook + 4096, hk_read_count, hk_write, NULL), 0);
    load(&g, CODE, code, sizeof(code));
    g.core->gpr[V3_RDI] = 0x20180040;
    hook_writes = hook_reads = 0;
    run_to(&g, CODE, &ex);
    assert_true(g64_halted_at(&ex, CODE + 14));
    assert_int_equal(hook_writes, 10000);
    assert_int_equal(hook_reads, 10000);
    assert_int_equal(region_calls(g.vm, hook), 20000);

    /* stop in the middle of the loop: the count is exact at the stop */
    assert_int_equal(v3_cpu_set_insn_limit(g.core, g.core->insn_count + 1 + 4 * 777 + 1), V3_OK);
    hook_writes = hook_reads = 0;
    g.core->rip = CODE;
    g.core->halted = 0;
    assert_int_equal(v3_emu_backend.run(g.core, &ex), 0);
    assert_int_equal(ex.reason, V3_EXIT_INSN_LIMIT);
    assert_int_equal(hook_writes, 778);
    assert_int_equal(hook_reads, 777);
    assert_int_equal(region_calls(g.vm, hook), 20000 + 778 + 777);
    assert_int_equal(v3_cpu_set_insn_limit(g.core, 0), V3_OK);

    /* unhook and hook again between runs: the new region counts from 0 */
    assert_int_equal(v3_unhook_mem(g.vm, hook), 0);
    assert_int_equal(v3_hook_full_mem(g.vm, hook, hook + 4096, hk_read_count, hk_write, NULL), 0);
    assert_int_equal(region_calls(g.vm, hook), 0);
    hook_writes = hook_reads = 0;
    run_to(&g, CODE, &ex);
    assert_int_equal(hook_writes + hook_reads, 20000);
    assert_int_equal(region_calls(g.vm, hook), 20000);
    v3_free_vm(g.vm);
}

static void test_cpuid_ud(void **state)
{
    struct g64 g = { 0 };
    struct v3_exit ex;
    static const uint8_t code[] = { 0x31, 0xc0, 0x0f, 0xa2, 0xf4, 0x0f, 0x0b };   /* xor eax,eax; cpuid; hlt; ud2 */
    (void)state;
    assert_int_equal(g64_init(&g), 0);
    load(&g, CODE, code, sizeof(code));
    run_to(&g, CODE, &ex);
    assert_true(g64_halted_at(&ex, CODE + 4));
    assert_int_equal(g.core->gpr[V3_RAX], 0x16);
    assert_int_equal((uint32_t)g.core->gpr[V3_RBX], 0x68747541u);   /* "Auth" (AuthenticAMD) */
    /* UD2 raises #UD: delivered by the system level, or an error exit without it */
    run_to(&g, CODE + 5, &ex);
    assert_true(ex.reason == V3_EXIT_ERROR || g.core->rip != CODE + 5 || ex.reason == V3_EXIT_SHUTDOWN);
    v3_free_vm(g.vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smc_same_block),
        cmocka_unit_test(test_smc_other_block),
        cmocka_unit_test(test_page_cross),
        cmocka_unit_test(test_map_change),
        cmocka_unit_test(test_ins_over_code),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_limit_and_stop),
        cmocka_unit_test(test_hooked_stores),
        cmocka_unit_test(test_hook_call_counts),
        cmocka_unit_test(test_stop_pure_loop),
        cmocka_unit_test(test_map_change_while_running),
        cmocka_unit_test(test_map_change_smp),
        cmocka_unit_test(test_hook_callback_failure),
        cmocka_unit_test(test_cpuid_ud),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
