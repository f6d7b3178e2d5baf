/* SPDX-License-Identifier: MIT */
/*
 * Concurrency test: reader threads do lookups, reads and writes while a
 * writer thread keeps adding and removing regions over the same pages.
 *
 * Every region kind fills the first half of each of its pages with one
 * signature byte (RAM underneath has its own); the second half of each page
 * is scratch that readers write.  A reader must never see a torn result:
 * the checked half of a page, read in one access, is one signature, never
 * a mix and never the junk the writer scribbles into a buffer after its
 * region is gone.  Callbacks check that their region is still live and that
 * the access lies inside it and inside one page.  Readers also write and
 * read back their own RAM pages.
 *
 * The writer stops after N changes or S seconds, whichever comes first (the
 * time only bounds the run; nothing is asserted about it), but makes at
 * least 2000 changes.
 *
 *   test_memmap_threads [--cases N] [--seconds S]   (defaults 1000000, 2)
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "mm_util.h"

#define RAM         (256 * PG)
#define SLOTS       16
#define SLOT_PAGES  4
#define SLOT_BASE   (64 * PG)                 /* slots cover pages 64..127 */
#define READERS     3
#define RAM_SIG     0x11
#define JUNK        0xDD
#define HALF        (PG / 2)

static long opt_cases = 1000000;
static double opt_seconds = 2.0;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct slot {
    int present;
    enum v3_region_type type;
    uint64_t start, end;
    unsigned char *buf;                        /* backing, SLOT_PAGES pages */
    unsigned char sig;
    int alive;                                 /* set by the writer */
};

static struct slot slots[SLOTS];
static struct v3_vm *vm;
static int done;
static long writer_changes;
static long violations;
static long reads_ok, writes_ok, lookups_ok, cb_calls;
static char first_violation[200];

static void violation(const char *what, uint64_t gpa)
{
    if (__atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST) == 1)
        snprintf(first_violation, sizeof(first_violation), "%s at %#llx", what, (unsigned long long)gpa);
}

static void check_cb(struct slot *s, uint64_t gpa, uint32_t len)
{
    __atomic_add_fetch(&cb_calls, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&s->alive, __ATOMIC_ACQUIRE))
        violation("callback of a removed region", gpa);
    if (gpa < s->start || gpa + len > s->end)
        violation("callback outside its region", gpa);
    if (len == 0 || (gpa >> 12) != ((gpa + len - 1) >> 12))
        violation("callback crosses a page", gpa);
}

static int cb_read(struct v3_core *core, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    struct slot *s = priv;

    (void)core;
    check_cb(s, gpa, len);
    memset(dst, s->sig, len);
    return 0;
}

static int cb_write(struct v3_core *core, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)core;
    (void)src;
    check_cb(priv, gpa, len);
    if ((gpa & (PG - 1)) < HALF)
        violation("write into a checked half", gpa);
    return 0;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Is [p, p+n) one valid signature? */
static int uniform(const unsigned char *p, size_t n)
{
    if (!n)
        return 1;
    if (p[0] == JUNK)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0])
            return 0;
    return 1;
}

static void *reader(void *arg)
{
    long id = (long)arg;
    uint64_t seed = 0x1234567ull * (uint64_t)(id + 1);
    unsigned char buf[3 * PG], chk[3 * PG];
    struct v3_mem_cache cache = { 0 };
    uint64_t own = (uint64_t)(8 + 16 * id) * PG;          /* own RAM pages, outside the slots */

    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        uint64_t r = rnd(&seed);
        uint64_t page = SLOT_BASE / PG + r % (SLOTS * SLOT_PAGES);

        switch ((r >> 20) % 4) {
        case 0: {                  /* read the checked half of 1..2 pages */
            uint64_t off = (r >> 30) % HALF;
            size_t n = HALF - off;
            int64_t rc = v3_read_gpa_memory(vm, NULL, page * PG + off, n, buf);

            if (rc != (int64_t)n)
                violation("read failed", page * PG + off);
            else if (!uniform(buf, n))
                violation("torn or stale read", page * PG + off);
            else
                __atomic_add_fetch(&reads_ok, 1, __ATOMIC_RELAXED);
            break;
        }
        case 1: {                  /* write the scratch half, maybe across into the next page's scratch */
            uint64_t off = HALF + (r >> 30) % HALF;
            size_t n = 1 + (r >> 40) % (PG - off);
            int64_t rc;

            if (page * PG + off + n > SLOT_BASE + SLOTS * SLOT_PAGES * PG)
                n = 1;
            memset(buf, (int)(r >> 50) | 1, n);
            rc = v3_write_gpa_memory(vm, NULL, page * PG + off, n, buf);
            if (rc != (int64_t)n)
                violation("write failed", page * PG + off);
            else
                __atomic_add_fetch(&writes_ok, 1, __ATOMIC_RELAXED);
            break;
        }
        case 2: {                  /* lookup and direct access under the read lock */
            struct v3_mem_region *reg;
            void *hva;
            uint64_t gpa = page * PG + (r >> 30) % HALF;

            v3_mem_read_lock(vm);
            reg = v3_mem_lookup(vm, &cache, gpa);
            if (!reg || gpa < reg->guest_start || gpa >= reg->guest_end) {
                violation("lookup returned a region not covering the address", gpa);
            } else if (reg->type == V3_REGION_FULL_HOOK) {
                if (v3_gpa_to_hva(vm, gpa, &hva) != V3_EHOOKED)
                    violation("full hook has an address", gpa);
                if (!__atomic_load_n(&((struct slot *)reg->priv)->alive, __ATOMIC_ACQUIRE))
                    violation("lookup found a removed region", gpa);
            } else if (v3_gpa_to_hva(vm, gpa, &hva) != V3_OK) {
                violation("gpa_to_hva failed", gpa);
            } else {
                const unsigned char *p = (const unsigned char *)hva - (gpa & (PG - 1));
                if (!uniform(p, HALF))
                    violation("torn memory under the read lock", gpa);
                if (reg->type != V3_REGION_BASE && p[0] == RAM_SIG)
                    violation("overlay shows RAM contents", gpa);
            }
            v3_mem_read_unlock(vm);
            __atomic_add_fetch(&lookups_ok, 1, __ATOMIC_RELAXED);
            break;
        }
        default: {                 /* own RAM: write, read back */
            uint64_t off = (r >> 24) % (8 * PG);
            size_t n = 1 + (r >> 40) % sizeof(buf);

            for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)(i + r);
            if (v3_write_gpa_memory(vm, NULL, own + off, n, buf) != (int64_t)n ||
                v3_read_gpa_memory(vm, NULL, own + off, n, chk) != (int64_t)n ||
                memcmp(buf, chk, n))
                violation("own RAM readback differs", own + off);
            break;
        }
        }
    }
    return NULL;
}

