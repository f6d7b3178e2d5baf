/* SPDX-License-Identifier: MIT */
/*
 * Concurrency test of the vCPU read lock (src/mem/memmap.h): one thread per
 * core of a multi-core VM makes guest accesses with its core while a writer
 * thread keeps hooking, unhooking and re-adding regions over the same pages.
 *
 * Every hooked region carries a private record with a magic value; the
 * writer poisons the record right after v3_unhook_mem() returns and frees
 * it later (through a quarantine ring, so that a late callback finds the
 * poison instead of a reused block; ASan builds see the free as well).  A
 * callback therefore checks, against the record alone, that its region is
 * live, that the access lies inside it and inside one page, and that the
 * core's lock depth is what the nesting says (1 in a callback of a
 * top-level access, 2 in a nested one).  Callbacks re-enter the map with
 * the same core (reads of the same region and of a permanent probe region)
 * and once in a while with a NULL core (the host read lock, taken while
 * the vCPU lock is held).  One more thread reads with a NULL core only.
 * Each thread touches its own band of every page, so the threads do not
 * race on guest memory itself (a data-race detector then sees only the
 * map's own synchronisation).
 *
 * Counts: each record counts its callbacks; the writer adds a record's
 * final count when it retires it; those counts plus the probe's must equal
 * the callbacks the threads counted themselves (a callback that ran after
 * its record was retired would break the sum, and find the poison).  A
 * top-level access within one page sees at most one top-level callback,
 * and every access succeeds (a slot without a hook is RAM).  The writer
 * lets every vCPU finish an access between two changes.  Bounded: the writer makes N changes, then every thread
 * stops; nothing is timed.
 *
 *   test_memmap_vcpu_lock [--cases N]   (default 400 map changes; V3_TEST_QUICK=1: 20, about 35 s under valgrind)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include "mm_util.h"

#define CORES       4
#define RAM         (256 * PG)
#define SLOTS       8
#define SLOT_PAGES  4
#define SLOT_BASE   (64 * PG)
#define PROBE       (200 * PG)                /* permanent full hook, one page */
#define MAGIC_LIVE  0x4c495645u
#define MAGIC_DEAD  0xdeadbeefu
#define QUARANTINE  64
#define BAND        800                       /* bytes of each page a vCPU uses (its own band, so
                                                 that threads do not race on guest memory) */

static long opt_cases = 400;

struct rec {
    uint32_t magic;
    uint64_t start, end;
    long calls;                                /* callbacks into this region (atomic) */
};

struct slot {
    int present;
    enum v3_region_type type;
    struct rec *rec;
    unsigned char *buf;                        /* backing for write hooks */
};

static struct v3_vm *vm;
static struct slot slots[SLOTS];
static struct rec probe_rec = { MAGIC_LIVE, PROBE, PROBE + PG, 0 };
static int done;
static long violations;
static char first_violation[200];
static long retired_calls;                     /* writer: final counts of retired records */
static long core_calls[CORES];                 /* callbacks counted per core (own thread) */
static long top_level_cb[CORES];               /* top-level callbacks of the current access */
static long accesses[CORES], hooked_accesses[CORES], nested_accesses[CORES], null_reads;
static long host_nested[CORES];
static long null_calls;                        /* callbacks of NULL-core accesses (atomic) */

static void violation(const char *what, uint64_t gpa)
{
    if (__atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST) == 1)
        snprintf(first_violation, sizeof(first_violation), "%s at %#llx", what, (unsigned long long)gpa);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Checks common to every callback; returns the nesting depth seen. */
static unsigned check_cb(struct v3_core *core, struct rec *r, uint64_t gpa, uint32_t len)
{
    if (__atomic_load_n(&r->magic, __ATOMIC_RELAXED) != MAGIC_LIVE)
        violation("callback of a removed region (poisoned record)", gpa);
    if (gpa < r->start || gpa + len > r->end)
        violation("callback outside its region", gpa);
    if (len == 0 || (gpa >> 12) != ((gpa + len - 1) >> 12))
        violation("callback crosses a page", gpa);
    __atomic_add_fetch(&r->calls, 1, __ATOMIC_RELAXED);
    if (!core) {
        violation("callback without a core", gpa);
        return 0;
    }
    core_calls[core->id]++;
    return core->mem_read_depth;
}

static int cb_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    unsigned depth;

    if (!core) {                               /* the NULL-core reader */
        struct rec *r = priv;
        if (__atomic_load_n(&r->magic, __ATOMIC_RELAXED) != MAGIC_LIVE)
            violation("callback of a removed region (NULL core)", gpa);
        __atomic_add_fetch(&r->calls, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&null_calls, 1, __ATOMIC_RELAXED);
        memset(dst, 0x5a, len);
        return 0;
    }
    depth = check_cb(core, priv, gpa, len);
    if (depth == 1)
        top_level_cb[core->id]++;
    else if (depth != 2)
        violation("read callback at an unexpected lock depth", gpa);
    memset(dst, 0x5a, len);
    return 0;
}

