/* SPDX-License-Identifier: MIT */
/*
 * Fuzzing a guest routine with fast reset (v3/snapshot.h).
 *
 * The guest (64-bit, identity-mapped) makes a "ready" hypercall, then copies
 * its input (length at 0x1FFFF8, bytes at 0x200000) to a scratch buffer and
 * checks it: input that starts with "FUZ" reaches the "bug" (a store, then a
 * "crash" hypercall); anything else ends with a "done" hypercall.
 *
 * The embedder runs to "ready", takes an in-memory snapshot there, and then
 * loops: write an input into guest memory, run to the next hypercall, reset.
 * Each reset copies back only the pages the run dirtied.
 *
 *   fuzz_reset [--iters N] [--seed S] [--check]
 *
 * --check also verifies, after every reset, that the scratch pages and the
 * "bug" word are back to their snapshot contents, and exits non-zero when a
 * crash count differs from the number of inputs starting with "FUZ" (the
 * harness's own count, an independent oracle).  Prints executions per second.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <v3/v3.h>

#define RAM       (16u << 20)
#define PML4      0x1000u
#define PDPT      0x2000u
#define PD        0x3000u
#define CODE      0x10000u
#define INPUT     0x200000u
#define SCRATCH   0x210000u
#define BUGWORD   0x220000u
#define HC_READY  0x7a01u
#define HC_DONE   0x7a02u
#define HC_CRASH  0x7a03u
#define MAX_INPUT 64u

/* nasm -f bin (org 0x10000, bits 64):
 *     mov eax, HC_READY ; vmcall
 *     mov rsi, INPUT ; mov rdi, SCRATCH ; mov ecx, [rsi - 8] ; cld ; rep movsb
 *     mov rsi, INPUT
 *     cmp byte [rsi], 'F' ; jne done
 *     cmp byte [rsi + 1], 'U' ; jne done
 *     cmp byte [rsi + 2], 'Z' ; jne done
 *     mov dword [BUGWORD], 0xdead ; mov eax, HC_CRASH ; vmcall ; jmp $
 * done: mov eax, HC_DONE ; vmcall ; jmp $                                  */
static const uint8_t routine[] = {
    0xb8, 0x01, 0x7a, 0x00, 0x00, 0x0f, 0x01, 0xc1, 0xbe, 0x00, 0x00, 0x20,
    0x00, 0xbf, 0x00, 0x00, 0x21, 0x00, 0x8b, 0x4e, 0xf8, 0xfc, 0xf3, 0xa4,
    0xbe, 0x00, 0x00, 0x20, 0x00, 0x80, 0x3e, 0x46, 0x75, 0x21, 0x80, 0x7e,
    0x01, 0x55, 0x75, 0x1b, 0x80, 0x7e, 0x02, 0x5a, 0x75, 0x15, 0xc7, 0x04,
    0x25, 0x00, 0x00, 0x22, 0x00, 0xad, 0xde, 0x00, 0x00, 0xb8, 0x03, 0x7a,
    0x00, 0x00, 0x0f, 0x01, 0xc1, 0xeb, 0xfe, 0xb8, 0x02, 0x7a, 0x00, 0x00,
    0x0f, 0x01, 0xc1, 0xeb, 0xfe,
};

