/* SPDX-License-Identifier: MIT */
/* Loads Debian 12's own kernel (fetched by scripts/fetch-linux.sh) through
 * both bzImage entries and, extracted, through PVH, and checks the zero page
 * / start info in guest memory and that the kernel's first instructions
 * decode (Zydis) as Linux 6.1's entry code begins: startup_32 and
 * startup_64 with CLD; CLI, pvh_start_xen with CLD; LGDT.  The kernel is
 * not run.
 *
 *   test_vm_linux_real BZIMAGE INITRD [VMLINUX PVH_ENTRY]
 * PVH_ENTRY is the XEN_ELFNOTE_PHYS32_ENTRY value as readelf -n shows it
 * (the wrapper linux-real.sh supplies it).  Exit 77 without a kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <Zydis/Zydis.h>
#include "fakecpu.h"
#include "internal/vm.h"
#include <v3/loader.h>
#include <v3/paging.h>
#include <v3/platform.h>

#define MB (1ull << 20)

static const char *bz_path, *initrd_path, *vmlinux_path;
static uint64_t pvh_entry;
static uint8_t *bz, *rd, *vml;
static size_t bz_len, rd_len, vml_len;
static struct v3_vm *vm;
static struct v3_core *C;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint16_t r16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t *gp(uint64_t gpa)
{
    void *p;
    assert_int_equal(v3_gpa_to_hva(vm, gpa, &p), V3_OK);
    return p;
}

static int setup(void **state)
{
    (void)state;
    fake_load(NULL, 0);
    vm = fake_vm(256 * MB, 0, NULL);
    C = v3_get_core(vm, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    v3_free_vm(vm);
    return 0;
}

/* Decode @n instructions at RIP through the vCPU's view of memory; check the first mnemonics. */
static void decode_entry(int n, const ZydisMnemonic *want, int nwant)
{
    uint8_t code[256];
    struct v3_exception exc;
    ZydisDecoder dec;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    int long_mode = C->mode == V3_MODE_LONG64;
    size_t off = 0;

    assert_int_equal(v3_read_gva_memory(C, C->rip, sizeof(code), code, V3_ACCESS_EXEC, &exc), sizeof(code));
    ZydisDecoderInit(&dec, long_mode ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LONG_COMPAT_32,
                     long_mode ? ZYDIS_STACK_WIDTH_64 : ZYDIS_STACK_WIDTH_32);
    for (int i = 0; i < n; i++) {
        ZyanStatus st = ZydisDecoderDecodeFull(&dec, code + off, sizeof(code) - off, &insn, ops);
        if (!ZYAN_SUCCESS(st))
            fail_msg("instruction %d at rip+0x%zx does not decode", i, off);
        if (i < nwant)
            assert_int_equal(insn.mnemonic, want[i]);
        off += insn.length;
    }
}

static void check_common_zero_page(const uint8_t *zp, const char *cmd)
{
    /* the image's own setup header, copied */
    size_t hdr_end = 0x202 + bz[0x201];
    assert_int_equal(r16(zp + 0x1FE), 0xAA55);
    assert_memory_equal(zp + 0x202, "HdrS", 4);
    assert_int_equal(r16(zp + 0x206), r16(bz + 0x206));
    assert_memory_equal(zp + 0x230, bz + 0x230, hdr_end - 0x230);   /* kernel_alignment .. end */
    assert_int_equal(zp[0x210], 0xFF);
    assert_int_equal(zp[0x211] & 0x81, 0x81);
    assert_string_equal((const char *)gp(r32(zp + 0x228)), cmd);
    uint32_t ri = r32(zp + 0x218);
    assert_int_equal(r32(zp + 0x21C), rd_len);
    assert_int_equal(ri & 0xfff, 0);
    assert_true(ri + rd_len <= (uint64_t)r32(bz + 0x22C) + 1);
    assert_true(ri >= 0x1000000 + r32(bz + 0x260));            /* above pref_address + init_size */
    assert_memory_equal(gp(ri), rd, rd_len);
    assert_true(zp[0x1E8] >= 4);
    assert_int_equal(r32(zp + 0x2D0 + 16), 1);                  /* first e820 entry: RAM at 0 */
    if (r16(bz + 0x206) >= 0x20E)
        assert_memory_equal(gp(r64(zp + 0x070)), "RSD PTR ", 8);
}