static int cb_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    struct rec *r = priv;
    unsigned char tmp[64];
    uint32_t n = len < sizeof(tmp) ? len : (uint32_t)sizeof(tmp);
    unsigned depth = check_cb(core, r, gpa, len);

    (void)src;
    if (!core)
        return 0;
    if (depth != 1) {
        violation("write callback at an unexpected lock depth", gpa);
        return 0;
    }
    top_level_cb[core->id]++;
    /* Re-enter with the same core: the same region (its read callback for a
     * full hook, backing memory for a write hook), then the probe. */
    if (v3_read_gpa_memory(vm, core, gpa, n, tmp) != (int64_t)n)
        violation("nested read of the same region failed", gpa);
    if (v3_read_gpa_memory(vm, core, PROBE + (gpa & 0xff), 8, tmp) != 8)
        violation("nested read of the probe failed", gpa);
    if (core->mem_read_depth != 1)
        violation("lock depth not restored after nested accesses", gpa);
    if (__atomic_load_n(&r->magic, __ATOMIC_RELAXED) != MAGIC_LIVE)
        violation("region removed while its callback ran", gpa);
    nested_accesses[core->id] += 2;
    /* Now and then the host read lock inside the vCPU lock (a device doing
     * DMA without a core): must not deadlock against a waiting writer. */
    if ((gpa & 0x3f) == 0) {
        if (v3_read_gpa_memory(vm, NULL, PROBE, 4, tmp) != 4)
            violation("NULL-core read inside a callback failed", gpa);
        host_nested[core->id]++;
    }
    return 0;
}

static void *vcpu_thread(void *arg)
{
    struct v3_core *core = v3_get_core(vm, (unsigned)(long)arg);
    unsigned id = core->id;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (id + 1);
    unsigned char buf[64];

    memset(buf, 0xa5, sizeof(buf));
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        uint64_t r = rnd(&seed);
        uint64_t page = SLOT_BASE / PG + r % (SLOTS * SLOT_PAGES);
        uint64_t off = BAND * id + (r >> 20) % (BAND - sizeof(buf));
        size_t len = 1 + (r >> 40) % sizeof(buf);
        long before = top_level_cb[id];
        int64_t rc;

        if (core->mem_read_depth != 0)
            violation("lock depth not 0 between accesses", page * PG);
        if ((r >> 60) & 1)
            rc = v3_write_gpa_memory(vm, core, page * PG + off, len, buf);
        else
            rc = v3_read_gpa_memory(vm, core, page * PG + off, len, buf);
        if (rc != (int64_t)len)
            violation("access failed", page * PG + off);
        if (top_level_cb[id] - before > 1)
            violation("more than one top-level callback for one in-page access", page * PG + off);
        hooked_accesses[id] += top_level_cb[id] - before;
        __atomic_store_n(&accesses[id], accesses[id] + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* A reader that is not a vCPU: host read lock only. */
static void *null_reader(void *arg)
{
    uint64_t seed = 0x5151ull;
    unsigned char buf[64];

    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        uint64_t r = rnd(&seed);
        uint64_t gpa = SLOT_BASE + (r % (SLOTS * SLOT_PAGES)) * PG + BAND * CORES +
                       ((r >> 32) % (PG - BAND * CORES - sizeof(buf)) & ~0x3full);

        if (v3_read_gpa_memory(vm, NULL, gpa, sizeof(buf), buf) != (int64_t)sizeof(buf))
            violation("NULL-core read failed", gpa);
        null_reads++;
    }
    return NULL;
}

static void retire(struct rec *r, struct rec **ring, unsigned *pos)
{
    retired_calls += __atomic_load_n(&r->calls, __ATOMIC_RELAXED);
    __atomic_store_n(&r->magic, MAGIC_DEAD, __ATOMIC_RELAXED);
    free(ring[*pos % QUARANTINE]);
    ring[*pos % QUARANTINE] = r;
    (*pos)++;
}

static void *writer(void *arg)
{
    uint64_t seed = 0xfeedull;
    struct rec *ring[QUARANTINE] = { 0 };
    unsigned pos = 0;
    long snap[CORES] = { 0 };

    (void)arg;
    for (long changes = 0; changes < opt_cases; changes++) {
        uint64_t r = rnd(&seed);
        struct slot *s = &slots[r % SLOTS];
        uint64_t base = SLOT_BASE + (uint64_t)(s - slots) * SLOT_PAGES * PG;
        int rc;

        if (s->present) {
            rc = (r >> 8) & 1 ? v3_unhook_mem(vm, s->rec->start)
                              : v3_delete_shadow_region(vm, s->rec->start);
            if (rc != V3_OK)
                violation("removal failed", s->rec->start);
            /* removal returned: no callback may run on this record now */
            retire(s->rec, ring, &pos);
            s->rec = NULL;
            s->present = 0;
        } else {
            uint64_t first = (r >> 8) % SLOT_PAGES;
            uint64_t np = 1 + (r >> 16) % (SLOT_PAGES - first);
            struct rec *n = malloc(sizeof(*n));

            assert_non_null(n);
            n->magic = MAGIC_LIVE;
            n->start = base + first * PG;
            n->end = n->start + np * PG;
            n->calls = 0;
            s->type = (r >> 24) & 1 ? V3_REGION_FULL_HOOK : V3_REGION_WRITE_HOOK;
            if (s->type == V3_REGION_FULL_HOOK)
                rc = v3_hook_full_mem(vm, n->start, n->end, cb_read, cb_write, n);
            else
                rc = v3_hook_write_mem(vm, n->start, n->end, s->buf + first * PG, cb_write, n);
            if (rc != V3_OK)
                violation("hook failed", n->start);
            s->rec = n;
            s->present = 1;
        }
        /* Pace on progress, not time: every vCPU finishes an access before
         * the next change (a writer changing the map back to back would
         * keep the vCPUs waiting and the interleavings would be few). */
        for (int i = 0; i < CORES; i++) {
            long seen = snap[i];
            while (__atomic_load_n(&accesses[i], __ATOMIC_ACQUIRE) == seen)
                sched_yield();
            snap[i] = __atomic_load_n(&accesses[i], __ATOMIC_ACQUIRE);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].present) {
            if (v3_unhook_mem(vm, slots[i].rec->start) != V3_OK)
                violation("final removal failed", slots[i].rec->start);
            retire(slots[i].rec, ring, &pos);
            slots[i].present = 0;
        }
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < QUARANTINE; i++)
        free(ring[i]);
    return NULL;
}

