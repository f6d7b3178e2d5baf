/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the software CPU: random guest code and register state in
 * real mode, 32-bit protected mode or 64-bit mode, with RAM, a write-hooked
 * page and a fully hooked page mapped, run under an instruction limit.
 * Every run must end in a defined exit (no crash, no sanitizer report, no
 * hang); exits the VMM would complete (I/O, hypercall, CPUID) are completed
 * and the vCPU resumed a bounded number of times.
 *
 * Input: byte 0 mode, bytes 1..136 register state, then code placed at
 * guest physical 0x10000 (the rest of RAM is filled from the input too).
 * With -DV3_FUZZ_MAIN this file builds a replay driver: it runs the files
 * named on the command line, or N deterministic pseudo-random inputs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <v3/v3.h>
#include <v3/cpu.h>
#include <v3/mem.h>
#include <v3/paging.h>
#include <v3/vm.h>

#define MEM   (2u << 20)
#define CODE  0x10000u
#define WHOOK 0x30000u
#define FHOOK 0x31000u
#define INSN_BUDGET 500

static uint8_t whook_mem[4096] __attribute__((aligned(4096)));

static int fh_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)priv;
    memset(dst, (int)(gpa & 0xff), len);
    return 0;
}
static int fh_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)priv;
    return 0;
}
static int wh_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)priv;
    return len == 3 ? -1 : 0;      /* some vetoes */
}

static void setup_mode(struct v3_core *c, uint8_t *ram, unsigned mode)
{
    for (int s = 0; s < 6; s++) {
        c->seg[s].base = 0;
        c->seg[s].selector = 0;
    }
    c->cr4 = V3_CR4_OSFXSR;
    if (mode == 0) {
        /* CS:IP = 1000:0000, so the code at CODE is inside the 64 KiB segment */
        c->cr0 = V3_CR0_ET;
        c->seg[V3_CS].selector = CODE >> 4;
        c->seg[V3_CS].base = CODE;
        c->rip = 0;
    } else {
        for (int s = 0; s < 6; s++) {
            c->seg[s].limit = 0xffffffff;
            c->seg[s].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_DB | V3_SEG_G | (s == V3_CS ? 0xb : 0x3);
            c->seg[s].selector = s == V3_CS ? 8 : 0x10;
        }
        c->cr0 = V3_CR0_PE | V3_CR0_ET | V3_CR0_NE;
        c->rip = CODE;
        if (mode == 2) {
            uint64_t *pt;
            pt = (uint64_t *)(ram + 0x1000); pt[0] = 0x2000 | 7;
            pt = (uint64_t *)(ram + 0x2000); pt[0] = 0x3000 | 7;
            pt = (uint64_t *)(ram + 0x3000); pt[0] = 0x0 | 0x87;
            c->cr3 = 0x1000;
            c->cr0 |= V3_CR0_PG;
            c->cr4 |= V3_CR4_PAE;
            c->efer = V3_EFER_LME | V3_EFER_LMA | V3_EFER_NXE | V3_EFER_SCE;
            c->seg[V3_CS].attrib = V3_SEG_P | V3_SEG_S | V3_SEG_L | 0xb;
        }
    }
    v3_core_update_mode(c);
    v3_tlb_flush_all(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    (void)level; (void)fmt; (void)ap;
}

/*
 * One VM for every input (making a VM per input cost most of the time: the
 * back end's decode cache and TLB are allocated and freed, and RAM is mapped
 * and faulted in again).  Each input starts from the same state: vCPU reset
 * (registers, TLB), RAM and the write-hooked page zeroed, the decode cache
 * emptied, the instruction budget set again.  RAM is small (2 MiB), so
 * zeroing all of it is cheaper than tracking what the guest wrote.
 */
static struct v3_vm *vm;
static struct v3_core *core;
static uint8_t *ram;

static void make_vm(void)
{
    struct v3_os_hooks h = *v3_posix_os_hooks();
    struct v3_vm_config cfg;
    void *hva;

    h.log = quiet_log;
    if (v3_init(&h) < 0)
        abort();
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MEM;
    cfg.backend_ops = &v3_emu_backend;
    vm = v3_create_vm(&cfg, NULL);
    if (!vm)
        abort();
    core = v3_get_core(vm, 0);
    if (v3_gpa_to_hva(vm, 0, &hva) < 0)
        abort();
    ram = hva;
    if (v3_hook_write_mem(vm, WHOOK, WHOOK + 4096, whook_mem, wh_write, NULL) < 0 ||
        v3_hook_full_mem(vm, FHOOK, FHOOK + 4096, fh_read, fh_write, NULL) < 0)
        abort();
}

/*
 * A watchdog thread stops the vCPU (v3_cpu_request_stop) when one input has
 * run for WATCHDOG_MS: the instruction budget counts a REP string
 * instruction once, and one can do 2^32 (or 2^64) iterations over unbacked
 * memory, which reads as all ones and never faults.  That is the guest's
 * right, but not a useful fuzz input.  3 ms: a sanitizer build runs the
 * 500-instruction budget in well under that unless a REP runs on; 10 ms
 * halved the throughput.  An input's end thus depends on time after 3 ms.
 */
#define WATCHDOG_MS 3
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static int wd_armed;
static unsigned long wd_gen;
static struct timespec wd_deadline;

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_lock);
    for (;;) {
        unsigned long g;
        while (!wd_armed)
            pthread_cond_wait(&wd_cond, &wd_lock);
        g = wd_gen;
        if (pthread_cond_timedwait(&wd_cond, &wd_lock, &wd_deadline) == ETIMEDOUT && wd_armed &&
            wd_gen == g) {
            v3_cpu_request_stop(core);
            wd_armed = 0;
        }
    }
    return NULL;
}