/* Every marker hypercall stops the VM with its ID as the exit code. */
static int on_marker(struct v3_core *core, uint64_t id, uint64_t *result, void *priv)
{
    (void)priv;
    *result = 0;
    v3_vm_request_stop(core->vm, V3_STOP_DEBUG_EXIT, (int)id);
    return 0;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int setup(struct v3_vm *vm)
{
    struct v3_core *c = v3_get_core(vm, 0);
    uint64_t e;
    int rc = 0;

    /* identity map of the first GiB, 2 MiB pages */
    e = PDPT | 0x3;
    rc |= v3_write_gpa_memory(vm, NULL, PML4, 8, &e) != 8;
    e = PD | 0x3;
    rc |= v3_write_gpa_memory(vm, NULL, PDPT, 8, &e) != 8;
    for (uint64_t i = 0; i < 512; i++) {
        e = (i << 21) | 0x83;
        rc |= v3_write_gpa_memory(vm, NULL, PD + i * 8, 8, &e) != 8;
    }
    rc |= v3_write_gpa_memory(vm, NULL, CODE, sizeof(routine), routine) != (int64_t)sizeof(routine);
    if (rc)
        return -1;
    c->cr0 = V3_CR0_PE | V3_CR0_PG | V3_CR0_ET | V3_CR0_NE | V3_CR0_MP;
    c->cr4 = V3_CR4_PAE | V3_CR4_OSFXSR | V3_CR4_OSXMMEXCPT;
    c->cr3 = PML4;
    c->efer = V3_EFER_LME | V3_EFER_LMA;
    c->seg[V3_CS] = (struct v3_segment){ 8, V3_SEG_P | V3_SEG_S | 0xb | V3_SEG_L, 0xffffffff, 0 };
    for (int s = 0; s < 6; s++)
        if (s != V3_CS)
            c->seg[s] = (struct v3_segment){ 0x10, V3_SEG_P | V3_SEG_S | 0x3 | V3_SEG_DB, 0xffffffff, 0 };
    c->rip = CODE;
    c->gpr[V3_RSP] = 0x80000;
    v3_core_set_rflags(c, 2);
    v3_core_update_mode(c);
    return 0;
}

static int run_to_marker(struct v3_vm *vm)
{
    struct v3_vm_result res;

    if (v3_run_vm(vm, &res) < 0 || res.reason != V3_STOP_DEBUG_EXIT) {
        fprintf(stderr, "fuzz_reset: the guest stopped: %s (%s)\n", v3_stop_reason_str(res.reason),
                res.msg ? res.msg : "-");
        return -1;
    }
    return res.exit_code;
}

int main(int argc, char **argv)
{
    unsigned long iters = 100000, crashes = 0, expected = 0;
    int check = 0, err, rc = 1;
    struct v3_vm_config cfg;
    struct v3_vm *vm = NULL;
    struct v3_vm_snapshot *snap = NULL;
    double t0, t;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 0) | 1;
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else {
            fprintf(stderr, "usage: %s [--iters N] [--seed S] [--check]\n", argv[0]);
            return 2;
        }
    }
    if (v3_init(v3_posix_os_hooks()) != V3_OK)
        return 1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = RAM;
    cfg.machine = "none";
    cfg.clock = V3_CLOCK_VIRTUAL;
    vm = v3_create_vm(&cfg, &err);
    if (!vm) {
        fprintf(stderr, "fuzz_reset: cannot create the VM: %s\n", v3_strerror(err));
        goto out;
    }
    if (setup(vm) < 0 || v3_register_hypercall(vm, HC_READY, on_marker, NULL) < 0 ||
        v3_register_hypercall(vm, HC_DONE, on_marker, NULL) < 0 ||
        v3_register_hypercall(vm, HC_CRASH, on_marker, NULL) < 0)
        goto out;
    if (run_to_marker(vm) != HC_READY)
        goto out;
    snap = v3_vm_snapshot_take(vm, &err);
    if (!snap) {
        fprintf(stderr, "fuzz_reset: cannot take the snapshot: %s\n", v3_strerror(err));
        goto out;
    }

    t0 = now_s();
    for (unsigned long i = 0; i < iters; i++) {
        uint8_t in[MAX_INPUT];
        uint64_t len = 1 + next_rand() % MAX_INPUT;
        int m;

        for (unsigned k = 0; k < len; k++)
            in[k] = (uint8_t)next_rand();
        if ((next_rand() & 7) == 0 && len >= 3)
            memcpy(in, "FUZ", 3);            /* a dictionary word, now and then */
        expected += len >= 3 && !memcmp(in, "FUZ", 3);
        if (v3_write_gpa_memory(vm, NULL, INPUT - 8, 8, &len) != 8 ||
            v3_write_gpa_memory(vm, NULL, INPUT, len, in) != (int64_t)len)
            goto out;
        m = run_to_marker(vm);
        if (m == HC_CRASH)
            crashes++;
        else if (m != HC_DONE)
            goto out;
        if ((err = v3_vm_reset(vm, snap)) < 0) {
            fprintf(stderr, "fuzz_reset: reset failed: %s\n", v3_strerror(err));
            goto out;
        }
        if (check) {
            uint8_t scratch[MAX_INPUT];
            uint32_t bug;
            static const uint8_t zero[MAX_INPUT];
            if (v3_read_gpa_memory(vm, NULL, SCRATCH, sizeof(scratch), scratch) != sizeof(scratch) ||
                v3_read_gpa_memory(vm, NULL, BUGWORD, 4, &bug) != 4 || memcmp(scratch, zero, sizeof(zero)) ||
                bug != 0 || v3_get_core(vm, 0)->rip != CODE + 8) {
                fprintf(stderr, "fuzz_reset: state not restored after execution %lu\n", i);
                goto out;
            }
        }
    }
    t = now_s() - t0;
    printf("fuzz_reset: %lu executions in %.3f s: %.0f executions per second, %lu crashes\n", iters, t,
           t > 0 ? iters / t : 0.0, crashes);
    if (crashes != expected) {
        fprintf(stderr, "fuzz_reset: %lu crashes, the harness expected %lu\n", crashes, expected);
        goto out;
    }
    rc = 0;
out:
    v3_vm_snapshot_free(snap);
    v3_free_vm(vm);
    v3_deinit();
    return rc;
}