static void test_vcpu_lock_stress(void **state)
{
    pthread_t th[CORES], nr, wr;
    long total_core_calls = 0, total_acc = 0, total_hooked = 0, total_nested = 0, total_host = 0;
    struct v3_core *cores, *saved_cores;
    unsigned saved_n;

    (void)state;
    /* v3_create_vm() makes one vCPU for now; the map's writer waits for
     * vm->cores[0..num_cores), so give the VM four plain cores for the run
     * (no TLB, no back end: accesses go through v3_read/write_gpa_memory). */
    vm = mm_vm(RAM);
    cores = aligned_alloc(64, CORES * sizeof(*cores));
    assert_non_null(cores);
    memset(cores, 0, CORES * sizeof(*cores));
    for (unsigned i = 0; i < CORES; i++) {
        cores[i].vm = vm;
        cores[i].id = i;
    }
    saved_cores = vm->cores;
    saved_n = vm->num_cores;
    vm->cores = cores;
    vm->num_cores = CORES;
    assert_int_equal(v3_vm_num_cores(vm), CORES);
    for (int i = 0; i < SLOTS; i++)
        slots[i].buf = mm_host_pages(SLOT_PAGES, 0);
    assert_int_equal(v3_hook_full_mem(vm, PROBE, PROBE + PG, cb_read, cb_write, &probe_rec), V3_OK);
    for (long i = 0; i < CORES; i++)
        assert_int_equal(pthread_create(&th[i], NULL, vcpu_thread, (void *)i), 0);
    assert_int_equal(pthread_create(&nr, NULL, null_reader, NULL), 0);
    assert_int_equal(pthread_create(&wr, NULL, writer, NULL), 0);
    pthread_join(wr, NULL);
    for (int i = 0; i < CORES; i++)
        pthread_join(th[i], NULL);
    pthread_join(nr, NULL);

    for (int i = 0; i < CORES; i++) {
        total_core_calls += core_calls[i];
        total_acc += accesses[i];
        total_hooked += hooked_accesses[i];
        total_nested += nested_accesses[i];
        total_host += host_nested[i];
        assert_int_equal(v3_get_core(vm, (unsigned)i)->mem_read_depth, 0);
        assert_int_equal(vm->mem.writer, 0);
    }
    printf("vcpu lock: %ld map changes; %d vCPUs: %ld accesses, %ld hooked, %ld nested, "
           "%ld NULL-core inside callbacks; %ld NULL-core reads; %ld callbacks\n",
           opt_cases, CORES, total_acc, total_hooked, total_nested, total_host, null_reads,
           total_core_calls);
    if (violations)
        fail_msg("%ld violations, first: %s", violations, first_violation);
    /* every vCPU callback landed on a record whose final count the writer
     * took after removal, or on the probe */
    assert_int_equal(retired_calls + __atomic_load_n(&probe_rec.calls, __ATOMIC_RELAXED),
                     total_core_calls + null_calls);
    assert_true(total_hooked > 0 && total_nested > 0 && total_acc > total_hooked);
    vm->cores = saved_cores;
    vm->num_cores = saved_n;
    free(cores);
    v3_free_vm(vm);
    for (int i = 0; i < SLOTS; i++)
        free(slots[i].buf);
    assert_int_equal(v3t_outstanding(), 0);
}

int main(int argc, char **argv)
{
    const char *q = getenv("V3_TEST_QUICK");

    if (q && *q && *q != '0')
        opt_cases = 20;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            opt_cases = atol(argv[++i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcpu_lock_stress),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
