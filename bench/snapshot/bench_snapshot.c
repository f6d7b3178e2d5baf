/* SPDX-License-Identifier: MIT */
/*
 * Snapshot benchmark (v3/snapshot.h), side by side in one run:
 *
 *  1. fast reset (v3_vm_reset()) with 1, 16, 256 and 4096 dirty pages,
 *     against copying the whole of guest RAM back (memcpy from a copy), for
 *     a 64 MiB and a 1 GiB guest (machine "none" and "pc");
 *  2. save (v3_vm_save_buf()) and restore (v3_vm_restore()) time and
 *     snapshot size for a freshly booted sample guest (a multiboot kernel
 *     run to its end, 128 MiB, machine "pc");
 *
 *   bench_snapshot [--quick] [--guest FILE]
 *
 * The pages are dirtied by the VMM (v3_write_gpa_memory(), one byte each,
 * random pages) before every reset; only the reset is timed (CLOCK_MONOTONIC
 * around each call; the table gives the median and the 10th/90th
 * percentiles).  Executions per second of examples/fuzz_reset are measured
 * by that program (bench/snapshot/run.sh runs both).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>

#ifndef V3_BENCH_GUEST
#define V3_BENCH_GUEST ""
#endif

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return rs * 0x2545F4914F6CDD1Dull;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat3 { double p10, p50, p90; };

static struct stat3 stats(double *v, unsigned n)
{
    struct stat3 s;
    qsort(v, n, sizeof(*v), cmp_d);
    s.p10 = v[n / 10];
    s.p50 = v[n / 2];
    s.p90 = v[n * 9 / 10];
    return s;
}

static struct v3_vm *make_vm(uint64_t mem, const char *machine)
{
    struct v3_vm_config cfg;
    int err;
    struct v3_vm *vm;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = mem;
    cfg.machine = machine;
    cfg.clock = V3_CLOCK_VIRTUAL;
    vm = v3_create_vm(&cfg, &err);
    if (!vm)
        fprintf(stderr, "bench_snapshot: cannot create a %llu MiB VM: %s\n",
                (unsigned long long)(mem >> 20), v3_strerror(err));
    return vm;
}

/* Fill a few MiB of RAM with data (a booted guest is not all zeros). */
static void fill(struct v3_vm *vm, uint64_t mem)
{
    static uint8_t page[4096];
    for (uint64_t a = 0; a < mem && a < (8u << 20); a += 4096) {
        for (unsigned i = 0; i < sizeof(page); i += 8) {
            uint64_t r = rnd();
            memcpy(page + i, &r, 8);
        }
        v3_write_gpa_memory(vm, NULL, a, sizeof(page), page);
    }
}

static void bench_reset(uint64_t mem, const char *machine, unsigned rounds)
{
    static const unsigned ks[] = { 1, 16, 256, 4096 };
    struct v3_vm *vm = make_vm(mem, machine);
    struct v3_vm_snapshot *snap;
    double *t = malloc(sizeof(double) * rounds), t0;
    uint64_t pages = mem / 4096;
    uint8_t *copy, *ram;
    void *p;
    int err;

    if (!vm || !t)
        exit(1);
    fill(vm, mem);
    snap = v3_vm_snapshot_take(vm, &err);
    if (!snap) {
        fprintf(stderr, "bench_snapshot: snapshot: %s\n", v3_strerror(err));
        exit(1);
    }
    for (unsigned ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        struct stat3 s;
        unsigned n = ks[ki] >= 256 ? (rounds / 10 ? rounds / 10 : 1) : rounds;
        for (unsigned r = 0; r < n; r++) {
            for (unsigned k = 0; k < ks[ki]; k++) {
                uint8_t b = (uint8_t)rnd();
                v3_write_gpa_memory(vm, NULL, (rnd() % pages) * 4096 + (rnd() & 0xfff), 1, &b);
            }
            t0 = now_ns();
            if (v3_vm_reset(vm, snap) < 0)
                exit(1);
            t[r] = now_ns() - t0;
        }
        s = stats(t, n);
        printf("  %-5s %5llu MiB  %5u dirty pages   reset %10.2f us  (p10 %.2f, p90 %.2f)  %12.0f resets/s\n",
               machine, (unsigned long long)(mem >> 20), ks[ki], s.p50 / 1e3, s.p10 / 1e3, s.p90 / 1e3,
               1e9 / s.p50);
    }
    /* the alternative: copy all of RAM back */
    copy = malloc(mem);
    if (!copy || v3_gpa_to_hva(vm, 0, &p) < 0)
        exit(1);
    ram = p;
    memcpy(copy, ram, mem);
    {
        unsigned n = mem > (256u << 20) ? 5 : 20;
        struct stat3 s;
        for (unsigned r = 0; r < n; r++) {
            t0 = now_ns();
            memcpy(ram, copy, mem);
            t[r] = now_ns() - t0;
        }
        s = stats(t, n);
        printf("  %-5s %5llu MiB  whole RAM copied    copy  %10.2f us  (p10 %.2f, p90 %.2f)  %12.1f copies/s\n",
               machine, (unsigned long long)(mem >> 20), s.p50 / 1e3, s.p10 / 1e3, s.p90 / 1e3, 1e9 / s.p50);
    }
    free(copy);
    free(t);
    v3_vm_snapshot_free(snap);
    v3_free_vm(vm);
}

