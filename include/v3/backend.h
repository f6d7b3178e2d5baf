/* SPDX-License-Identifier: MIT */
/**
 * @file v3/backend.h
 * The execution back-end boundary.
 *
 * A back end runs a vCPU (struct v3_core) until something needs the VMM, and
 * reports it as a struct v3_exit.  The software CPU ("emu") is the default;
 * hardware back ends implement the same operations.  Accesses to hooked
 * memory are completed inside the back end (through the memory map), so
 * they are not exits.
 *
 * Unless stated otherwise, when run() returns the exiting instruction has
 * retired: RIP points past it and only the VMM's part is left to do.
 * @c insn_rip is the address of the exiting instruction, for a VMM that
 * wants to report it or to restart it (set core->rip = insn_rip) before
 * injecting an exception such as #GP.
 */
#ifndef V3_BACKEND_H
#define V3_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <v3/vcpu.h>

enum v3_exit_reason {
    V3_EXIT_NONE = 0,
    V3_EXIT_IO,          /**< port I/O: see v3_exit::io */
    V3_EXIT_HYPERCALL,   /**< VMCALL/VMMCALL: ID in RAX; VMM puts the result in RAX */
    V3_EXIT_HLT,         /**< HLT with no interrupt pending */
    V3_EXIT_MSR_READ,    /**< RDMSR of an MSR the back end does not model: VMM sets EDX:EAX or injects #GP */
    V3_EXIT_MSR_WRITE,   /**< WRMSR of an MSR the back end does not model */
    V3_EXIT_CPUID,       /**< CPUID leaf the VMM asked to see: VMM sets EAX..EDX */
    V3_EXIT_SHUTDOWN,    /**< triple fault */
    V3_EXIT_INSN_LIMIT,  /**< the instruction limit was reached */
    V3_EXIT_STOP,        /**< v3 asked the vCPU to stop */
    V3_EXIT_INTR_WINDOW, /**< the vCPU can take an external interrupt now (see intr_window) */
    V3_EXIT_SLICE,       /**< the instruction slice set with set_slice() ran out */
    V3_EXIT_KICK,        /**< another thread called kick(): the VMM has something for the vCPU */
    V3_EXIT_ERROR,       /**< the back end could not go on: see v3_exit::error */
    V3_EXIT_DEBUG,       /**< a debugger breakpoint, step or watchpoint (v3/debug.h): see v3_exit::debug */
};

struct v3_exit {
    enum v3_exit_reason reason;
    uint64_t insn_rip;                 /**< RIP of the exiting instruction */
    union {
        struct {
            uint16_t port;
            uint8_t size;              /**< 1, 2 or 4 */
            bool in;                   /**< IN/INS (VMM writes AL/AX/EAX or memory) */
            bool string;               /**< INS/OUTS: the VMM performs the transfer */
            bool rep;                  /**< with a REP prefix */
            uint8_t addr_size;         /**< 2, 4 or 8: address size of INS/OUTS */
            uint8_t seg;               /**< enum v3_sreg of the OUTS source (INS always uses ES) */
            uint32_t data;             /**< OUT: the value written */
        } io;
        struct {
            uint32_t index;
            uint64_t value;            /**< WRMSR: the value */
        } msr;
        struct {
            uint32_t leaf, subleaf;
        } cpuid;
        struct {
            int code;                  /**< enum v3_error */
            uint8_t bytes[15];         /**< instruction bytes at insn_rip, if readable */
            uint8_t len;
            const char *msg;           /**< static text */
        } error;
        struct {
            uint8_t kind;              /**< enum v3_debug_kind */
            uint8_t watch_type;        /**< V3_DEBUG_WATCH: enum v3_watch_type of the access */
            uint64_t addr;             /**< V3_DEBUG_WATCH: the watchpoint's address */
        } debug;
    };
};

/** An event to inject before the next instruction. */
struct v3_event {
    enum { V3_EVENT_EXCEPTION, V3_EVENT_INTERRUPT, V3_EVENT_NMI } type;
    uint8_t vector;
    bool has_error_code;
    uint32_t error_code;
    uint64_t cr2;                      /**< for #PF */
};

struct v3_backend_ops {
    const char *name;
    /** Set up back-end state for @p core (core->backend).  0 or negative error. */
    int (*init_core)(struct v3_core *core);
    void (*free_core)(struct v3_core *core);
    /** Run until an exit; fills @p exit.  0, or negative error (then exit->reason is V3_EXIT_ERROR).
     *  A vCPU with core->halted set executes nothing: it reports V3_EXIT_HLT again (or a stop)
     *  until an injected event is delivered; a VMM that restarts it elsewhere clears core->halted. */
    int (*run)(struct v3_core *core, struct v3_exit *exit);
    /** Queue an event for delivery at the next instruction boundary. */
    int (*inject)(struct v3_core *core, const struct v3_event *ev);
    /** Hardware back ends: copy state into / out of struct v3_core.  May be NULL. */
    int (*get_state)(struct v3_core *core);
    int (*set_state)(struct v3_core *core);

    /* ---- interrupt controllers and timers (optional; the VM works without them) ---- */
    /** Make a running run() return with V3_EXIT_KICK soon.  Any thread. */
    void (*kick)(struct v3_core *core);
    /** True when an external interrupt injected now is taken before the next instruction
     *  (RFLAGS.IF set, no interrupt shadow, no event already queued). */
    bool (*intr_ready)(struct v3_core *core);
    /** With @p on, run() returns V3_EXIT_INTR_WINDOW as soon as intr_ready() would be true
     *  (at the latest at the next block boundary); the request ends with that exit or @p on false. */
    void (*intr_window)(struct v3_core *core, bool on);
    /** run() returns V3_EXIT_SLICE after about @p insns more instructions (0: no slice). */
    void (*set_slice)(struct v3_core *core, uint64_t insns);
};

/**
 * The KVM back end (src/host/kvm.c, Linux only): runs the vCPU on /dev/kvm,
 * or on the device named by the environment variable V3_KVM_DEVICE.  Select
 * it with v3_vm_config::backend "kvm" (or "auto": KVM when usable, else the
 * software CPU).  See docs/KVM.md for what differs from "emu".
 */
extern const struct v3_backend_ops v3_kvm_backend;

/**
 * Check that KVM can be used: the device opens, speaks API version 12 and
 * has every capability the back end needs.  Logs one line naming the cause
 * when not (an error, or info with @p quiet).  Any thread.
 * @return V3_OK, or V3_ENOACCEL.
 */
int v3_kvm_probe(bool quiet);

#endif
