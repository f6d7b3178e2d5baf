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

/* ---- Linux: bzImage (boot protocol) and PVH (vmlinux ELF with the Xen PVH note) ---- */

struct v3_pc_layout;

/** Image kinds v3_detect_image() tells apart. */
enum v3_image_type {
    V3_IMAGE_UNKNOWN = 0,
    V3_IMAGE_MULTIBOOT,     /**< multiboot v1 header in the first 8 KiB (and no PVH note) */
    V3_IMAGE_BZIMAGE,       /**< 0xAA55 at 0x1FE and "HdrS" at 0x202 */
    V3_IMAGE_PVH,           /**< ELF64/ELF32 with a XEN_ELFNOTE_PHYS32_ENTRY note */
};

/**
 * Classify a kernel image as QEMU's -kernel does: a bzImage by its setup
 * header magic, an ELF with a PVH entry note as PVH, else multiboot if a
 * valid multiboot v1 header lies in the first 8 KiB.  Pure; any thread.
 */
enum v3_image_type v3_detect_image(const void *image, size_t len);

/** Inputs of the Linux loaders. */
struct v3_linux_boot {
    const char *cmdline;            /**< NUL-terminated or NULL (empty) */
    const void *initrd;             /**< initramfs bytes or NULL */
    size_t initrd_len;
    /** The machine; NULL: v3_pc_layout_init(mem size of the VM, its vCPU count). */
    const struct v3_pc_layout *layout;
    int force_32bit;                /**< bzImage: use the 32-bit entry even if a 64-bit one exists */
};

/** Where the Linux loaders put things (guest physical addresses). */
struct v3_linux_info {
    uint64_t entry;
    uint64_t load_addr, load_end;   /**< kernel: [load_addr, load_end) incl. init_size / bss */
    uint64_t boot_params;           /**< zero page (bzImage) or hvm_start_info (PVH) */
    uint64_t cmdline_addr;
    uint64_t initrd_addr, initrd_len;
    uint64_t rsdp;
    uint64_t page_tables;           /**< PML4 of the 64-bit entry, else 0 */
    uint16_t protocol;              /**< bzImage boot protocol version (0x20f = 2.15) */
    int entry64;                    /**< 1 if entered in 64-bit mode */
    int cmdline_truncated;          /**< 1 if the command line was cut to cmdline_size */
};

#define V3_LINUX_ZERO_PAGE      0x7000u      /**< boot_params / hvm_start_info */
#define V3_LINUX_STACK_TOP      0x8FF0u
#define V3_LINUX_CMDLINE        0x20000u     /**< command line (up to 64 KiB) */
#define V3_HVM_START_MAGIC      0x336EC578u

/**
 * Load a Linux bzImage following the x86 boot protocol (>= 2.06, loaded
 * high): the protected-mode kernel goes at pref_address (protocol >= 2.10;
 * 0x100000 before), aligned to kernel_alignment if relocatable, with
 * init_size bytes of RAM below the device window; the initrd goes page
 * aligned as high as initrd_addr_max and RAM allow, above the kernel; the
 * command line at V3_LINUX_CMDLINE, cut to cmdline_size (255 before 2.06)
 * with a warning; the zero page at V3_LINUX_ZERO_PAGE (setup header copied,
 * type_of_loader 0xFF, CAN_USE_HEAP, e820 from the layout, acpi_rsdp_addr);
 * the firmware tables and BIOS data area words (v3_pc_write_tables()).
 * vCPU 0 enters at load + 0x200 in 64-bit mode (protocol >= 2.12 with
 * XLF_KERNEL_64): identity-mapped 2 MiB pages over 4 GiB in the boot area,
 * GDT with code 0x10 / data 0x18, RSI = zero page, IF = 0; otherwise at
 * code32_start in 32-bit flat protected mode (ESI = zero page, EBX = EBP =
 * EDI = 0, paging off).
 * @return V3_OK; V3_EINVAL (NULL vm/image/boot), V3_EIMAGE (bad magic,
 *         truncated), V3_EUNSUPPORTED (protocol < 2.06, not loaded high),
 *         V3_ESIZE (kernel or initrd does not fit), or a guest memory write
 *         error.  Nothing is written to the guest before every check passed.
 *         One log line names the problem.
 */
int v3_load_bzimage(struct v3_vm *vm, const void *image, size_t len, const struct v3_linux_boot *boot,
                    struct v3_linux_info *info);

/**
 * Load an uncompressed vmlinux (ELF64 or ELF32) through its PVH entry
 * (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, 18): PT_LOAD segments at their
 * p_paddr, hvm_start_info (version 1: the initrd as module 0, command line,
 * RSDP, e820 memory map) at V3_LINUX_ZERO_PAGE, the firmware tables; vCPU 0
 * enters in 32-bit flat protected mode, paging off, EBX = start info.
 * @return V3_OK; V3_EINVAL, V3_EIMAGE (not ELF, no PVH note, truncated),
 *         V3_ESIZE (segment or initrd outside RAM), V3_EOVERLAP.
 */
int v3_load_pvh(struct v3_vm *vm, const void *image, size_t len, const struct v3_linux_boot *boot,
                struct v3_linux_info *info);

#endif