static void bench_save(const char *guest)
{
    FILE *f = fopen(guest, "rb");
    uint8_t *img;
    long len;
    struct v3_vm *vm, *vm2;
    struct v3_vm_result res;
    void *buf;
    size_t blen;
    double ts[5], tr[5], t0;
    struct stat3 s1, s2;

    if (!f) {
        printf("  (no sample guest '%s': save/restore not measured)\n", guest);
        return;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    img = malloc((size_t)len);
    if (!img || fread(img, 1, (size_t)len, f) != (size_t)len)
        exit(1);
    fclose(f);
    vm = make_vm(128u << 20, "pc");
    vm2 = make_vm(128u << 20, "pc");
    if (!vm || !vm2 || v3_load_multiboot(vm, img, (size_t)len, "bench", NULL, 0, NULL) < 0)
        exit(1);
    v3_run_vm(vm, &res);
    for (int i = 0; i < 5; i++) {
        t0 = now_ns();
        if (v3_vm_save_buf(vm, &buf, &blen) < 0)
            exit(1);
        ts[i] = now_ns() - t0;
        t0 = now_ns();
        if (v3_vm_restore(vm2, buf, blen) < 0)
            exit(1);
        tr[i] = now_ns() - t0;
        v3_snapshot_buf_free(buf);
    }
    s1 = stats(ts, 5);
    s2 = stats(tr, 5);
    printf("  sample guest %s (128 MiB, pc, stopped: %s):\n", guest, v3_stop_reason_str(res.reason));
    printf("    snapshot size %zu bytes; save %.2f ms (p10 %.2f, p90 %.2f); restore %.2f ms (p10 %.2f, p90 %.2f)\n",
           blen, s1.p50 / 1e6, s1.p10 / 1e6, s1.p90 / 1e6, s2.p50 / 1e6, s2.p10 / 1e6, s2.p90 / 1e6);
    v3_free_vm(vm);
    v3_free_vm(vm2);
    free(img);
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *guest = V3_BENCH_GUEST;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--guest") && i + 1 < argc)
            guest = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--guest FILE]\n", argv[0]);
            return 2;
        }
    }
    if (v3_init(v3_posix_os_hooks()) != V3_OK)
        return 1;
    printf("fast reset (median of the resets; dirty pages written by the VMM before each):\n");
    bench_reset(64u << 20, "none", quick ? 200 : 2000);
    bench_reset(64u << 20, "pc", quick ? 200 : 2000);
    if (!quick) {
        bench_reset(1u << 30, "none", 1000);
        bench_reset(1u << 30, "pc", 1000);
    }
    printf("save and restore:\n");
    bench_save(guest);
    v3_deinit();
    return 0;
}