static void watchdog_arm(int on)
{
    pthread_mutex_lock(&wd_lock);
    wd_armed = on;
    wd_gen++;
    if (on) {
        clock_gettime(CLOCK_REALTIME, &wd_deadline);
        wd_deadline.tv_nsec += WATCHDOG_MS * 1000000L;
        if (wd_deadline.tv_nsec >= 1000000000L) {
            wd_deadline.tv_sec++;
            wd_deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct v3_core *c;
    struct v3_exit ex;
    unsigned mode;
    int rounds = 0;

    if (size < 1 + 136)
        return 0;
    if (!vm) {
        pthread_t t;
        make_vm();
        if (pthread_create(&t, NULL, watchdog, NULL) != 0)
            abort();
        pthread_detach(t);
    }
    c = core;
    v3_core_reset(c);
    memset(ram, 0, MEM);
    memset(whook_mem, 0, sizeof(whook_mem));
    v3_cpu_invalidate_code(c, 0, MEM);

    mode = data[0] % 3;
    /* the rest of the input: code at CODE, repeated over the low RAM as data */
    {
        size_t n = size - 137;
        const uint8_t *code = data + 137;
        if (n) {
            for (uint32_t off = 0x4000; off < 0x30000; off += (uint32_t)n)
                memcpy(ram + off, code, off + n <= 0x30000 ? n : 0x30000 - off);
            memcpy(ram + CODE, code, n < 0x10000 ? n : 0x10000);
        }
    }
    setup_mode(c, ram, mode);
    memcpy(c->gpr, data + 1, 128);
    {
        uint64_t fl;
        memcpy(&fl, data + 129, 8);
        v3_core_set_rflags(c, (fl & 0x8d5) | 2);
    }
    c->gpr[4] = (c->gpr[4] & 0xfff0) | 0x8000;         /* a stack inside RAM, usually */
    /* a small budget: random code soon writes over itself, and every write
       to decoded code drops and rebuilds its block (about 20 decoded per
       executed instruction, slow under the sanitizers) */
    v3_cpu_set_insn_limit(c, c->insn_count + INSN_BUDGET);
    watchdog_arm(1);
    for (;;) {
        int rc = v3_emu_backend.run(c, &ex);
        if (ex.reason <= V3_EXIT_NONE || ex.reason > V3_EXIT_ERROR)
            abort();                                     /* undefined exit */
        if (ex.reason == V3_EXIT_ERROR && rc >= 0)
            abort();
        if (++rounds > 64)
            break;
        if (ex.reason == V3_EXIT_IO) {
            if (ex.io.in && !ex.io.string)
                c->gpr[0] = (c->gpr[0] & ~0xffffffffull) | 0xffffffffu;
            continue;
        }
        if (ex.reason == V3_EXIT_HYPERCALL || ex.reason == V3_EXIT_CPUID ||
            ex.reason == V3_EXIT_MSR_READ || ex.reason == V3_EXIT_MSR_WRITE)
            continue;
        break;
    }
    watchdog_arm(0);
    if (getenv("FUZZ_CPU_STATS")) {
        struct v3_cpu_stats st;
        v3_cpu_get_stats(c, &st);
        fprintf(stderr, "insns %llu blocks %llu decoded %llu execs %llu smc %llu cross %llu\n",
                (unsigned long long)c->insn_count, (unsigned long long)st.blocks_decoded,
                (unsigned long long)st.insns_decoded, (unsigned long long)st.block_execs,
                (unsigned long long)st.smc_invalidations, (unsigned long long)st.cross_page_insns);
    }
    return 0;
}

#ifdef V3_FUZZ_MAIN
int main(int argc, char **argv)
{
    long n = 2000;
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc) {
            n = atol(argv[++i]);
            continue;
        }
        FILE *f = fopen(argv[i], "rb");
        static uint8_t buf[1 << 16];
        size_t len;
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        files++;
    }
    if (!files) {
        uint64_t s = 0x9e3779b97f4a7c15ull;
        static uint8_t buf[137 + 512];
        for (long i = 0; i < n; i++) {
            size_t len = 137 + (size_t)(i % 512);
            for (size_t j = 0; j < len; j++) {
                s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
                buf[j] = (uint8_t)((s * 0x2545F4914F6CDD1Dull) >> 56);
            }
            buf[0] = (uint8_t)i;
            LLVMFuzzerTestOneInput(buf, len);
        }
        printf("fuzz_cpu replay: %ld generated inputs, all ended in a defined exit\n", n);
    } else {
        printf("fuzz_cpu replay: %d files\n", files);
    }
    return 0;
}
#endif
