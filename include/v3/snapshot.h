/* SPDX-License-Identifier: MIT */
/**
 * @file v3/snapshot.h
 * Snapshots of a whole VM, the dirty-page log of guest RAM, and fast reset.
 *
 * A snapshot holds guest RAM (base RAM and the RAM a machine with a hole
 * maps above 4 GiB; pages of zeros are left out), the full state of every
 * vCPU (registers, segments, control and debug registers, x87/SSE/XSAVE
 * state, MSRs, MTRRs, the inert MSRs, the back end's queued event, halted
 * state, interrupt shadow, NMI blocking, TSC offset, retired-instruction
 * count), the VM clock, and the state of every device (through its model's
 * save()/load(), by instance name and in creation order) with its
 * interrupt-line levels.
 *
 * Memory-map hooks and regions belong to the embedder and are not saved:
 * a snapshot records the address range and type of every overlay region
 * (hooks, shadow regions, device MMIO), and a restore into a VM whose map
 * differs fails with V3_EMISMATCH.  So does a restore into a VM with
 * another RAM size, machine layout, vCPU count, clock mode, virtual clock
 * rate or device list.  A restored VM is a VM of the same configuration:
 * create it as the saved one was created (same v3_vm_config, same hooks),
 * then restore before or instead of loading a guest.
 *
 * File format (version 1, little endian): a 32-byte header (magic
 * "V3VMSNAP", format version, header size, a layout word derived from the
 * sizes of the saved structures, vCPU count), then sections (a 4-character
 * tag, a 4-byte zero, a 64-bit payload length, the payload), ending with an
 * "END " section whose payload is the CRC-32 (IEEE 802.3 polynomial) of
 * every byte before it.  vCPU state is stored as this build lays it out
 * (the layout word guards it): a snapshot is for the v3vmm version that
 * wrote it.
 *
 * Threads.  Every function here works on a VM that is not running: no
 * thread may be inside v3_run_vm() for it (the functions fail with V3_EBUSY
 * when one is, and v3_run_vm() fails with V3_EBUSY while one of them runs).
 * Different VMs may be used from different threads.
 */
#ifndef V3_SNAPSHOT_H
#define V3_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct v3_vm;

/** Format version written and accepted by this build. */
#define V3_SNAPSHOT_VERSION 1u

/**
 * Output callback of v3_vm_save(): take @p len bytes of @p data.
 * @return 0, or a negative enum v3_error (the save then stops with it).
 */
typedef int (*v3_snapshot_write_fn)(void *opaque, const void *data, size_t len);

/**
 * Input callback of v3_vm_restore_cb(): read up to @p len bytes into
 * @p data.  @return the number of bytes read (0 at the end of the input),
 * or a negative enum v3_error.
 */
typedef int64_t (*v3_snapshot_read_fn)(void *opaque, void *data, size_t len);

/**
 * Write a snapshot of @p vm through @p write.
 * @return V3_OK; V3_EINVAL (NULL argument), V3_EBUSY (the VM is running),
 *         V3_EUNSUPPORTED (a device has no save(): logged with its name;
 *         nothing was written), V3_ENOMEM, the device's or the callback's
 *         error.  After an error the output is incomplete (the loader
 *         rejects it).
 */
int v3_vm_save(struct v3_vm *vm, v3_snapshot_write_fn write, void *opaque);

/**
 * Write a snapshot of @p vm into a new buffer: *buf (free it with
 * v3_snapshot_buf_free()) and *len.  Errors as v3_vm_save(); on error *buf
 * is NULL and *len 0.
 */
int v3_vm_save_buf(struct v3_vm *vm, void **buf, size_t *len);

/** Free a buffer from v3_vm_save_buf() (NULL is ignored). */
void v3_snapshot_buf_free(void *buf);

