/* SPDX-License-Identifier: MIT */
/*
 * Memory-map benchmark: lookup time for 4, 64, 4096 and 32768 regions with
 * random and sequential addresses, side by side for
 *   (a) the map            v3_get_shadow_region()   (red-black tree)
 *   (b) the map + cache    v3_mem_lookup() with a per-caller last-hit cache
 *   (c) a sorted array     binary search over {start, end, region}
 *   (d) a linked list      sorted, scanned from the head (the old design)
 * plus insert and remove time per region and bytes per region, and the
 * read side of the map's lock: a lock+unlock pair through the host rwlock
 * (v3_mem_read_lock(), what non-vCPU readers use) against the vCPU read
 * lock (v3_mem_core_read_lock(), src/mem/memmap.h), outermost and nested,
 * and a hooked 8-byte guest store through v3_write_gpa_memory() with each.
 *
 *   bench_memmap [--quick] [--ms N] [--lock]   (--lock: only the read-lock table)
 *
 * Regions are 16 KiB each, contiguous, starting at 4 GiB (above guest RAM).
 * "random": uniform addresses over the whole span; "sequential": a walk
 * through the span in 64-byte steps.  Each cell is the best of 101 short
 * rounds (about 1.5 ms of thread CPU time each) that interleave the four
 * methods.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>
#include <v3/backend.h>
#include "internal/vm.h"            /* the vCPU read lock (internal) */

#define PG        4096ull
#define REG_SIZE  (4 * PG)
#define BASE      0x100000000ull
#define NRAND     (1u << 20)

/* Thread CPU time: time spent descheduled on a shared machine does not count. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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

/* ---------------------------------------------------------------- (c) sorted array */
struct arr_ent {
    uint64_t start, end;
    void *region;
};
struct sarray {
    struct arr_ent *e;
    size_t n, cap;
};

static void *arr_lookup(const struct sarray *a, uint64_t gpa)
{
    size_t lo = 0, hi = a->n;

    /* first entry with start > gpa; the candidate is the one before it */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->e[mid].start <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo && gpa < a->e[lo - 1].end)
        return a->e[lo - 1].region;
    return NULL;
}

static int arr_insert(struct sarray *a, uint64_t start, uint64_t end, void *region)
{
    size_t lo = 0, hi = a->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->e[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    if ((lo && a->e[lo - 1].end > start) || (lo < a->n && a->e[lo].start < end))
        return -1;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->e = realloc(a->e, a->cap * sizeof(*a->e));
    }
    memmove(&a->e[lo + 1], &a->e[lo], (a->n - lo) * sizeof(*a->e));
    a->e[lo] = (struct arr_ent){ start, end, region };
    a->n++;
    return 0;
}

static int arr_remove(struct sarray *a, uint64_t start)
{
    size_t lo = 0, hi = a->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->e[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == a->n || a->e[lo].start != start)
        return -1;
    memmove(&a->e[lo], &a->e[lo + 1], (a->n - lo - 1) * sizeof(*a->e));
    a->n--;
    return 0;
}

/* ---------------------------------------------------------------- (d) linked list */
struct lnode {                      /* the old design: a sorted doubly linked list of records */
    uint64_t start, end;
    void *host;
    void *read_hook, *write_hook, *priv;
    struct lnode *next, *prev;
};
static struct lnode *list_head;

static struct lnode *list_lookup(uint64_t gpa)
{
    for (struct lnode *n = list_head; n; n = n->next) {
        if (gpa < n->start)
            return NULL;
        if (gpa < n->end)
            return n;
    }
    return NULL;
}

static int list_insert(struct lnode *r)
{
    struct lnode **pp = &list_head, *prev = NULL;

    while (*pp && (*pp)->end <= r->start) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp && (*pp)->start < r->end)
        return -1;
    r->next = *pp;
    r->prev = prev;
    if (*pp)
        (*pp)->prev = r;
    *pp = r;
    return 0;
}