static void test_bzimage_64(void **state)
{
    (void)state;
    const char *cmd = "console=ttyS0 earlyprintk=serial panic=-1";
    struct v3_linux_boot lb = { .cmdline = cmd, .initrd = rd, .initrd_len = rd_len };
    struct v3_linux_info li;
    static const ZydisMnemonic want[] = { ZYDIS_MNEMONIC_CLD, ZYDIS_MNEMONIC_CLI };

    assert_int_equal(v3_detect_image(bz, bz_len), V3_IMAGE_BZIMAGE);
    assert_true(r16(bz + 0x206) >= 0x20C);
    assert_true(r16(bz + 0x236) & 1);                           /* Debian's kernel has XLF_KERNEL_64 */
    assert_int_equal(v3_load_bzimage(vm, bz, bz_len, &lb, &li), V3_OK);
    assert_int_equal(li.entry64, 1);
    assert_int_equal(li.load_addr, r64(bz + 0x258));
    size_t pm = ((size_t)(bz[0x1F1] ? bz[0x1F1] : 4) + 1) * 512;
    assert_memory_equal(gp(li.load_addr), bz + pm, bz_len - pm);
    check_common_zero_page(gp(V3_LINUX_ZERO_PAGE), cmd);
    assert_int_equal(C->rip, li.load_addr + 0x200);
    assert_int_equal(C->mode, V3_MODE_LONG64);
    assert_int_equal(C->gpr[V3_RSI], V3_LINUX_ZERO_PAGE);
    decode_entry(16, want, 2);
}

static void test_bzimage_32(void **state)
{
    (void)state;
    const char *cmd = "console=ttyS0";
    struct v3_linux_boot lb = { .cmdline = cmd, .initrd = rd, .initrd_len = rd_len, .force_32bit = 1 };
    struct v3_linux_info li;
    static const ZydisMnemonic want[] = { ZYDIS_MNEMONIC_CLD, ZYDIS_MNEMONIC_CLI };

    assert_int_equal(v3_load_bzimage(vm, bz, bz_len, &lb, &li), V3_OK);
    check_common_zero_page(gp(V3_LINUX_ZERO_PAGE), cmd);
    assert_int_equal(r32(gp(V3_LINUX_ZERO_PAGE) + 0x214), li.load_addr);   /* code32_start */
    assert_int_equal(C->rip, li.load_addr);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    assert_int_equal(C->gpr[V3_RSI], V3_LINUX_ZERO_PAGE);
    decode_entry(16, want, 2);
}

static void test_pvh(void **state)
{
    (void)state;
    const char *cmd = "console=ttyS0";
    struct v3_linux_boot lb = { .cmdline = cmd, .initrd = rd, .initrd_len = rd_len };
    struct v3_linux_info li;
    static const ZydisMnemonic want[] = { ZYDIS_MNEMONIC_CLD, ZYDIS_MNEMONIC_LGDT };

    if (!vml)
        skip();
    assert_int_equal(v3_detect_image(vml, vml_len), V3_IMAGE_PVH);
    assert_int_equal(v3_load_pvh(vm, vml, vml_len, &lb, &li), V3_OK);
    assert_int_equal(li.entry, pvh_entry);
    assert_int_equal(C->rip, pvh_entry);
    assert_int_equal(C->mode, V3_MODE_PROT32);
    const uint8_t *si = gp(C->gpr[V3_RBX]);
    assert_int_equal(r32(si), V3_HVM_START_MAGIC);
    assert_int_equal(r32(si + 4), 1);
    assert_int_equal(r32(si + 12), 1);
    const uint8_t *mod = gp(r64(si + 16));
    assert_int_equal(r64(mod + 8), rd_len);
    assert_memory_equal(gp(r64(mod)), rd, rd_len);
    assert_true(r64(mod) >= li.load_end);
    assert_string_equal((const char *)gp(r64(si + 24)), cmd);
    assert_memory_equal(gp(r64(si + 32)), "RSD PTR ", 8);
    assert_true(r32(si + 48) >= 4);
    decode_entry(16, want, 2);
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s BZIMAGE INITRD [VMLINUX PVH_ENTRY]\n", argv[0]);
        return 2;
    }
    bz_path = argv[1];
    initrd_path = argv[2];
    bz = slurp(bz_path, &bz_len);
    if (!bz) {
        printf("no kernel at %s (scripts/fetch-linux.sh fetches it): skipped\n", bz_path);
        return 77;
    }
    rd = slurp(initrd_path, &rd_len);
    if (!rd) {
        fprintf(stderr, "cannot read %s\n", initrd_path);
        return 1;
    }
    if (argc == 5) {
        vmlinux_path = argv[3];
        pvh_entry = strtoull(argv[4], NULL, 0);
        vml = slurp(vmlinux_path, &vml_len);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bzimage_64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bzimage_32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pvh, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
    free(bz);
    free(rd);
    free(vml);
    return rc;
}