/**
 * Restore @p vm from the snapshot in [buf, buf + len) (the caller keeps
 * the buffer).  Everything is checked before anything changes: on any
 * error the VM is untouched.  On success the VM continues where the saved
 * one was; the VM clock continues from the saved value (realtime clocks are
 * re-based on the host clock, virtual ones restored).  Decoded code and
 * cached translations are dropped; every RAM page the restore changed is
 * marked in the dirty log.
 * @return V3_OK; V3_EINVAL (NULL), V3_EBUSY (running), V3_EIMAGE (not a
 *         snapshot, truncated or malformed), V3_ESNAPVER (another format
 *         version or layout), V3_ECHECKSUM (wrong CRC), V3_EMISMATCH (a
 *         differently configured VM: RAM, vCPUs, clock, memory map or
 *         devices; logged), V3_ENOMEM, or a device's load() error.
 */
int v3_vm_restore(struct v3_vm *vm, const void *buf, size_t len);

/**
 * Restore through @p read: reads the whole input into memory (one buffer
 * the size of the snapshot, freed before returning), then as
 * v3_vm_restore().  A read error is returned as is (V3_EIO if positive).
 */
int v3_vm_restore_cb(struct v3_vm *vm, v3_snapshot_read_fn read, void *opaque);

/* ---- dirty-page log ---- */

/**
 * Pages in the dirty log: base RAM pages (page i is guest physical
 * i * 4096), followed by the pages of the RAM above 4 GiB (bit
 * base_pages + j is guest physical 4 GiB + j * 4096).  0 for NULL.
 */
uint64_t v3_vm_dirty_pages(const struct v3_vm *vm);

/** v3_vm_dirty_log() flag: clear the log after reading it. */
#define V3_DIRTY_CLEAR 1u

/**
 * Copy the dirty log into @p bitmap (@p words 64-bit words; bit n of word
 * w is page w * 64 + n, see v3_vm_dirty_pages(); words past the log are
 * zeroed) and with V3_DIRTY_CLEAR clear it.  A page is marked when any
 * path writes it: the guest (through the software TLB, which marks a page
 * when it caches a writable translation for it and loses write permission
 * when the log is cleared; through write-hooked regions; string I/O), the
 * page walker setting accessed/dirty bits, and the VMM
 * (v3_write_gpa_memory(), the loaders, restores).
 * @p bitmap may be NULL with @p words 0 to clear only.
 * Clearing the log makes the next v3_vm_reset() copy every page that
 * differs (slower), since the log no longer covers the time since the
 * snapshot.
 * @return V3_OK; V3_EINVAL (NULL VM, NULL bitmap with words), V3_EBUSY.
 */
int v3_vm_dirty_log(struct v3_vm *vm, uint64_t *bitmap, size_t words, unsigned flags);

/* ---- in-memory snapshots and fast reset ---- */

struct v3_vm_snapshot;

/**
 * Take an in-memory snapshot of @p vm for v3_vm_reset() (same contents as
 * v3_vm_save(); non-zero RAM pages are copied).  Clears the dirty log: from
 * now on it lists the pages to copy back.  The snapshot belongs to the
 * caller (v3_vm_snapshot_free()) and to @p vm (free it before the VM).
 * @return the snapshot, or NULL with *err (if not NULL) set: V3_EINVAL,
 *         V3_EBUSY, V3_EUNSUPPORTED (a device without save()), V3_ENOMEM.
 */
struct v3_vm_snapshot *v3_vm_snapshot_take(struct v3_vm *vm, int *err);

/** Free a snapshot (NULL is ignored). */
void v3_vm_snapshot_free(struct v3_vm_snapshot *snap);

/**
 * Return @p vm to @p snap: copy back the RAM pages dirtied since the
 * snapshot was taken or last reset to (or, when the log was cleared or
 * another snapshot took it over since, every page that differs), restore
 * every vCPU, the clock and every device, drop the decoded code and the
 * cached translations of the copied pages (all of a vCPU's translations
 * when a copied page held paging structures a walk used, or when its
 * paging controls or CR3 differ from the snapshot's), and clear the dirty
 * log.
 * @return V3_OK; V3_EINVAL (NULL, or a snapshot of another VM), V3_EBUSY,
 *         or a device's load() error (logged).
 */
int v3_vm_reset(struct v3_vm *vm, const struct v3_vm_snapshot *snap);

#endif