static int list_remove(uint64_t start)
{
    struct lnode *n = list_lookup(start);

    if (!n || n->start != start)
        return -1;
    if (n->prev)
        n->prev->next = n->next;
    else
        list_head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    return 0;
}

/* ---------------------------------------------------------------- harness */
static int rd_cb(struct v3_core *c, uint64_t g, void *d, uint32_t l, void *p)
{
    (void)c; (void)g; (void)p;
    memset(d, 0, l);
    return 0;
}
static int wr_cb(struct v3_core *c, uint64_t g, const void *s, uint32_t l, void *p)
{
    (void)c; (void)g; (void)s; (void)l; (void)p;
    return 0;
}

static const struct v3_backend_ops bench_backend = { .name = "bench" };
static uint64_t *raddr;
static volatile uint64_t sink;
static double target_ms = 150;      /* per method and cell, spread over ROUNDS */

enum method { M_MAP, M_CACHE, M_ARRAY, M_LIST, M_COUNT };

struct ctx {
    uint64_t seq_pos[M_COUNT];      /* where each method's sequential walk continues */
    size_t rnd_pos[M_COUNT];        /* and its position in the random address list */
    struct v3_vm *vm;
    struct sarray arr;
    struct lnode *nodes;
    size_t n;
    uint64_t span;
};

/* One timed run of @p iters lookups; returns ns per lookup. */
static double run(struct ctx *c, enum method m, int sequential, size_t iters)
{
    struct v3_mem_cache cache = { 0 };
    uint64_t sum = 0, a = c->seq_pos[m] ? c->seq_pos[m] : BASE, step = 64, end = BASE + c->span;
    size_t r0 = c->rnd_pos[m];
    double t0 = now_ns();

#define LOOP(EXPR) do {                                                     \
        if (sequential) {                                                   \
            for (size_t i = 0; i < iters; i++) {                            \
                uint64_t gpa = a;                                           \
                sum += (uintptr_t)(EXPR);                                   \
                a += step;                                                  \
                if (a >= end)                                               \
                    a = BASE;                                               \
            }                                                               \
        } else {                                                            \
            for (size_t i = 0; i < iters; i++) {                            \
                uint64_t gpa = raddr[(r0 + i) & (NRAND - 1)];               \
                sum += (uintptr_t)(EXPR);                                   \
            }                                                               \
        }                                                                   \
    } while (0)

    switch (m) {
    case M_MAP:   LOOP(v3_get_shadow_region(c->vm, gpa)); break;
    case M_CACHE: LOOP(v3_mem_lookup(c->vm, &cache, gpa)); break;
    case M_ARRAY: LOOP(arr_lookup(&c->arr, gpa)); break;
    case M_LIST:  LOOP(list_lookup(gpa)); break;
    default: break;
    }
    t0 = (now_ns() - t0) / (double)iters;
    c->seq_pos[m] = a;
    c->rnd_pos[m] = (r0 + iters) & (NRAND - 1);
    sink += sum;
    return t0;
}

/*
 * Interleaved rounds: each round runs every method once for about
 * target_ms / ROUNDS, after an untimed warm-up of 1/8 of that; a method's
 * figure is its best round.  Interleaving
 * and the minimum keep the comparison fair on a busy machine (a round that
 * was preempted or had its caches flushed by another process loses).
 */
#define ROUNDS 101

static void measure_all(struct ctx *c, int sequential, double out[M_COUNT])
{
    size_t iters[M_COUNT];
    double slice_ms = target_ms / ROUNDS;

    for (int m = 0; m < M_COUNT; m++) {
        size_t it = 256;
        double el;

        run(c, (enum method)m, sequential, it);           /* warm up */
        for (;;) {
            double t0 = now_ns();
            run(c, (enum method)m, sequential, it);
            el = (now_ns() - t0) / 1e6;
            if (el > slice_ms / 8 || it > (1u << 28))
                break;
            it *= 2;
        }
        iters[m] = el > 0 ? (size_t)(it * (slice_ms / el)) + 1 : it;
        out[m] = 1e30;
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (int m = 0; m < M_COUNT; m++) {
            double t;

            /* untimed warm-up: the previous method has just evicted this one's data */
            run(c, (enum method)m, sequential, iters[m] / 8 + 1);
            t = run(c, (enum method)m, sequential, iters[m]);
            if (t < out[m])
                out[m] = t;
        }
    }
}

