/* SPDX-License-Identifier: MIT */
/*
 * PC-platform interrupt benchmark: the guest programs of irq.asm run as
 * whole guests under v3vm (-machine pc) and under QEMU 7.2 TCG, the two
 * emulators alternating in every round; one table shows both side by side
 * (minimum, median and maximum over the rounds) with the ratio of the
 * medians.
 *
 * Three clocks are read for every run:
 *  - host CPU time of the emulator process (user + system over all its
 *    threads, from wait4): the main figure, the least disturbed by other
 *    load on a shared machine; QEMU's includes its main-loop thread, which
 *    runs its timers;
 *  - host wall time (start-up included; differences of two runs cancel it);
 *  - the guest's own TSC (RDTSC in irq.asm).  v3vm's TSC runs at 2 GHz of
 *    VM time (realtime clock by default); QEMU TCG's is the host's, whose
 *    rate this program measures against CLOCK_MONOTONIC.  Both follow wall
 *    time, so they include the time the emulator was not scheduled.
 *
 * v3vm runs twice in each round: with its default realtime clock and with
 * -clock virtual (1 ns per instruction, so its guest TSC counts guest
 * work and the 10 kHz timers tick exactly 10,000 times per virtual second
 * whatever the load).
 *
 * Options: --rounds N (default 3), --v3vm PATH, --qemu PATH, --only
 * a|b|c (a: one-shot cost, b: LAPIC 10 kHz, c: PIT 10 kHz), --v3-only
 * (no QEMU runs), --v3-args "ARGS" (extra v3vm arguments).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

enum { V_EMPTY, V_ONESHOT, V_CONTROL, V_LOOP, V_PERIODIC, V_PIT, NV };
enum { E_V3, E_V3V, E_QEMU, NE };
#define N_ONESHOT 100000.0      /* irq.asm N_ONESHOT */
#define MAX_ROUNDS 32
#define MAX_ARGS 32

static const char *const vname[NV] = { "empty", "oneshot", "control", "loop", "periodic", "pit" };
static const char *const ename[NE] = { "v3vm", "v3vm -clock virtual", "qemu" };

struct result {
    double wall;        /* host seconds */
    double cpu;         /* host CPU seconds of the emulator process (user + system, all threads) */
    double n, t, lat;   /* guest: interrupts, TSC ticks of the measured part, summed latency ticks */
};

static struct result res[NE][NV][MAX_ROUNDS];
static double tsc_hz[NE];
static const char *v3vm_path = V3_BENCH_V3VM, *qemu_path = "qemu-system-x86_64";
static char *v3_extra[MAX_ARGS];
static int n_extra;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* the host TSC rate: QEMU TCG's guest TSC reads it */
static double host_tsc_hz(void)
{
    double t0 = now(), t1;
    uint64_t c0 = __rdtsc(), c1;
    struct timespec d = { 0, 200000000 };
    nanosleep(&d, NULL);
    c1 = __rdtsc();
    t1 = now();
    return (c1 - c0) / (t1 - t0);
}

static void image_path(int v, char *buf, size_t len)
{
    snprintf(buf, len, "%s/irq%d.bin", V3_BENCH_IMAGES, v);
}

/* Runs one guest; fills @r from its result line.  Exits on failure. */
static void run_one(int e, int v, struct result *r)
{
    char img[512], out[4096];
    char *argv[MAX_ARGS * 2];
    int pfd[2], status, n = 0, len = 0;
    unsigned rv, nn;
    unsigned long long t, lat;
    pid_t pid;
    struct rusage ru;
    double t0;
    char *p;

    image_path(v, img, sizeof(img));
    if (e != E_QEMU) {
        argv[n++] = (char *)v3vm_path;
        argv[n++] = "-m";
        argv[n++] = "128M";
        if (e == E_V3V) {
            argv[n++] = "-clock";
            argv[n++] = "virtual";
        }
        for (int i = 0; i < n_extra; i++)
            argv[n++] = v3_extra[i];
        argv[n++] = "-kernel";
        argv[n++] = img;
        argv[n++] = "-serial";
        argv[n++] = "stdio";
    } else {
        static char *q[] = { "-accel", "tcg", "-cpu", "max", "-machine", "pc", "-no-reboot", "-nodefaults",
                             "-display", "none", "-serial", "stdio", "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=0x4", "-m", "128", "-kernel" };
        argv[n++] = (char *)qemu_path;
        for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
            argv[n++] = q[i];
        argv[n++] = img;
    }
    argv[n] = NULL;
    if (pipe(pfd) < 0) {
        perror("pipe");
        exit(1);
    }
    t0 = now();
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR);
        dup2(dn, 0);
        dup2(dn, 2);
        dup2(pfd[1], 1);
        close(pfd[0]);
        alarm(300);                 /* kept across exec: a hung guest dies */
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t k = read(pfd[0], out + len, sizeof(out) - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (int)k;
    }
    out[len] = 0;
    close(pfd[0]);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    r->wall = now() - t0;
    r->cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    p = strstr(out, "r=");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !p ||
        sscanf(p, "r=%x n=%x t=%llx lat=%llx", &rv, &nn, &t, &lat) != 4 || (int)rv != v) {
        fprintf(stderr, "%s %s: bad run (status %#x), output: %s\n", ename[e], vname[v], status, out);
        exit(1);
    }
    r->n = nn;
    r->t = (double)t;
    r->lat = (double)lat;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat3 { double min, med, max; };

