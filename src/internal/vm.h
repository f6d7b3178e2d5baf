/* SPDX-License-Identifier: MIT */
/* The VM object.  Subsystems add their per-VM state here. */
#ifndef V3_INTERNAL_VM_H
#define V3_INTERNAL_VM_H

#include <v3/backend.h>
#include <v3/debug.h>
#include <v3/devices.h>
#include <v3/hypercall.h>
#include <v3/io.h>
#include <v3/rbtree.h>
#include <v3/vm.h>
#include "mem/memmap.h"
#include "internal/clock.h"
#include "internal/devmodel.h"

struct v3_io_hook {
    struct v3_rb_node node;
    uint16_t port;
    v3_io_read_fn read;
    v3_io_write_fn write;
    void *priv;
    uint64_t calls;
};

struct v3_hypercall {
    struct v3_rb_node node;
    uint64_t id;
    v3_hypercall_fn fn;
    void *priv;
    unsigned flags;                  /* V3_HCALL_* */
};

struct v3_msr_hook {
    struct v3_msr_hook *next;
    uint32_t msr;
    v3_msr_read_fn read;
    v3_msr_write_fn write;
    void *priv;
};

struct v3_cpuid_hook {
    struct v3_cpuid_hook *next;
    uint32_t leaf;
    v3_cpuid_fn fn;
    void *priv;
};

enum { VM_IDLE = 0, VM_RUNNING = 1, VM_FREEING = 2 };

/* Run state of one vCPU (src/vm/run.c). */
struct v3_vcpu_run {
    struct v3_vm *vm;
    struct v3_core *core;
    void *thread;                    /* host thread (vCPUs 1..n-1 of an SMP run) */
    int wait_sipi;                   /* in the wait-for-SIPI state (APs after reset or INIT) */
    struct v3_vm_result res;         /* this vCPU's stop, before the VM's is chosen */
    struct v3_vm_stats stats;        /* exits of this vCPU */
};

struct v3_uart;
struct v3_vga;
struct v3_testdev;

struct v3_vm {
    struct v3_mem_map mem;           /* guest physical memory map (src/mem) */
    unsigned num_cores;
    struct v3_core *cores;           /* array of num_cores, 64-byte aligned */
    struct v3_vm_config config;      /* copy; regions pointer cleared after creation */

    /* ---- execution (src/vm) ---- */
    const struct v3_backend_ops *backend;
    int mem_ready;                   /* v3_mem_map_init() succeeded */
    unsigned cores_ready;            /* cores whose back-end/paging state is set up */
    int stop_requested;              /* atomic: v3_stop_vm() */
    uint64_t pending_stop;           /* atomic: a device asked to stop: reason | exit code << 32 */
    int pending_irq;                 /* atomic: vector + 1, 0 if none */
    int irq_sources;                 /* atomic: asynchronous interrupt sources */
    int halted;                      /* vCPU 0 waits in HLT */
    struct v3_vcpu_run *vrun;        /* num_cores entries */
    int smp_stopping;                /* atomic: a vCPU stopped the VM; the others leave */
    int smp_idle;                    /* atomic: vCPUs waiting with nothing that can wake them */
    void *smp_lock;                  /* SMP: serialises device polling and the stop decision */
    uint8_t *xmc_shared;             /* SMP: bit per RAM page some vCPU decoded (src/cpu/cache.c) */
    int run_state;                   /* atomic: VM_IDLE, VM_RUNNING (in v3_run_vm), VM_FREEING */

    /* ---- I/O ports, hypercalls, MSR/CPUID hooks (src/vm) ---- */
    struct v3_rb_root io_hooks;
    uint8_t *io_warned;              /* 65536-bit map: unhooked port already logged */
    struct v3_rb_root hypercalls;
    uint64_t hypercalls_done;
    struct v3_msr_hook *msr_hooks;
    uint64_t msr_hooks_gen;          /* atomic: bumped by every MSR hook change */
    struct v3_cpuid_hook *cpuid_hooks;

    /* ---- device model (src/vm/devmodel.c, irq.c) and clock ---- */
    struct v3_devmodel dm;
    struct v3_clock clock;
    int has_run;                     /* v3_run_vm() was called: no more devices */
    void **wake;                     /* per vCPU host event (NULL without event members) */
    void *high_ram;                  /* RAM above 4 GiB (a machine with a hole), ours */
    uint64_t high_ram_len;
    uint64_t rate_ipns_q16;          /* realtime: measured instructions per ns, 16.16 */

    struct v3_vm_stats stats;

    /* ---- debugger breakpoints and watchpoints (src/vm/debug.c, v3/debug.h) ---- */
    struct v3_debug debug;
    /* guest accesses to unbacked memory: pages already logged (+1), count (src/mem/access.c) */
    uint64_t unbacked_logged[V3_UNBACKED_LOG];
    unsigned unbacked_nlogged;

    /* ---- snapshots (src/vm/snapshot.c) ---- */
    uint64_t snap_owner;             /* in-memory snapshot whose reset the dirty log serves (0: none) */
    uint64_t snap_next_id;
};

/* A20 gate of every vCPU (port 0x92, the keyboard controller). */
void v3_vm_set_a20(struct v3_vm *vm, bool enabled);

/* Interrupts (src/vm/irq.c) */
void v3_irq_route(struct v3_vm *vm, unsigned irq, int level);
int v3_vm_intr_next(struct v3_vm *vm, struct v3_core *core, bool ack);

/* v3_free_vm(): bar v3_run_vm() from now on; if it runs in another thread,
   stop it and wait until it has returned (src/vm/run.c). */
void vm_run_quiesce(struct v3_vm *vm);

/* Exit handlers (src/vm/exits.c).  Return 0 to continue, negative error to stop. */
int v3_handle_io_exit(struct v3_core *core, const struct v3_exit *ex);
void v3_io_free_all(struct v3_vm *vm);
void v3_hypercall_free_all(struct v3_vm *vm);
int v3_hypercall_builtin_init(struct v3_vm *vm);
void v3_msr_cpuid_free_all(struct v3_vm *vm);
int v3_handle_msr_exit(struct v3_core *core, const struct v3_exit *ex, bool write);
/* An RDMSR/WRMSR of @p msr through the VM's MSR hooks (*value in or out):
 * 0, V3_EFAULT when the guest gets #GP(0) (unhooked, or the hook refuses),
 * or the hook's error.  Registers and RIP are the caller's business. */
int v3_msr_access(struct v3_core *core, uint32_t msr, bool write, uint64_t *value);
/* Apply the VM's CPUID hook of @p leaf, if any, to @p regs (in: the answer so far):
 * 1 applied, 0 no hook, or the hook's error (@p regs unchanged). */
int v3_cpuid_apply_hooks(struct v3_core *core, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
int v3_handle_cpuid_exit(struct v3_core *core, const struct v3_exit *ex);

#endif