/* All four structures must agree on every answer (checked on a sample). */
static void verify(struct ctx *c)
{
    struct v3_mem_cache cache = { 0 };

    for (size_t i = 0; i < 100000; i++) {
        uint64_t gpa = i < 50000 ? raddr[i] : BASE + (i - 50000) * 64 % c->span;
        struct v3_mem_region *r = v3_get_shadow_region(c->vm, gpa);
        struct v3_mem_region *rc = v3_mem_lookup(c->vm, &cache, gpa);
        struct v3_mem_region *ra = arr_lookup(&c->arr, gpa);
        struct lnode *l = c->n <= 4096 ? list_lookup(gpa) : NULL;

        if (!r || r != rc || r != ra || r->guest_start > gpa || gpa >= r->guest_end ||
            (c->n <= 4096 && (!l || l->start != r->guest_start))) {
            fprintf(stderr, "lookup disagreement at %#llx\n", (unsigned long long)gpa);
            exit(1);
        }
    }
}

static void shuffle(uint64_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd() % i;
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ---------------------------------------------------------------- read-lock pairs */
enum lock_method { L_HOST, L_VCPU, L_NESTED, L_STORE_HOST, L_STORE_VCPU, L_COUNT };

static int store_cb(struct v3_core *c, uint64_t g, const void *s, uint32_t l, void *p)
{
    (void)c; (void)g; (void)l; (void)p;
    sink += *(const uint8_t *)s;
    return 0;
}

static double lock_run(struct v3_vm *vm, struct v3_core *core, enum lock_method m, size_t iters)
{
    uint64_t v = 0x1122334455667788ull;
    double t0 = now_ns();

    switch (m) {
    case L_HOST:
        for (size_t i = 0; i < iters; i++) {
            v3_mem_read_lock(vm);
            v3_mem_read_unlock(vm);
        }
        break;
    case L_VCPU:
        for (size_t i = 0; i < iters; i++) {
            v3_mem_core_read_lock(core);
            v3_mem_core_read_unlock(core);
        }
        break;
    case L_NESTED:                  /* inside a callback: depth 1 -> 2 -> 1 */
        v3_mem_core_read_lock(core);
        for (size_t i = 0; i < iters; i++) {
            v3_mem_core_read_lock(core);
            v3_mem_core_read_unlock(core);
        }
        v3_mem_core_read_unlock(core);
        break;
    case L_STORE_HOST:              /* NULL core: host rwlock, no lookup cache */
    case L_STORE_VCPU:              /* the vCPU's core: vCPU lock and its lookup cache */
        for (size_t i = 0; i < iters; i++)
            if (v3_write_gpa_memory(vm, core, BASE + (i & 0xff8), 8, &v) != 8)
                abort();
        break;
    default:
        break;
    }
    return (now_ns() - t0) / (double)iters;
}

static void lock_bench(struct v3_vm_config cfg, int quick)
{
    static const char *names[L_COUNT] = {
        "lock+unlock pair", "", "nested pair (depth 1)", "hooked 8-byte store", ""
    };
    struct v3_vm *vm = v3_create_vm(&cfg, NULL);
    struct v3_core *core;
    double best[L_COUNT];
    size_t iters = quick ? 20000 : 100000;
    int rounds = quick ? 11 : 41;

    if (!vm || v3_hook_full_mem(vm, BASE, BASE + PG, rd_cb, store_cb, NULL) != V3_OK)
        abort();
    core = v3_get_core(vm, 0);
    for (int m = 0; m < L_COUNT; m++)
        best[m] = 1e30;
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < L_COUNT; m++) {
            struct v3_core *c = m == L_STORE_HOST ? NULL : core;
            double t;

            lock_run(vm, c, (enum lock_method)m, iters / 8);
            t = lock_run(vm, c, (enum lock_method)m, iters);
            if (t < best[m])
                best[m] = t;
        }
    }
    printf("\nMap read lock, ns per operation (best of %d rounds of %zu, one thread, uncontended)\n\n",
           rounds, iters);
    printf("| operation               | host rwlock | vCPU lock | host/vCPU |\n");
    printf("|-------------------------|------------:|----------:|----------:|\n");
    printf("| %-23s | %11.2f | %9.2f | %9.1f |\n", names[L_HOST], best[L_HOST], best[L_VCPU],
           best[L_HOST] / best[L_VCPU]);
    printf("| %-23s | %11s | %9.2f | %9s |\n", names[L_NESTED], "-", best[L_NESTED], "-");
    printf("| %-23s | %11.2f | %9.2f | %9.2f |\n", names[L_STORE_HOST], best[L_STORE_HOST],
           best[L_STORE_VCPU], best[L_STORE_HOST] / best[L_STORE_VCPU]);
    printf("\n(the store row: v3_write_gpa_memory() of 8 bytes to a full hook whose callback only\n"
           "reads the byte; host column with a NULL core, which also skips the per-core lookup cache)\n");
    v3_free_vm(vm);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 4, 64, 4096, 32768 };
    struct v3_vm_config cfg;
    int quick = 0, lock_only = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--lock"))
            lock_only = 1;
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
            target_ms = atof(argv[++i]);
    }
    if (quick)
        target_ms = 30;
    if (v3_init(v3_posix_os_hooks()) != V3_OK)
        return 1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = PG;
    cfg.num_cores = 1;
    cfg.backend_ops = &bench_backend;
    raddr = malloc(NRAND * sizeof(*raddr));
    if (lock_only) {
        lock_bench(cfg, quick);
        free(raddr);
        return 0;
    }

    printf("Memory-map lookup, ns per lookup (best of %d interleaved rounds); ratios against binary search\n\n", ROUNDS);
    printf("| regions | pattern    |    map | map+cache | bsearch |     list | map/bsearch | cache/bsearch |\n");
    printf("|--------:|------------|-------:|----------:|--------:|---------:|------------:|--------------:|\n");

    double ins[4][3], rem[4][3];
    for (size_t si = 0; si < 4; si++) {
        struct ctx c;
        size_t n = sizes[si];
        uint64_t *starts = malloc(n * sizeof(*starts));
        double t0;

        memset(&c, 0, sizeof(c));
        c.n = n;
        c.span = n * REG_SIZE;
        c.vm = v3_create_vm(&cfg, NULL);
        c.nodes = calloc(n, sizeof(*c.nodes));
        list_head = NULL;
        for (size_t i = 0; i < n; i++)
            starts[i] = BASE + i * REG_SIZE;
        shuffle(starts, n);

        /* insert, in random order */
        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            if (v3_hook_full_mem(c.vm, starts[i], starts[i] + REG_SIZE, rd_cb, wr_cb, NULL))
                return 1;
        ins[si][0] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            arr_insert(&c.arr, starts[i], starts[i] + REG_SIZE, v3_get_shadow_region(c.vm, starts[i]));
        ins[si][1] = (now_ns() - t0) / n;
        t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            struct lnode *ln = &c.nodes[(starts[i] - BASE) / REG_SIZE];
            *ln = (struct lnode){ .start = starts[i], .end = starts[i] + REG_SIZE };
            list_insert(ln);
        }
        ins[si][2] = (now_ns() - t0) / n;

        for (size_t i = 0; i < NRAND; i++)
            raddr[i] = BASE + rnd() % c.span;
        verify(&c);

        for (int seq = 0; seq < 2; seq++) {
            double t[M_COUNT];
            measure_all(&c, seq, t);
            printf("| %7zu | %-10s | %6.2f | %9.2f | %7.2f | %8.1f | %11.2f | %13.2f |\n",
                   n, seq ? "sequential" : "random", t[M_MAP], t[M_CACHE], t[M_ARRAY], t[M_LIST],
                   t[M_MAP] / t[M_ARRAY], t[M_CACHE] / t[M_ARRAY]);
        }

        /* remove all and insert all again, in fresh random orders; best of several cycles */
        {
            int reps = (int)(200000 / n), list_reps = n >= 4096 ? 1 : reps;
            double t;

            if (reps < 2)
                reps = 2;
            if (reps > 50)
                reps = 50;
            if (list_reps > reps)
                list_reps = reps;
            rem[si][0] = rem[si][1] = rem[si][2] = 1e30;
            for (int rep = 0; rep < reps; rep++) {
                shuffle(starts, n);
                t0 = now_ns();
                for (size_t i = 0; i < n; i++)
                    if (v3_unhook_mem(c.vm, starts[i]))
                        return 1;
                t = (now_ns() - t0) / n;
                rem[si][0] = t < rem[si][0] ? t : rem[si][0];
                t0 = now_ns();
                for (size_t i = 0; i < n; i++)
                    arr_remove(&c.arr, starts[i]);
                t = (now_ns() - t0) / n;
                rem[si][1] = t < rem[si][1] ? t : rem[si][1];
                if (rep < list_reps) {
                    t0 = now_ns();
                    for (size_t i = 0; i < n; i++)
                        list_remove(starts[i]);
                    t = (now_ns() - t0) / n;
                    rem[si][2] = t < rem[si][2] ? t : rem[si][2];
                }

                shuffle(starts, n);
                t0 = now_ns();
                for (size_t i = 0; i < n; i++)
                    if (v3_hook_full_mem(c.vm, starts[i], starts[i] + REG_SIZE, rd_cb, wr_cb, NULL))
                        return 1;
                t = (now_ns() - t0) / n;
                ins[si][0] = t < ins[si][0] ? t : ins[si][0];
                t0 = now_ns();
                for (size_t i = 0; i < n; i++)
                    arr_insert(&c.arr, starts[i], starts[i] + REG_SIZE, NULL);
                t = (now_ns() - t0) / n;
                ins[si][1] = t < ins[si][1] ? t : ins[si][1];
                if (rep < list_reps) {
                    t0 = now_ns();
                    for (size_t i = 0; i < n; i++)
                        list_insert(&c.nodes[(starts[i] - BASE) / REG_SIZE]);
                    t = (now_ns() - t0) / n;
                    ins[si][2] = t < ins[si][2] ? t : ins[si][2];
                } else {
                    for (size_t i = 0; i < n; i++)
                        list_insert(&c.nodes[(starts[i] - BASE) / REG_SIZE]);
                }
            }
        }

        v3_free_vm(c.vm);
        free(c.arr.e);
        free(c.nodes);
        free(starts);
    }

    printf("\nInsert / remove, ns per region, removing and re-inserting all regions in random\n"
           "order (best cycle; the map's figures include allocation, locking, validation\n"
           "and the generation bump)\n\n");
    printf("| regions | map insert | bsearch insert | list insert | map remove | bsearch remove | list remove |\n");
    printf("|--------:|-----------:|---------------:|------------:|-----------:|---------------:|------------:|\n");
    for (size_t si = 0; si < 4; si++)
        printf("| %7zu | %10.1f | %14.1f | %11.1f | %10.1f | %14.1f | %11.1f |\n", sizes[si],
               ins[si][0], ins[si][1], ins[si][2], rem[si][0], rem[si][1], rem[si][2]);

    printf("\nBytes per region: map %zu (record %zu + lookup-index entry %zu; target <= 96; the index\n"
           "keeps at most 1/32 spare entries after growing); bsearch entry %zu (plus the region record);"
           " list node %zu\n", sizeof(struct v3_mem_region) + 2 * sizeof(uint64_t), sizeof(struct v3_mem_region),
           2 * sizeof(uint64_t), sizeof(struct arr_ent), sizeof(struct lnode));
    lock_bench(cfg, quick);
    free(raddr);
    return 0;
}