static void *writer(void *arg)
{
    uint64_t seed = 0xfeedull;
    long changes = 0;
    double t0 = now();

    (void)arg;
    while (changes < opt_cases) {
        if ((changes & 255) == 0 && changes >= 2000 && now() - t0 > opt_seconds)
            break;
        uint64_t r = rnd(&seed);
        struct slot *s = &slots[r % SLOTS];
        int rc;

        if (s->present) {
            rc = s->type == V3_REGION_SHADOW ? v3_delete_shadow_region(vm, s->start)
                                              : v3_unhook_mem(vm, s->start);
            if (rc != V3_OK)
                violation("removal failed", s->start);
            /* no reader can be inside the region any more: scribble over it */
            __atomic_store_n(&s->alive, 0, __ATOMIC_RELEASE);
            memset(s->buf, JUNK, SLOT_PAGES * PG);
            s->present = 0;
        } else {
            uint64_t first = (r >> 8) % SLOT_PAGES;
            uint64_t np = 1 + (r >> 16) % (SLOT_PAGES - first);
            uint64_t base = SLOT_BASE + (uint64_t)(s - slots) * SLOT_PAGES * PG;

            s->start = base + first * PG;
            s->end = s->start + np * PG;
            s->type = (enum v3_region_type)(V3_REGION_SHADOW + (r >> 24) % 3);
            s->sig = (unsigned char)(0x20 + (r >> 32) % 0x80);
            for (uint64_t p = 0; p < np; p++)
                memset(s->buf + p * PG, s->sig, HALF);
            __atomic_store_n(&s->alive, 1, __ATOMIC_RELEASE);
            if (s->type == V3_REGION_SHADOW)
                rc = v3_add_shadow_mem(vm, s->start, s->end, s->buf);
            else if (s->type == V3_REGION_WRITE_HOOK)
                rc = v3_hook_write_mem(vm, s->start, s->end, s->buf, cb_write, s);
            else
                rc = v3_hook_full_mem(vm, s->start, s->end, cb_read, cb_write, s);
            if (rc != V3_OK)
                violation("add failed", s->start);
            s->present = 1;
        }
        changes++;
    }
    writer_changes = changes;
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t rd[READERS], wr;
    unsigned char *ram;

    (void)state;
    vm = mm_vm(RAM);
    ram = v3_mem_base(vm)->host_addr;
    for (uint64_t p = SLOT_BASE / PG; p < SLOT_BASE / PG + SLOTS * SLOT_PAGES; p++)
        memset(ram + p * PG, RAM_SIG, HALF);
    for (int i = 0; i < SLOTS; i++)
        slots[i].buf = mm_host_pages(SLOT_PAGES, JUNK);
    for (long i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, reader, (void *)i), 0);
    assert_int_equal(pthread_create(&wr, NULL, writer, NULL), 0);
    pthread_join(wr, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(rd[i], NULL);
    printf("threads: %ld map changes; readers: %ld reads, %ld writes, %ld locked lookups, %ld callbacks\n",
           writer_changes, reads_ok, writes_ok, lookups_ok, cb_calls);
    if (violations)
        fail_msg("%ld violations, first: %s", violations, first_violation);
    v3_free_vm(vm);
    for (int i = 0; i < SLOTS; i++)
        free(slots[i].buf);
    assert_int_equal(v3t_outstanding(), 0);
    assert_true(reads_ok > 0 && writes_ok > 0 && lookups_ok > 0);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            opt_cases = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            opt_seconds = atof(argv[++i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