static struct stat3 stats(const double *x, int n)
{
    double s[MAX_ROUNDS];
    struct stat3 r;
    memcpy(s, x, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_d);
    r.min = s[0];
    r.max = s[n - 1];
    r.med = n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return r;
}

typedef double (*metric_fn)(int e, int round);

#define R(e, v, k) (res[e][v][k])
static double m_startup(int e, int k) { return R(e, V_EMPTY, k).cpu * 1e3; }
static double m_startup_wall(int e, int k) { return R(e, V_EMPTY, k).wall * 1e3; }
static double m_os_cpu(int e, int k) { return (R(e, V_ONESHOT, k).cpu - R(e, V_CONTROL, k).cpu) * 1e9 / N_ONESHOT; }
static double m_os_wall(int e, int k) { return (R(e, V_ONESHOT, k).wall - R(e, V_CONTROL, k).wall) * 1e9 / N_ONESHOT; }
static double m_os_tsc(int e, int k)
{
    return (R(e, V_ONESHOT, k).t - R(e, V_CONTROL, k).t) / tsc_hz[e] * 1e9 / N_ONESHOT;
}
static double m_os_irq_cpu(int e, int k) { return (R(e, V_ONESHOT, k).cpu - R(e, V_EMPTY, k).cpu) * 1e9 / N_ONESHOT; }
static double m_os_ctl_cpu(int e, int k) { return (R(e, V_CONTROL, k).cpu - R(e, V_EMPTY, k).cpu) * 1e9 / N_ONESHOT; }
static double m_os_lat(int e, int k) { return R(e, V_ONESHOT, k).lat / tsc_hz[e] * 1e9 / R(e, V_ONESHOT, k).n; }
static double m_loop_cpu(int e, int k) { return (R(e, V_LOOP, k).cpu - R(e, V_EMPTY, k).cpu) * 1e3; }
static double m_loop_tsc(int e, int k) { return R(e, V_LOOP, k).t / tsc_hz[e] * 1e3; }
static double rate(int e, int v, int k) { return R(e, v, k).n / (R(e, v, k).t / tsc_hz[e]); }
static double slow_cpu(int e, int v, int k)
{
    return (R(e, v, k).cpu - R(e, V_EMPTY, k).cpu) / (R(e, V_LOOP, k).cpu - R(e, V_EMPTY, k).cpu);
}
static double slow_tsc(int e, int v, int k) { return R(e, v, k).t / R(e, V_LOOP, k).t; }
static double per_irq(int e, int v, int k)
{
    return R(e, v, k).n ? (R(e, v, k).cpu - R(e, V_LOOP, k).cpu) * 1e9 / R(e, v, k).n : 0;
}
static double m_per_n(int e, int k) { return R(e, V_PERIODIC, k).n; }
static double m_per_rate(int e, int k) { return rate(e, V_PERIODIC, k); }
static double m_per_cpu(int e, int k) { return slow_cpu(e, V_PERIODIC, k); }
static double m_per_tsc(int e, int k) { return slow_tsc(e, V_PERIODIC, k); }
static double m_per_irq(int e, int k) { return per_irq(e, V_PERIODIC, k); }
static double m_pit_n(int e, int k) { return R(e, V_PIT, k).n; }
static double m_pit_rate(int e, int k) { return rate(e, V_PIT, k); }
static double m_pit_cpu(int e, int k) { return slow_cpu(e, V_PIT, k); }
static double m_pit_tsc(int e, int k) { return slow_tsc(e, V_PIT, k); }
static double m_pit_irq(int e, int k) { return per_irq(e, V_PIT, k); }

struct row { char part; const char *name; metric_fn fn; };

