/* SPDX-License-Identifier: MIT */
/**
 * @file v3/vm.h
 * Virtual machines: creation, running, stopping, statistics, teardown.
 *
 * A VM owns its guest RAM and memory map, its vCPUs (1 to V3_MAX_CORES;
 * more than one run on host threads, see v3_run_vm()), an execution back end, the
 * I/O port hooks (v3/io.h), the hypercall table (v3/hypercall.h) and the
 * devices attached from the configuration (v3/devices.h).
 *
 * v3_run_vm() runs the vCPUs on the back end and dispatches their exits until the
 * VM stops: a device asks it to (the debug-exit port), the guest shuts down
 * (triple fault), halts with no interrupt that could wake it, reaches the
 * instruction limit, v3_stop_vm() is called, or an error happens.  Why it
 * stopped is reported in a struct v3_vm_result.
 */
#ifndef V3_VM_H
#define V3_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;
struct v3_backend_ops;

/** The most vCPUs a VM may have. */
#define V3_MAX_CORES 64u

/** An extra memory region for the configuration: host memory the caller owns. */
struct v3_vm_region_config {
    uint64_t start, end;    /**< guest physical, page aligned, start < end */
    void *host_addr;        /**< page-aligned caller-owned memory of end - start bytes */
};

/** Devices created with the VM (bit mask for v3_vm_config::devices). */
#define V3_DEV_UART        (1u << 0)   /**< 16550A at COM1 (0x3F8-0x3FF) */
#define V3_DEV_DEBUG_EXIT  (1u << 1)   /**< isa-debug-exit at 0xF4-0xF7 */
#define V3_DEV_VGA_TEXT    (1u << 2)   /**< write-hooked text memory at 0xB8000-0xBFFFF */
#define V3_DEV_TESTDEV     (1u << 3)   /**< the v3 test device: MMIO at 0xFEB00000 + hypercalls */
#define V3_DEV_SYSCTL_A    (1u << 4)   /**< System Control Port A at 0x92 (A20 gate, fast reset) */
#define V3_DEV_ALL         (V3_DEV_UART | V3_DEV_DEBUG_EXIT | V3_DEV_VGA_TEXT | V3_DEV_TESTDEV | \
                            V3_DEV_SYSCTL_A)

/** VM clock modes (v3_vm_config::clock). */
#define V3_CLOCK_REALTIME 0
#define V3_CLOCK_VIRTUAL  1

/** Serial port byte sinks/sources provided by the embedder (the core does no I/O itself). */
struct v3_serial_io {
    /** Called for each byte the guest transmits.  NULL: bytes are dropped. */
    void (*output)(void *priv, uint8_t byte);
    /** Poll for one input byte: return 1 and set *byte, or 0 if none is ready.  NULL: no input. */
    int (*input)(void *priv, uint8_t *byte);
    void *priv;
};

/** Tracing (v3_vm_config::trace). */
#define V3_TRACE_EXITS  (1u << 0)      /**< log every exit at info level */

/** VM configuration.  Zero-initialise, then set what you need. */
struct v3_vm_config {
    uint64_t mem_size;      /**< guest RAM in bytes: non-zero multiple of 4 KiB */
    /** vCPUs; 0 means 1, at most V3_MAX_CORES.  More than one needs the host's thread
     *  members (v3/host.h).  vCPU 0 (the BSP) starts where the loader put it; the
     *  others start in the wait-for-SIPI state (INIT / start-up IPIs through the LAPIC). */
    unsigned num_cores;

    /** Back end by name: NULL or "emu" for the software CPU. */
    const char *backend;
    /** An explicit back end (embedders, tests); takes priority over @c backend. */
    const struct v3_backend_ops *backend_ops;

    /** Extra regions added as shadow memory after RAM (the caller keeps the memory). */
    const struct v3_vm_region_config *regions;
    unsigned num_regions;

    /** Machine: "pc" (the PC platform: PIC, PIT, RTC, LAPIC, IOAPIC, UART, ...) or
     *  "none"/NULL (only the devices named here); see v3/device.h. */
    const char *machine;
    /** Extra devices, "NAME[,key=value...]" each (v3_vm_add_device()), created after the
     *  machine's; @c num_device_args entries (the strings need not outlive the call). */
    const char *const *device_args;
    unsigned num_device_args;
    unsigned devices;                 /**< V3_DEV_* mask: shorthands for device names */
    /** VM clock: V3_CLOCK_REALTIME (host monotonic time) or V3_CLOCK_VIRTUAL (advanced by
     *  retired guest instructions, one per @c virtual_insn_ps picoseconds; deterministic). */
    int clock;
    uint32_t virtual_insn_ps;         /**< V3_CLOCK_VIRTUAL: picoseconds per instruction (0: 1000) */
    struct v3_serial_io serial;       /**< COM1 byte sink/source (with V3_DEV_UART) */

