/* SPDX-License-Identifier: MIT */
/*
 * Mutual exclusion between vCPUs of the software CPU.  Every vCPU runs the
 * spin lock of guests/tests/smp.asm: XCHG with memory to take the lock, a
 * plain load / INC / store of a counter, a plain store of 0 to release it.
 * On x86 the XCHG is locked and stores are neither split nor repeated, so
 * the counter ends at exactly vCPUs x rounds (the oracle is that product).
 *
 * The BSP runs 32-bit code at 0x1000 and starts the APs with INIT/SIPI
 * (vector 8, "all excluding self"); the APs run the same loop as 16-bit
 * code with 32-bit operands at 0x8000.  Both go through the generic
 * instruction handlers and the software CPU's memory ops (no 64-bit fast
 * forms).  Data page 0x3000: lock, counter, finished count, vCPU count,
 * rounds.  The APs end in CLI; HLT, the BSP, once every vCPU has finished,
 * at the debug-exit port.
 *
 * The executable has its own memcpy() and memmove(): correct ones that
 * copy a small block into the guest's data page twice, with a pause between
 * the two copies.  That is what glibc's memcpy() does for 2 to 31 bytes (two
 * overlapping moves), with the window between the moves made wide.  A guest
 * store that reached guest RAM through memcpy() is then written again after
 * another vCPU may have taken the lock, and increments are lost at once; a
 * store done as one host move is unaffected.
 */
#include <stdint.h>
#include <string.h>
#include "v3test.h"
#include <v3/cpu.h>
#include <v3/loader.h>
#include <v3/mem.h>

#define DATA   0x3000u
#define SLOCK  (DATA + 0x0)
#define SCOUNT (DATA + 0x4)
#define DONE   (DATA + 0x8)
#define NCPU   (DATA + 0xc)
#define ROUNDS (DATA + 0x10)

/* ------------------------------------------------------------ memcpy() with a wide window */

static volatile uintptr_t window_lo, window_hi;   /* host range of the data page; 0: off */
static volatile unsigned long window_calls;

/* copy @p n bytes (forward, or backward when @p dst overlaps the source's
 * end), twice with a pause between when it is a small block into the window */
