/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the image loaders (src/vm/loader.c): multiboot v1 (ELF32
 * and a.out kludge) with modules and a command line, and flat binaries.
 * One VM is made once (2 MiB of RAM with a fully hooked device page inside
 * it) and reused.  Invariants: no crash, no sanitizer report; the result is
 * V3_OK or one of the documented errors; the device page's callbacks are
 * never called (nothing is loaded onto device memory); a rejected image
 * leaves guest RAM as it was (checked on a sample of inputs: a
 * copy of RAM is compared); a loaded one starts inside RAM.
 *
 * Input: byte 0 selects the loader and the module count, bytes 1..8 the
 * flat load address and entry, then the image.  For multiboot, the image
 * is split at '\n' bytes after the first 256: first piece kernel, further
 * pieces modules (at most 3), the last 16 bytes (if any) the command line.
 *
 * With -DV3_FUZZ_MAIN (no libFuzzer) it runs the files named on the command
 * line, or N deterministic pseudo-random variations of built-in images.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <v3/v3.h>
#include <v3/cpu.h>
#include <v3/loader.h>
#include <v3/mem.h>

#define MEM  (2u << 20)
#define DEV  0x180000u              /* a device page inside RAM */

static struct v3_vm *vm;
static uint8_t *ram, *snap;
static unsigned long dev_calls, runs, loaded;

static int dev_read(struct v3_core *c, uint64_t gpa, void *dst, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)priv;
    dev_calls++;
    memset(dst, 0, len);
    return 0;
}

static int dev_write(struct v3_core *c, uint64_t gpa, const void *src, uint32_t len, void *priv)
{
    (void)c; (void)gpa; (void)src; (void)len; (void)priv;
    dev_calls++;
    return 0;
}

static void quiet_log(enum v3_log_level level, const char *fmt, va_list ap)
{
    (void)level; (void)fmt; (void)ap;
}

static void init(void)
{
    struct v3_os_hooks h = *v3_posix_os_hooks();
    struct v3_vm_config cfg;
    void *p;

    h.log = quiet_log;
    if (v3_init(&h) < 0)
        abort();
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = MEM;
    cfg.backend_ops = &v3_emu_backend;
    vm = v3_create_vm(&cfg, NULL);
    if (!vm || v3_gpa_to_hva(vm, 0, &p) < 0)
        abort();
    ram = p;
    if (v3_hook_full_mem(vm, DEV, DEV + 4096, dev_read, dev_write, NULL) < 0)
        abort();
    snap = malloc(MEM);
    if (!snap)
        abort();
}