    /** Enable hypercall 0x1000 (MEM_OFFSET), which reveals the host address of guest RAM. */
    bool enable_mem_offset_hypercall;
    /** Stop after this many guest instructions (0: no limit); with several vCPUs, when one
     *  vCPU has retired this many. */
    uint64_t max_insns;
    unsigned trace;                   /**< V3_TRACE_* */
    /**
     * Guest accesses to guest-physical memory that no region backs.  false
     * (default): as on a PC, reads give all ones, writes are dropped, an
     * instruction fetch reads 0xFF bytes, and a paging-structure entry read
     * from there is all ones (a #PF with the RSVD bit, see v3/paging.h); each
     * page is logged once (the first 16 pages) and every access is counted
     * in v3_vm_stats::mem_unbacked.  true: such an access stops the VM with
     * V3_STOP_ERROR / V3_EUNMAPPED (a paging-structure entry there: V3_EPTE),
     * for debugging guests and VMMs.  Accesses made by the API
     * (v3_read/write_gpa_memory()) always fail on holes with V3_EUNMAPPED.
     */
    bool strict_mem;
};

/** Why v3_run_vm() returned. */
enum v3_stop_reason {
    V3_STOP_NONE = 0,
    V3_STOP_DEBUG_EXIT,     /**< the guest wrote the debug-exit port; see exit_code */
    V3_STOP_SHUTDOWN,       /**< triple fault, or a fast reset through port 0x92 bit 0 */
    V3_STOP_HLT,            /**< HLT with no interrupt that could ever wake the vCPU */
    V3_STOP_INSN_LIMIT,     /**< v3_vm_config::max_insns reached */
    V3_STOP_REQUESTED,      /**< v3_stop_vm() */
    V3_STOP_ERROR,          /**< back-end or VMM error; see error, rip, bytes */
    V3_STOP_POWEROFF,       /**< the guest powered the machine off (ACPI S5) */
    V3_STOP_RESET,          /**< the guest asked for a reset (reset control register) */
    V3_STOP_DEBUG,          /**< a debugger breakpoint, step or watchpoint (v3/debug.h); see debug_* */
};

/** Outcome of v3_run_vm(). */
struct v3_vm_result {
    enum v3_stop_reason reason;
    int exit_code;          /**< V3_STOP_DEBUG_EXIT: (value << 1) | 1 */
    int error;              /**< V3_STOP_ERROR: enum v3_error */
    const char *msg;        /**< V3_STOP_ERROR: static text describing the failure */
    uint64_t rip;           /**< RIP of the instruction that stopped the VM (errors, HLT) */
    uint8_t bytes[15];      /**< its bytes, as far as they were readable */
    uint8_t len;
    unsigned core;          /**< the vCPU whose stop ended the run (0 with one vCPU) */
    int debug_kind;         /**< V3_STOP_DEBUG: enum v3_debug_kind */
    unsigned debug_watch_type;  /**< V3_DEBUG_WATCH: enum v3_watch_type of the access */
    uint64_t debug_addr;    /**< V3_DEBUG_WATCH: the watchpoint's address */
};

/** Per-VM statistics. */
enum { V3_STAT_EXIT_REASONS = 15 };     /**< = number of enum v3_exit_reason values */
struct v3_vm_stats {
    uint64_t exits[V3_STAT_EXIT_REASONS];   /**< indexed by enum v3_exit_reason */
    uint64_t exits_total;
    uint64_t insns;                         /**< instructions retired by all vCPUs */
    uint64_t io_unhooked;                   /**< accesses to unhooked ports */
    uint64_t hypercalls_unknown;
    uint64_t run_ns;                        /**< time spent in v3_run_vm() */
    uint64_t mem_unbacked;                  /**< guest accesses to unbacked memory (see strict_mem) */
    uint64_t hypercalls_denied;             /**< made at CPL > 0 for a kernel-only handler (v3/hypercall.h) */
};

/**
 * Create a VM with zeroed guest RAM [0, mem_size), the extra regions and
 * devices of @p cfg, and its vCPUs in the reset state.  Requires v3_init().
 * The configuration is copied (strings and region arrays need not outlive
 * the call; serial callbacks and region memory must outlive the VM).
 * @param err if non-NULL, receives V3_OK or the error: V3_ESIZE for a bad
 *            mem_size, V3_ENOMEM, V3_ENOTINIT, V3_EINVAL (NULL cfg, vCPU
 *            count), V3_ENOENT (unknown back end name), or a memory-map
 *            error for a region.
 * @return the VM (owned by the caller, release with v3_free_vm()) or NULL.
 */
struct v3_vm *v3_create_vm(const struct v3_vm_config *cfg, int *err);