static void *copy_twice(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    uintptr_t a = (uintptr_t)dst;
    int rounds = n >= 2 && n <= 16 && a >= window_lo && a < window_hi ? 2 : 1;
    for (int r = 0; r < rounds; r++) {
        if (r) {
            window_calls++;
            for (int k = 0; k < 2000; k++)
                __builtin_ia32_pause();
        }
        if (d > s && d < s + n)
            for (size_t i = n; i-- > 0;)
                d[i] = s[i];
        else
            for (size_t i = 0; i < n; i++)
                d[i] = s[i];
    }
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    return copy_twice(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n)
{
    return copy_twice(dst, src, n);
}

/* ------------------------------------------------------------ guest */

static const uint8_t bsp_code[] = {           /* bits 32, at 0x1000 */
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x0c, 0x00,  /* mov dword [0xfee00300], 0xc4500: INIT */
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x0c, 0x00,  /* mov dword [0xfee00300], 0xc4608: SIPI 8 */
    0x8b, 0x0d, 0x10, 0x30, 0x00, 0x00,                          /* mov ecx, [ROUNDS] */
    0xb8, 0x01, 0x00, 0x00, 0x00,                                /* .l: mov eax, 1 */
    0x87, 0x05, 0x00, 0x30, 0x00, 0x00,                          /* .acq: xchg [SLOCK], eax */
    0x85, 0xc0,                                                  /* test eax, eax */
    0x75, 0xf6,                                                  /* jnz .acq */
    0xa1, 0x04, 0x30, 0x00, 0x00,                                /* mov eax, [SCOUNT] */
    0x40,                                                        /* inc eax */
    0xa3, 0x04, 0x30, 0x00, 0x00,                                /* mov [SCOUNT], eax */
    0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* mov dword [SLOCK], 0 */
    0x49,                                                        /* dec ecx */
    0x75, 0xd9,                                                  /* jnz .l */
    0xf0, 0xff, 0x05, 0x08, 0x30, 0x00, 0x00,                    /* lock inc dword [DONE] */
    0xa1, 0x08, 0x30, 0x00, 0x00,                                /* .w: mov eax, [DONE] */
    0x3b, 0x05, 0x0c, 0x30, 0x00, 0x00,                          /* cmp eax, [NCPU] */
    0x72, 0xf3,                                                  /* jb .w */
    0xb0, 0x00, 0xe6, 0xf4,                                      /* mov al, 0; out 0xf4, al: debug exit */
};

static const uint8_t ap_code[] = {            /* bits 16, at 0x8000 (CS 0x0800) */
    0xfa,                                                        /* cli */
    0x31, 0xc0, 0x8e, 0xd8,                                      /* xor ax, ax; mov ds, ax */
    0x66, 0x8b, 0x0e, 0x10, 0x30,                                /* mov ecx, [ROUNDS] */
    0x66, 0xb8, 0x01, 0x00, 0x00, 0x00,                          /* .l: mov eax, 1 */
    0x66, 0x87, 0x06, 0x00, 0x30,                                /* .acq: xchg [SLOCK], eax */
    0x66, 0x85, 0xc0,                                            /* test eax, eax */
    0x75, 0xf6,                                                  /* jnz .acq */
    0x66, 0xa1, 0x04, 0x30,                                      /* mov eax, [SCOUNT] */
    0x66, 0x40,                                                  /* inc eax */
    0x66, 0xa3, 0x04, 0x30,                                      /* mov [SCOUNT], eax */
    0x66, 0xc7, 0x06, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00,        /* mov dword [SLOCK], 0 */
    0x66, 0x49,                                                  /* dec ecx */
    0x75, 0xd9,                                                  /* jnz .l */
    0xf0, 0x66, 0xff, 0x06, 0x08, 0x30,                          /* lock inc dword [DONE] */
    0xf4, 0xeb, 0xfd,                                            /* .h: hlt; jmp .h */
};

static uint32_t rd32(struct v3_vm *vm, uint64_t gpa)
{
    uint32_t v = 0;
    assert_int_equal(v3_read_gpa_memory(vm, NULL, gpa, 4, &v), 4);
    return v;
}

static void wr32(struct v3_vm *vm, uint64_t gpa, uint32_t v)
{
    assert_int_equal(v3_write_gpa_memory(vm, NULL, gpa, 4, &v), 4);
}

/* @p ncpu vCPUs, @p rounds each: the counter must be exactly ncpu * rounds */
static void spin_lock_run(unsigned ncpu, uint32_t rounds)
{
    struct v3_vm_config cfg;
    struct v3_vm_result res;
    struct v3_vm *vm;
    void *hva = NULL;
    unsigned long calls;
    int err = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = 4u << 20;
    cfg.num_cores = ncpu;
    cfg.machine = "pc";
    cfg.devices = V3_DEV_DEBUG_EXIT;
    vm = v3_create_vm(&cfg, &err);
    assert_non_null(vm);
    assert_int_equal(v3_load_flat(vm, bsp_code, sizeof(bsp_code), 0x1000, 0x1000, V3_FLAT_PROT32), V3_OK);
    assert_int_equal(v3_write_gpa_memory(vm, NULL, 0x8000, sizeof(ap_code), ap_code), (int)sizeof(ap_code));
    wr32(vm, NCPU, ncpu);
    wr32(vm, ROUNDS, rounds);

    assert_int_equal(v3_gpa_to_hva(vm, DATA, &hva), V3_OK);
    window_lo = (uintptr_t)hva;
    window_hi = (uintptr_t)hva + 4096;
    /* this executable's memcpy()/memmove() are the ones the library calls
       (v3_write_gpa_memory() copies a 3-byte piece with memmove()) */
    calls = window_calls;
    assert_int_equal(v3_write_gpa_memory(vm, NULL, DATA + 0x20, 3, "abc"), 3);
    assert_true(window_calls > calls);

    assert_int_equal(v3_run_vm(vm, &res), V3_OK);
    window_lo = window_hi = 0;
    assert_int_equal(res.reason, V3_STOP_DEBUG_EXIT);
    assert_int_equal(res.exit_code, 1);
    assert_int_equal(rd32(vm, DONE), ncpu);
    assert_int_equal(rd32(vm, SLOCK), 0);
    assert_int_equal(rd32(vm, SCOUNT), ncpu * rounds);
    v3_free_vm(vm);
}

static void test_spin_lock_2(void **state)
{
    (void)state;
    spin_lock_run(2, 20000);
}

static void test_spin_lock_4(void **state)
{
    (void)state;
    spin_lock_run(4, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spin_lock_2),
        cmocka_unit_test(test_spin_lock_4),
    };
    return cmocka_run_group_tests(tests, v3t_setup, v3t_teardown);
}