static const struct row rows[] = {
    { 0,   "start-up, empty guest: CPU ms", m_startup },
    { 0,   "start-up, empty guest: wall ms", m_startup_wall },
    { 'a', "one-shot: CPU ns per interrupt", m_os_cpu },
    { 'a', "one-shot: wall ns per interrupt", m_os_wall },
    { 'a', "one-shot: guest-TSC ns per interrupt", m_os_tsc },
    { 'a', "one-shot: CPU ns per iteration, irq", m_os_irq_cpu },
    { 'a', "one-shot: CPU ns per iteration, ctrl", m_os_ctl_cpu },
    { 'a', "one-shot: re-arm to handler, TSC ns", m_os_lat },
    { 'b', "compute loop, no timer: CPU ms", m_loop_cpu },
    { 'b', "compute loop, no timer: TSC ms", m_loop_tsc },
    { 'b', "LAPIC 10 kHz: interrupts taken", m_per_n },
    { 'b', "LAPIC 10 kHz: per guest TSC second", m_per_rate },
    { 'b', "LAPIC 10 kHz: slowdown, CPU", m_per_cpu },
    { 'b', "LAPIC 10 kHz: slowdown, guest TSC", m_per_tsc },
    { 'b', "LAPIC 10 kHz: CPU ns per interrupt", m_per_irq },
    { 'c', "PIT 10 kHz: interrupts taken", m_pit_n },
    { 'c', "PIT 10 kHz: per guest TSC second", m_pit_rate },
    { 'c', "PIT 10 kHz: slowdown, CPU", m_pit_cpu },
    { 'c', "PIT 10 kHz: slowdown, guest TSC", m_pit_tsc },
    { 'c', "PIT 10 kHz: CPU ns per interrupt", m_pit_irq },
};

static int wanted(char part, const char *only)
{
    return !only || part == 0 || part == only[0];
}

static int variant_wanted(int v, const char *only)
{
    if (!only || v == V_EMPTY)
        return 1;
    switch (only[0]) {
    case 'a': return v == V_ONESHOT || v == V_CONTROL;
    case 'b': return v == V_LOOP || v == V_PERIODIC;
    case 'c': return v == V_LOOP || v == V_PIT;
    }
    return 0;
}

static void fmt(char *buf, size_t len, double x)
{
    if (x >= 1000 || x <= -1000)
        snprintf(buf, len, "%.0f", x);
    else if (x >= 10 || x <= -10)
        snprintf(buf, len, "%.1f", x);
    else
        snprintf(buf, len, "%.3f", x);
}

int main(int argc, char **argv)
{
    int rounds = 3, v3_only = 0, ne;
    const char *only = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--v3vm") && i + 1 < argc) v3vm_path = argv[++i];
        else if (!strcmp(argv[i], "--qemu") && i + 1 < argc) qemu_path = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--v3-only")) v3_only = 1;
        else if (!strcmp(argv[i], "--v3-args") && i + 1 < argc) {
            char *s = strdup(argv[++i]);
            for (char *tok = strtok(s, " "); tok && n_extra < MAX_ARGS; tok = strtok(NULL, " "))
                v3_extra[n_extra++] = tok;
        } else {
            fprintf(stderr, "usage: %s [--rounds N] [--only a|b|c] [--v3-only] [--v3vm PATH] "
                    "[--qemu PATH] [--v3-args \"ARGS\"]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    if (only && (strlen(only) != 1 || only[0] < 'a' || only[0] > 'c')) {
        fprintf(stderr, "--only takes a, b or c\n");
        return 2;
    }
    ne = v3_only ? NE - 1 : NE;
    tsc_hz[E_V3] = tsc_hz[E_V3V] = 2e9;
    tsc_hz[E_QEMU] = host_tsc_hz();

    /* rounds; in each, every variant on each emulator in turn */
    for (int k = 0; k < rounds; k++)
        for (int v = 0; v < NV; v++)
            if (variant_wanted(v, only))
                for (int e = 0; e < NE; e++)
                    if (e != E_QEMU || !v3_only)
                        run_one(e, v, &res[e][v][k]);

    printf("PC platform interrupt path, %d round%s (guest TSC: v3vm 2 GHz, qemu = host %.3f GHz)\n",
           rounds, rounds > 1 ? "s" : "", tsc_hz[E_QEMU] / 1e9);
    printf("%-38s %28s %28s", "metric", "v3vm: min / median / max", "v3vm -clock virtual");
    if (ne == NE)
        printf(" %28s %9s", "qemu: min / median / max", "v3/qemu");
    printf("\n");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct stat3 s[NE];
        char a[24], b[24], c[24], cell[96];
        if (!wanted(rows[i].part, only))
            continue;
        printf("%c %-36s", rows[i].part ? rows[i].part : ' ', rows[i].name);
        for (int e = 0; e < ne; e++) {
            double x[MAX_ROUNDS];
            for (int k = 0; k < rounds; k++)
                x[k] = rows[i].fn(e, k);
            s[e] = stats(x, rounds);
            fmt(a, sizeof(a), s[e].min);
            fmt(b, sizeof(b), s[e].med);
            fmt(c, sizeof(c), s[e].max);
            snprintf(cell, sizeof(cell), "%s / %s / %s", a, b, c);
            printf(" %28s", cell);
        }
        if (ne == NE)
            printf(" %9.3f", s[E_QEMU].med ? s[E_V3].med / s[E_QEMU].med : 0);
        printf("\n");
    }
    return 0;
}