/**
 * Free a VM: devices, hooks, back-end state, overlay regions, guest RAM,
 * vCPUs.  NULL is ignored.  If another thread is inside v3_run_vm() for
 * this VM, v3_free_vm() stops it (as v3_stop_vm()) and waits until that
 * call has returned before freeing anything (it logs a warning: this is
 * an embedder's mistake, made safe); from then on v3_run_vm() on the VM
 * returns V3_EBUSY until the memory is gone.  Must not be called from a
 * callback running inside v3_run_vm() (it would wait for itself), nor
 * while another thread may still call anything else on the VM.
 */
void v3_free_vm(struct v3_vm *vm);

/** vCPU @p idx, or NULL if out of range. */
struct v3_core *v3_get_core(struct v3_vm *vm, unsigned idx);

/** Number of vCPUs. */
unsigned v3_vm_num_cores(const struct v3_vm *vm);

/**
 * Run the VM until it stops.  May be called again after a stop other than
 * V3_STOP_DEBUG_EXIT / V3_STOP_SHUTDOWN / V3_STOP_ERROR to continue (after
 * V3_STOP_DEBUG the vCPU resumes where it stopped; see v3/debug.h).
 * @param res receives the reason (must not be NULL).
 * One thread at a time: while the VM runs in one thread, a call from
 * another returns V3_EBUSY at once (nothing changed, *res untouched).
 * One vCPU runs on the calling thread.  With several, vCPU 0 runs on the
 * calling thread and each other vCPU on a host thread of its own (started
 * here, v3/host.h thread_create); the first vCPU that stops for any reason
 * of enum v3_stop_reason gives *res (res->core names it), the others stop at
 * their next block boundary, and every thread is joined before the return.
 * A halted vCPU with nothing that could wake it waits for the others (an
 * IPI may come); V3_STOP_HLT only when every vCPU waits so.  Callbacks
 * (I/O hooks, MMIO, MSR, hypercalls) may then run on any vCPU's thread at
 * the same time: they must lock what they share.  If a thread cannot be
 * started the run stops with V3_STOP_ERROR / V3_ENOMEM.
 * @return V3_OK when the VM stopped for any reason listed in enum
 *         v3_stop_reason (an error stop included: see res->error),
 *         V3_EINVAL for NULL arguments, or V3_EBUSY (see above).
 */
int v3_run_vm(struct v3_vm *vm, struct v3_vm_result *res);

/**
 * Ask a running VM to stop (safe from another thread or a callback).  The
 * VM stops at its next exit or instruction-limit slice with V3_STOP_REQUESTED
 * (reported by vCPU 0; every vCPU stops).
 */
void v3_stop_vm(struct v3_vm *vm);

/**
 * Queue an external interrupt with vector @p vector for vCPU 0; it is given
 * to the back end before the next instruction (delivery follows RFLAGS.IF).
 * Safe from another thread.  V3_EINVAL for a NULL VM or a vector < 32.
 */
int v3_vm_raise_interrupt(struct v3_vm *vm, uint8_t vector);

/**
 * Declare (delta > 0) or retire (delta < 0) an asynchronous interrupt source
 * (a host thread that may call v3_vm_raise_interrupt()).  HLT with IF set
 * waits while at least one source exists; with none it stops the VM.
 */
void v3_vm_interrupt_sources(struct v3_vm *vm, int delta);

/** Ask the VM to stop with @p reason and @p exit_code (for devices such as debug-exit). */
void v3_vm_request_stop(struct v3_vm *vm, enum v3_stop_reason reason, int exit_code);

/** Copy the statistics.  V3_EINVAL for NULL. */
int v3_vm_get_stats(struct v3_vm *vm, struct v3_vm_stats *st);

/**
 * Copy the statistics of vCPU @p idx: its exits by reason, the instructions
 * it retired (insns), and the VM's run time (run_ns); the VM-wide counters
 * (io_unhooked, mem_unbacked, hypercalls_*) read 0.  V3_EINVAL for NULL or
 * an index out of range.  Between runs (the counters of a running vCPU
 * change under the caller).
 */
int v3_vm_get_vcpu_stats(struct v3_vm *vm, unsigned idx, struct v3_vm_stats *st);

/** Log the statistics (exits by reason, hook calls per region, instructions, time) at @p level. */
void v3_vm_print_stats(struct v3_vm *vm, int level);

/** Log the vCPU registers at @p level. */
void v3_vm_print_core(struct v3_core *core, int level);

/** The configuration the VM was created with. */
const struct v3_vm_config *v3_vm_config(const struct v3_vm *vm);

/** Name of a stop reason ("debug-exit", "shutdown", "hlt", ...). */
const char *v3_stop_reason_str(enum v3_stop_reason r);
/** Name of an exit reason (enum v3_exit_reason): "io", "hypercall", ... */
const char *v3_exit_reason_str(int reason);

#endif
