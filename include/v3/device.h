/* SPDX-License-Identifier: MIT */
/**
 * @file v3/device.h
 * The device model: how devices are written, created, wired and listed.
 *
 * A device model is a `struct v3_device_ops`: a name, the size of its state
 * and a few operations.  An instance (`struct v3_device`) is created by name
 * with options ("uart,port=0x2f8,irq=3"), either from a machine's table
 * (v3_vm_config::machine, "pc" or "none") or one at a time
 * (v3_vm_config::device_args, v3_vm_add_device()).  The VM owns every
 * instance and frees it with the VM.
 *
 * Claims.  In its create() a device claims I/O port ranges and MMIO ranges
 * (the MMIO through the memory map's full hooks, v3/mem.h).  A claim that
 * overlaps another device's claim fails with V3_EOVERLAP and one log line
 * naming both devices.  Callbacks receive the device, the vCPU that made the
 * access (NULL when the VMM itself accesses), the offset inside the claimed
 * range and the exact access width: 1, 2 or 4 for ports; 1, 2, 4 or 8 for
 * MMIO.  An access is never split into two calls, and never spans two
 * claims (a guest MMIO access that would is split by page, as the memory
 * map does).  Callbacks cannot fail: a device answers a bad access as the
 * hardware does (all ones, a dropped write) and may log it once.
 *
 * Locking.  Every instance has one mutex.  The VM takes it around each
 * callback, reset(), save(), load(), deadline() and timer(); a device that
 * touches its state from elsewhere (a host input thread) brackets that with
 * v3_dev_lock()/v3_dev_unlock().  Interrupt-line changes a device makes
 * while its lock is held are recorded and delivered when the lock is
 * released, so no device holds its own lock while an interrupt travels to
 * an interrupt controller or a local APIC.
 *
 * Interrupts.  v3_dev_irq() gives a device the line of an IRQ number.  IRQs
 * 0-15 are the ISA lines: IRQ n goes to pin n of the 8259A pair (when the
 * machine has one) and to IOAPIC pin n, except IRQ 0 (the PIT), which goes
 * to IOAPIC pin 2, as on a PC.  IRQs 16 and above go to the IOAPIC pin of
 * the same number.  Whether a pin is edge or level triggered is the
 * interrupt controller's business (ELCR, redirection entries); a device
 * sets its line's level (v3_irq_set()) or pulses it (v3_irq_pulse()).
 * Several devices may share a line: its level is the OR of theirs.
 *
 * Time.  Devices read the VM clock (v3_vm_clock_ns(), nanoseconds since the
 * VM was created; realtime or virtual, see v3/vm.h) and compute their
 * counters from it when the guest reads them.  A device that must act at a
 * moment (a timer interrupt) returns that moment from deadline(); the vCPU
 * loop calls timer() once the clock has reached it.  After a register write
 * that changes its deadline, the device calls v3_dev_deadline_changed().
 * The core runs no timer threads.
 *
 * Threads: claims, v3_dev_irq() and the option getters are for create()
 * only.  v3_irq_set()/v3_irq_pulse(), v3_vm_clock_ns() and
 * v3_dev_deadline_changed() may be called from any thread.
 */
#ifndef V3_DEVICE_H
#define V3_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <v3/vcpu.h>

struct v3_vm;
struct v3_device;
struct v3_dev_args;
struct v3_irq_line;
struct v3_snap;

/** deadline() value of a device that has nothing to do at any moment. */
#define V3_NO_DEADLINE UINT64_MAX

/** Read @p size bytes at offset @p off of a claimed range; returns the value (little endian). */
typedef uint64_t (*v3_dev_read_fn)(struct v3_device *dev, struct v3_core *core, uint64_t off,
                                   unsigned size);
/** Write @p size bytes of @p val at offset @p off of a claimed range. */
typedef void (*v3_dev_write_fn)(struct v3_device *dev, struct v3_core *core, uint64_t off,
                                unsigned size, uint64_t val);

