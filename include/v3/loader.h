/* SPDX-License-Identifier: MIT */
/**
 * @file v3/loader.h
 * Guest image loaders.  They parse images from memory buffers (the caller
 * reads the files), copy them into guest RAM and set the boot vCPU's state.
 *
 * Multiboot v1 (ELF32 kernels, or any image with the a.out-kludge header,
 * flag bit 16): the header is searched in the first 8 KiB; segments are
 * loaded at their physical addresses; modules are placed page aligned after
 * the kernel; the information structure (flags MEM, CMDLINE, MODS, MMAP,
 * LOADER_NAME), the command line, the module list and the memory map go in
 * the first free page at or above 0x10000 below the kernel, else after the
 * modules.  The vCPU then runs in 32-bit protected mode with flat 4 GiB
 * segments (CS 0x08 code, others 0x10 data), paging and interrupts off,
 * EAX = 0x2BADB002 and EBX = the information structure's address.
 *
 * Every bad image is rejected with V3_EIMAGE (or V3_ENOFIT for a segment,
 * module, entry point or information area outside guest RAM, V3_EHOOKED for
 * one that lands on a hooked (device, MMIO) region inside RAM's range,
 * V3_EOVERLAP for overlapping segments, V3_EUNSUPPORTED for a required
 * multiboot feature v3 does not provide) and one log line naming the
 * problem, before any guest memory is written.
 */
#ifndef V3_LOADER_H
#define V3_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct v3_vm;

#define V3_MULTIBOOT_MAGIC        0x1BADB002u
#define V3_MULTIBOOT_BOOT_MAGIC   0x2BADB002u

struct v3_boot_module {
    const void *data;
    size_t len;
    const char *string;     /**< NUL-terminated, may be NULL */
};

/** Where things went, for the caller's information. */
struct v3_boot_info {
    uint64_t entry;
    uint64_t kernel_start, kernel_end;   /**< loaded range, bss included */
    uint64_t info_addr;                  /**< multiboot information structure */
    int aout_kludge;                     /**< 1 if the a.out-kludge header was used */
};

/**
 * Load a multiboot v1 kernel into @p vm and set vCPU 0 to its entry state.
 * @param cmdline NUL-terminated or NULL.
 * @param mods    @p nmods modules (initrds), or NULL.
 * @param info    if non-NULL, receives where things went.
 * @return V3_OK or a negative enum v3_error (see the file comment).
 */
int v3_load_multiboot(struct v3_vm *vm, const void *image, size_t len, const char *cmdline,
                      const struct v3_boot_module *mods, unsigned nmods, struct v3_boot_info *info);

/** Flat binary entry modes. */
enum v3_flat_mode { V3_FLAT_PROT32 = 0, V3_FLAT_REAL = 1 };

/**
 * Copy a flat binary to guest physical @p addr and start vCPU 0 at @p entry:
 * in 32-bit flat protected mode (V3_FLAT_PROT32), or in real mode
 * (V3_FLAT_REAL, @p entry below 1 MiB: CS = entry >> 4, IP = entry & 15).
 * @return V3_OK; V3_ENOFIT if the image does not fit in RAM; V3_EHOOKED if it
 *         would land on a hooked (device) region; V3_EIMAGE for an
 *         empty image; V3_EINVAL for a bad entry or mode.
 */
int v3_load_flat(struct v3_vm *vm, const void *image, size_t len, uint64_t addr, uint64_t entry,
                 enum v3_flat_mode mode);

#endif
