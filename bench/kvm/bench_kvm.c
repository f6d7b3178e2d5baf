/* SPDX-License-Identifier: MIT */
/*
 * bench_kvm: the cost of an exit round trip (port I/O, MMIO on a full hook,
 * a hypercall through the doorbell port) and guest compute speed, on the
 * software CPU ("emu") and on KVM ("kvm", when v3_kvm_probe() says it is
 * usable), in one run, side by side.
 *
 *   bench_kvm [LOOPS] [COMPUTE_LOOPS]     (defaults 20000 and 2000000)
 *
 * Each case is a 32-bit guest loop run to its HLT; the time is the wall
 * time of v3_run_vm() divided by the iterations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>
#include <v3/backend.h>
#include <v3/hypercall.h>
#include <v3/loader.h>
#include <v3/mem.h>
#include <v3/vm.h>

#define MMIO 0x200000u
#define PORT 0x510u
#define HC_ID 0x7777u

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int io_w(struct v3_core *c, uint16_t p, const void *s, unsigned n, void *priv)
{ (void)c; (void)p; (void)s; (void)n; (void)priv; return 0; }
static int mm_r(struct v3_core *c, uint64_t g, void *d, uint32_t n, void *priv)
{ (void)c; (void)g; memset(d, 0, n); (void)priv; return 0; }
static int mm_w(struct v3_core *c, uint64_t g, const void *s, uint32_t n, void *priv)
{ (void)c; (void)g; (void)s; (void)n; (void)priv; return 0; }
static int hc(struct v3_core *c, uint64_t id, uint64_t *res, void *priv)
{ (void)c; (void)id; (void)priv; *res = 0; return 0; }

enum kind { K_IO, K_MMIO, K_HC, K_COMPUTE, K_N };
static const char *const kname[K_N] = { "port I/O exit", "MMIO exit", "hypercall (doorbell)",
                                        "compute (4 insns/loop)" };

/* mov ecx, N; mov edx, port; L: mov eax, id; BODY; dec ecx; jnz L; hlt */
static size_t build(enum kind k, uint32_t n, uint8_t *c)
{
    size_t i = 0, loop;
    c[i++] = 0xB9; memcpy(c + i, &n, 4); i += 4;
    c[i++] = 0xBA; { uint32_t p = k == K_HC ? V3_HCALL_DOORBELL_PORT : PORT; memcpy(c + i, &p, 4); } i += 4;
    loop = i;
    if (k != K_COMPUTE) {
        c[i++] = 0xB8; { uint32_t id = HC_ID; memcpy(c + i, &id, 4); } i += 4;
    }
    switch (k) {
    case K_IO: c[i++] = 0xEE; break;                                   /* out dx, al */
    case K_HC: c[i++] = 0xEF; break;                                   /* out dx, eax */
    case K_MMIO: c[i++] = 0xA3; { uint32_t a = MMIO; memcpy(c + i, &a, 4); } i += 4; break;
    default: c[i++] = 0x01; c[i++] = 0xC8; c[i++] = 0x31; c[i++] = 0xC3; break;  /* add eax,ecx; xor ebx,eax */
    }
    c[i++] = 0x49;                                                     /* dec ecx */
    c[i++] = 0x75; c[i] = (uint8_t)(int8_t)(loop - (i + 1)); i++;      /* jnz loop */
    c[i++] = 0xF4;
    return i;
}

/* ns per iteration, or -1 */
static double run_case(const char *backend, enum kind k, uint32_t n)
{
    struct v3_vm_config cfg;
    struct v3_vm_result res;
    struct v3_vm *vm;
    uint8_t code[64];
    uint64_t t0, t1;
    int err;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 4u << 20;
    cfg.backend = backend;
    vm = v3_create_vm(&cfg, &err);
    if (!vm)
        return -1;
    v3_hook_io_port(vm, PORT, NULL, io_w, NULL);
    v3_hook_full_mem(vm, MMIO, MMIO + 4096, mm_r, mm_w, NULL);
    v3_register_hypercall(vm, HC_ID, hc, NULL);
    if (v3_load_flat(vm, code, build(k, n, code), 0x1000, 0x1000, V3_FLAT_PROT32) < 0) {
        v3_free_vm(vm);
        return -1;
    }
    t0 = now_ns();
    v3_run_vm(vm, &res);
    t1 = now_ns();
    v3_free_vm(vm);
    if (res.reason != V3_STOP_HLT) {
        fprintf(stderr, "bench_kvm: %s %s stopped with %s\n", backend, kname[k], v3_stop_reason_str(res.reason));
        return -1;
    }
    return (double)(t1 - t0) / n;
}

int main(int argc, char **argv)
{
    uint32_t loops = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 20000;
    uint32_t cloops = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 2000000;
    int have_kvm;

    if (v3_init(v3_posix_os_hooks()) < 0)
        return 1;
    have_kvm = v3_kvm_probe(true) == 0;
    printf("%-26s %14s %14s %10s\n", "case (ns per iteration)", "emu", "kvm", "kvm/emu");
    for (int k = 0; k < K_N; k++) {
        uint32_t n = k == K_COMPUTE ? cloops : loops;
        double e = run_case("emu", k, n);
        double v = have_kvm ? run_case("kvm", k, n) : -1;
        printf("%-26s %14.1f ", kname[k], e);
        if (v >= 0)
            printf("%14.1f %10.2f\n", v, e > 0 ? v / e : 0);
        else
            printf("%14s %10s\n", "-", "-");
    }
    if (!have_kvm)
        printf("(kvm not usable here: %s)\n", getenv("V3_KVM_DEVICE") ? getenv("V3_KVM_DEVICE") : "/dev/kvm");
    v3_deinit();
    return 0;
}
