/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration interface, I/O port form ("fw-cfg"; port
 * 0x510 selector, 16-bit write; 0x511 data, read byte by byte).
 *
 * Items: 0x0000 signature "QEMU"; 0x0001 interface ID 1 (the traditional
 * port interface, no DMA); 0x0003 RAM size (64-bit little endian); 0x0005
 * CPU count and 0x000F maximum CPU count (16-bit); 0x0019 the file
 * directory (big-endian count, then 64-byte entries: size, select, name),
 * with one file, "etc/e820", the RAM ranges of the PC layout as QEMU gives
 * them (20-byte little-endian entries: address, length, type 1).  Reads past
 * an item's end, or of an unknown item, give 0; writes to the data port are
 * ignored (as in QEMU since its data port became read-only).
 */
#include "internal/host.h"
#include "internal/vm.h"

#define SEL_SIGNATURE 0x0000
#define SEL_ID        0x0001
#define SEL_RAM_SIZE  0x0003
#define SEL_NB_CPUS   0x0005
#define SEL_MAX_CPUS  0x000f
#define SEL_FILE_DIR  0x0019
#define SEL_E820      0x0020            /* first file item */
#define HOLE_START    0xc0000000ull
#define FOUR_G        0x100000000ull

struct fw_cfg {
    uint16_t sel;
    uint32_t pos;
    uint8_t dir[4 + 64];
    uint8_t e820[2 * 20];
    uint32_t e820_len;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The bytes of the selected item, and its length. */
static const uint8_t *item(struct fw_cfg *f, struct v3_vm *vm, uint8_t *tmp, uint32_t *len)
{
    switch (f->sel) {
    case SEL_SIGNATURE:
        memcpy(tmp, "QEMU", 4);
        *len = 4;
        return tmp;
    case SEL_ID:
        put_le(tmp, 1, 4);
        *len = 4;
        return tmp;
    case SEL_RAM_SIZE:
        put_le(tmp, vm->config.mem_size, 8);
        *len = 8;
        return tmp;
    case SEL_NB_CPUS:
    case SEL_MAX_CPUS:
        put_le(tmp, vm->num_cores, 2);
        *len = 2;
        return tmp;
    case SEL_FILE_DIR:
        *len = sizeof(f->dir);
        return f->dir;
    case SEL_E820:
        *len = f->e820_len;
        return f->e820;
    default:
        *len = 0;
        return tmp;
    }
}

static uint64_t fw_read(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size)
{
    struct fw_cfg *f = v3_dev_state(dev);
    uint8_t tmp[8];
    uint32_t len;
    const uint8_t *p;
    uint64_t v = 0;

    (void)core;
    if (off != 1)
        return 0;                       /* the selector is write only */
    p = item(f, v3_dev_vm(dev), tmp, &len);
    /* a wider read takes that many bytes of the item, in order */
    for (unsigned i = 0; i < size; i++, f->pos++)
        if (f->pos < len)
            v |= (uint64_t)p[f->pos] << (8 * i);
    return v;
}

static void fw_write(struct v3_device *dev, struct v3_core *core, uint64_t off, unsigned size, uint64_t val)
{
    struct fw_cfg *f = v3_dev_state(dev);

    (void)core;
    (void)size;
    if (off == 0) {
        f->sel = (uint16_t)val;
        f->pos = 0;
    }
}

static int fw_create(struct v3_device *dev, struct v3_dev_args *args)
{
    struct fw_cfg *f = v3_dev_state(dev);
    uint64_t mem = v3_dev_vm(dev)->config.mem_size, low = mem < HOLE_START ? mem : HOLE_START;
    uint64_t port = 0x510;

    if (v3_dev_arg_u64(args, "port", &port) < 0 || port > 0xfffe)
        return V3_EINVAL;
    put_le(f->e820, 0, 8);
    put_le(f->e820 + 8, low, 8);
    put_le(f->e820 + 16, 1, 4);
    f->e820_len = 20;
    if (mem > low) {
        put_le(f->e820 + 20, FOUR_G, 8);
        put_le(f->e820 + 28, mem - low, 8);
        put_le(f->e820 + 36, 1, 4);
        f->e820_len = 40;
    }
    put_be(f->dir, 1, 4);
    put_be(f->dir + 4, f->e820_len, 4);
    put_be(f->dir + 8, SEL_E820, 2);
    memcpy(f->dir + 12, "etc/e820", 8);
    return v3_dev_claim_io(dev, (uint16_t)port, 2, fw_read, fw_write);
}

static void fw_reset(struct v3_device *dev)
{
    struct fw_cfg *f = v3_dev_state(dev);
    f->sel = 0;
    f->pos = 0;
}

static int fw_save(struct v3_device *dev, struct v3_snap *s)
{
    struct fw_cfg *f = v3_dev_state(dev);
    int rc = v3_snap_put(s, &f->sel, sizeof(f->sel));
    return rc ? rc : v3_snap_put(s, &f->pos, sizeof(f->pos));
}

static int fw_load(struct v3_device *dev, struct v3_snap *s)
{
    struct fw_cfg *f = v3_dev_state(dev);
    int rc = v3_snap_get(s, &f->sel, sizeof(f->sel));
    return rc ? rc : v3_snap_get(s, &f->pos, sizeof(f->pos));
}

const struct v3_device_ops v3_dev_fw_cfg = {
    .name = "fw-cfg",
    .help = "QEMU firmware configuration at 0x510/0x511: signature, RAM size, CPU count, etc/e820",
    .state_size = sizeof(struct fw_cfg),
    .create = fw_create,
    .reset = fw_reset,
    .save = fw_save,
    .load = fw_load,
};
