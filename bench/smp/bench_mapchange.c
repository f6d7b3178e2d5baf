/* SPDX-License-Identifier: MIT */
/*
 * The cost of a memory-map change while vCPUs run: one change is a full
 * hook of a page (v3_hook_full_mem) or its removal (v3_unhook_mem), made
 * from the main thread while 0, 1 or 2 vCPUs (each on its own host thread)
 * store to that page in a tight real-mode loop.  A change waits for every
 * running vCPU to leave its read section of the map (the next block
 * boundary) and, with barrier_all(), pays one membarrier.  Prints ns per
 * change for each vCPU count, over several rounds (min / median / max).
 *
 *   bench_mapchange [--changes N] [--rounds R]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>
#include <v3/cpu.h>

#define PAGE 0x2000ull

static volatile int stop_all;

static int cb_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)priv;
    memset(dst, 0, len);
    return 0;
}

static int cb_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)priv;
    return 0;
}

static void *vcpu(void *arg)
{
    struct v3_core *c = arg;
    struct v3_exit ex;

    while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE))
        v3_emu_backend.run(c, &ex);     /* returns on a stop request */
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns per change with @p n vCPUs running, or 0 on a setup failure */
static double run(unsigned n, unsigned changes)
{
    /* L: mov [di], cx ; inc cx ; jmp L */
    static const uint8_t code[] = { 0x89, 0x0d, 0x41, 0xeb, 0xfb };
    struct v3_vm_config cfg;
    struct v3_vm *vm;
    pthread_t t[2];
    uint64_t t0, t1;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 1 << 20;
    cfg.num_cores = n ? n : 1;
    vm = v3_create_vm(&cfg, &err);
    if (!vm || v3_load_flat(vm, code, sizeof(code), 0x1000, 0x1000, V3_FLAT_REAL) < 0) {
        fprintf(stderr, "bench_mapchange: VM setup failed\n");
        return 0;
    }
    for (unsigned i = 1; i < cfg.num_cores; i++) {
        struct v3_core *c0 = v3_get_core(vm, 0), *c = v3_get_core(vm, i);
        memcpy(c->seg, c0->seg, sizeof(c->seg));
        c->rip = c0->rip;
        c->cr0 = c0->cr0;
        c->mode = c0->mode;
        c->cpl = c0->cpl;
        v3_core_set_rflags(c, v3_core_get_rflags(c0));
    }
    __atomic_store_n(&stop_all, 0, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < n; i++) {
        struct v3_core *c = v3_get_core(vm, i);
        c->gpr[V3_RDI] = PAGE + 8 * i;
        pthread_create(&t[i], NULL, vcpu, c);
    }
    /* let the vCPUs reach their loop */
    for (int w = 0; n && w < 1000; w++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
        if (v3_get_core(vm, n - 1)->insn_count > 1000)
            break;
    }
    t0 = now_ns();
    for (unsigned k = 0; k < changes / 2; k++) {
        v3_hook_full_mem(vm, PAGE, PAGE + 4096, cb_read, cb_write, NULL);
        v3_unhook_mem(vm, PAGE);
    }
    t1 = now_ns();
    __atomic_store_n(&stop_all, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < n; i++)
        v3_cpu_request_stop(v3_get_core(vm, i));
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    v3_free_vm(vm);
    return (double)(t1 - t0) / (double)((changes / 2) * 2);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    unsigned changes = 20000, rounds = 5;
    double r[3][32];

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--changes"))
            changes = (unsigned)strtoul(argv[i + 1], NULL, 0);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[i + 1], NULL, 0);
    }
    if (rounds < 1 || rounds > 32 || changes < 2) {
        fprintf(stderr, "usage: bench_mapchange [--changes N>=2] [--rounds 1..32]\n");
        return 2;
    }
    if (v3_init(v3_posix_os_hooks()) < 0)
        return 1;
    for (unsigned k = 0; k < rounds; k++)           /* interleaved: each round runs every count */
        for (unsigned n = 0; n < 3; n++)
            r[n][k] = run(n, changes);
    printf("map change (hook or unhook of one page), ns per change, %u changes x %u rounds\n",
           changes, rounds);
    printf("%-28s %10s %10s %10s\n", "vCPUs storing to the page", "min", "median", "max");
    for (unsigned n = 0; n < 3; n++) {
        qsort(r[n], rounds, sizeof(double), cmp);
        printf("%-28u %10.0f %10.0f %10.0f\n", n, r[n][0], r[n][rounds / 2], r[n][rounds - 1]);
    }
    v3_deinit();
    return 0;
}