/** A device model.  Static storage; listed in the machine table (src/devices/registry.c). */
struct v3_device_ops {
    const char *name;           /**< "pic", "pit", "uart", ...: what -device and machine tables use */
    const char *help;           /**< one line: what it is and its options */
    size_t state_size;          /**< bytes of zeroed state allocated with the instance */
    /** Set the instance up from its options: read options, claim ranges, take IRQ lines.
     *  0, or a negative enum v3_error (creation of the VM then fails). */
    int (*create)(struct v3_device *dev, struct v3_dev_args *args);
    /** Optional: free what create() allocated beyond the state (claims are released by the VM). */
    void (*destroy)(struct v3_device *dev);
    /** Optional: put the device in its power-on state (also called once after create()). */
    void (*reset)(struct v3_device *dev);
    /** Optional: write the device's state to @p s (v3_snap_put()).  0 or negative error. */
    int (*save)(struct v3_device *dev, struct v3_snap *s);
    /** Optional: read back what save() wrote (v3_snap_get()).  0 or negative error. */
    int (*load)(struct v3_device *dev, struct v3_snap *s);
    /** Optional: VM clock time (ns) at which timer() must run, or V3_NO_DEADLINE. */
    uint64_t (*deadline)(struct v3_device *dev);
    /** Optional: the VM clock reached deadline(); @p now is the clock. */
    void (*timer)(struct v3_device *dev, uint64_t now);
};

/* ---- instance accessors ---- */

/** The device's state (state_size bytes, zeroed at creation). */
void *v3_dev_state(struct v3_device *dev);
/** The VM the device belongs to. */
struct v3_vm *v3_dev_vm(struct v3_device *dev);
/** The instance name: the model name, with "-N" appended for a second and further instance. */
const char *v3_dev_name(const struct v3_device *dev);
/** The model of an instance. */
const struct v3_device_ops *v3_dev_ops(const struct v3_device *dev);

/* ---- options (create() only) ---- */

/**
 * Read option @p key as an unsigned number (decimal, 0x hex, with an
 * optional K/M/G suffix) into *out.
 * @return 1 if the option was given, 0 if absent (*out untouched),
 *         V3_EINVAL for a malformed value (logged with the device name).
 */
int v3_dev_arg_u64(struct v3_dev_args *args, const char *key, uint64_t *out);
/** Read option @p key as a string: 1 and *out (valid until create() returns), or 0 if absent. */
int v3_dev_arg_str(struct v3_dev_args *args, const char *key, const char **out);
/** Read a boolean option ("on/off", "yes/no", "true/false", "1/0"): 1, 0 if absent, or V3_EINVAL. */
int v3_dev_arg_bool(struct v3_dev_args *args, const char *key, bool *out);

/* ---- claims (create() only) ---- */

/**
 * Claim ports [@p port, @p port + @p count).  Either callback may be NULL
 * (reads then return all ones, writes are dropped).
 * @return V3_OK, V3_EOVERLAP (a port is claimed or hooked already; logged
 *         with both owners), V3_EINVAL (count 0 or past 0xFFFF), V3_ENOMEM.
 */
int v3_dev_claim_io(struct v3_device *dev, uint16_t port, uint32_t count,
                    v3_dev_read_fn read, v3_dev_write_fn write);

/**
 * Claim guest physical [@p gpa, @p gpa + @p size), page aligned, as MMIO.
 * @return V3_OK, V3_EOVERLAP (logged with both owners), V3_EALIGN,
 *         V3_EINVAL, V3_ENOMEM, or a memory-map error.
 */
int v3_dev_claim_mmio(struct v3_device *dev, uint64_t gpa, uint64_t size,
                      v3_dev_read_fn read, v3_dev_write_fn write);

/* ---- interrupt lines ---- */

/**
 * The line of IRQ @p irq (0-23) for this device (create() only; the VM owns
 * it).  NULL (logged) for an IRQ beyond the machine's lines or no memory.
 */