static int known_error(int rc)
{
    return rc == V3_EIMAGE || rc == V3_ENOFIT || rc == V3_EHOOKED || rc == V3_EOVERLAP ||
           rc == V3_EUNSUPPORTED || rc == V3_EINVAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct v3_boot_module mods[3];
    char cmdline[17];
    uint32_t addr, entry;
    const uint8_t *img;
    size_t len;
    int rc, check;

    if (!vm)
        init();
    if (size < 9)
        return 0;
    memcpy(&addr, data + 1, 4);
    memcpy(&entry, data + 5, 4);
    img = data + 9;
    len = size - 9;
    /* compare RAM before and after on 1 input in 16 (a 2 MiB copy each) */
    check = (runs++ & 15) == 0;
    if (check)
        memcpy(snap, ram, MEM);
    if (data[0] & 1) {
        /* flat: addresses biased into and around RAM and the device page */
        addr %= (data[0] & 2) ? MEM + 0x2000 : 0x1000000;
        entry = (data[0] & 4) ? addr + (entry & 0xfff) : entry % 0x1000000;
        rc = v3_load_flat(vm, img, len, addr, entry, (data[0] & 8) ? V3_FLAT_REAL : V3_FLAT_PROT32);
    } else {
        unsigned nmods = 0, want = (data[0] >> 1) & 3;
        size_t klen = len;
        const char *cl = NULL;
        if ((data[0] & 8) && len >= 16) {
            memcpy(cmdline, img + len - 16, 16);
            cmdline[16] = 0;
            cl = cmdline;
            len -= 16;
            klen = len;
        }
        /* split off modules at '\n' after the first 256 bytes */
        for (size_t i = 256; i < len && nmods < want; i++) {
            if (img[i] != '\n')
                continue;
            if (!nmods)
                klen = i;
            else
                mods[nmods - 1].len = (size_t)(img + i - (const uint8_t *)mods[nmods - 1].data);
            mods[nmods].data = img + i + 1;
            mods[nmods].len = len - i - 1;
            mods[nmods].string = (data[0] & 16) ? "module arg" : NULL;
            nmods++;
        }
        {
            struct v3_boot_info info;
            rc = v3_load_multiboot(vm, img, klen, cl, nmods ? mods : NULL, nmods, &info);
            if (rc == V3_OK && (info.entry >= MEM || info.kernel_end > MEM || info.info_addr >= MEM))
                abort();            /* loaded outside RAM */
        }
    }
    if (rc != V3_OK && !known_error(rc))
        abort();
    if (dev_calls)
        abort();                    /* something was loaded onto the device page */
    if (rc == V3_OK) {
        loaded++;
        struct v3_core *c = v3_get_core(vm, 0);
        uint64_t lin = c->seg[V3_CS].base + c->rip;
        if (lin >= MEM)
            abort();                /* starts outside RAM */
    } else if (check && memcmp(snap, ram, MEM)) {
        abort();                    /* a rejected image wrote guest RAM */
    }
    return 0;
}

#ifdef V3_FUZZ_MAIN
/* Replay: files, or generated inputs built around a minimal multiboot ELF. */
static size_t seed_elf(uint8_t *b, uint32_t paddr)
{
    memset(b, 0, 0x200);
    memcpy(b, "\177ELF", 4);
    b[4] = 1; b[5] = 1; b[6] = 1;
    b[16] = 2; b[18] = 3; b[20] = 1;                         /* ET_EXEC, EM_386, version */
    memcpy(b + 24, &paddr, 4);                               /* e_entry */
    b[28] = 52;                                              /* e_phoff */
    b[40] = 52; b[42] = 32; b[44] = 1;                       /* ehsize, phentsize, phnum */
    uint32_t ph[8] = { 1, 0x100, paddr, paddr, 0x100, 0x200, 7, 0x1000 };
    memcpy(b + 52, ph, sizeof(ph));
    uint32_t mb[3] = { V3_MULTIBOOT_MAGIC, 0, 0u - V3_MULTIBOOT_MAGIC };
    memcpy(b + 0x100, mb, sizeof(mb));
    return 0x200;
}

int main(int argc, char **argv)
{
    long n = 20000;
    int files = 0;
    static uint8_t buf[1 << 16];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc) {
            n = atol(argv[++i]);
            continue;
        }
        FILE *f = fopen(argv[i], "rb");
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
        for (long i = 0; i < n; i++) {
            size_t len = 9 + seed_elf(buf + 9, (i & 1) ? 0x100000 : DEV - 0x100);
            s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
            buf[0] = (uint8_t)s;
            for (unsigned k = 0; k < 1 + (s >> 60); k++) {      /* a few random byte changes */
                s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
                buf[9 + (s >> 8) % (len - 9)] = (uint8_t)(s * 0x2545F4914F6CDD1Dull >> 56);
            }
            LLVMFuzzerTestOneInput(buf, len);
        }
        printf("fuzz_loader replay: %ld generated inputs (%lu loaded), all defined\n", n, loaded);
        if (!loaded || loaded == (unsigned long)n)
            return 1;               /* the generator must reach both outcomes */
    } else {
        printf("fuzz_loader replay: %d files\n", files);
    }
    return 0;
}
#endif