struct v3_irq_line *v3_dev_irq(struct v3_device *dev, unsigned irq);
/** Set the device's level on @p line (1 asserted).  NULL line: ignored. */
void v3_irq_set(struct v3_irq_line *line, int level);
/** Assert then deassert @p line (an edge for edge-triggered pins). */
void v3_irq_pulse(struct v3_irq_line *line);
/**
 * How many interrupts of @p line's IRQ the vCPUs have taken so far (an
 * interrupt controller's INTA or IRR->ISR, see v3_vm_irq_taken() in
 * v3/irqchip.h); the count wraps.  A device that raised an edge compares
 * two readings to learn that the guest took it.  Any thread, no lock; 0
 * for a NULL line.
 */
uint32_t v3_irq_taken(const struct v3_irq_line *line);

/* ---- locking and time ---- */

/** Take the device's mutex (for code outside the VM's callbacks). */
void v3_dev_lock(struct v3_device *dev);
/** Release it and deliver the interrupt-line changes made meanwhile. */
void v3_dev_unlock(struct v3_device *dev);

/** Tell the VM that this device's deadline() changed (it is recomputed). */
void v3_dev_deadline_changed(struct v3_device *dev);

/** The VM clock in nanoseconds since the VM was created (see v3/vm.h, v3_vm_config::clock). */
uint64_t v3_vm_clock_ns(struct v3_vm *vm);

/* ---- snapshots of device state ---- */

/** Append @p len bytes to a snapshot stream.  0, or V3_ENOMEM (the stream then stays failed). */
int v3_snap_put(struct v3_snap *s, const void *data, size_t len);
/** Read @p len bytes from a snapshot stream.  0, or V3_EIMAGE when it is too short. */
int v3_snap_get(struct v3_snap *s, void *data, size_t len);

/* ---- the VM side ---- */

/**
 * Create device @p spec ("NAME[,key=value...]") in @p vm before it first runs.
 * @return V3_OK; V3_ENOENT (no such model), V3_EINVAL (an unknown or
 *         malformed option), V3_EOVERLAP (a claim overlaps), V3_EBUSY (the
 *         VM has run), V3_ENOMEM, or the model's own error.  Each failure
 *         is logged with the device name and the reason.
 */
int v3_vm_add_device(struct v3_vm *vm, const char *spec);

/**
 * Create a device from a model that is not in the build's table (an
 * embedder's own device, a test's), with options @p options
 * ("key=value,..." or NULL).  Errors as v3_vm_add_device().  @p ops must
 * outlive the VM.
 */
int v3_vm_add_device_ops(struct v3_vm *vm, const struct v3_device_ops *ops, const char *options);

/** The first instance named @p name (an instance name, e.g. "uart" or "uart-1"), or NULL. */
struct v3_device *v3_vm_find_device(struct v3_vm *vm, const char *name);

/** What v3_vm_device_info() reports of one instance. */
struct v3_device_info {
    const char *name;           /**< instance name */
    const char *model;          /**< model name */
    unsigned nio, nmmio, nirq;  /**< claims (see the arrays, up to 8 each) */
    struct { uint16_t first, last; } io[8];
    struct { uint64_t first, last; } mmio[8];
    uint8_t irq[8];
};

/**
 * Describe instance @p idx (0 .. count - 1) of @p vm in *info.
 * @return V3_OK, or V3_ENOENT past the last instance, V3_EINVAL for NULL.
 */
int v3_vm_device_info(struct v3_vm *vm, unsigned idx, struct v3_device_info *info);

/** Log every device with its ports, MMIO ranges and IRQ lines at @p level (v3vm --dump-devices). */
void v3_vm_dump_devices(struct v3_vm *vm, int level);

/** The models this build knows, NULL-terminated (for -device help). */
const struct v3_device_ops *const *v3_device_models(void);

/** The machines this build knows ("pc", "none", ...), NULL-terminated. */
const char *const *v3_machine_names(void);

#endif
