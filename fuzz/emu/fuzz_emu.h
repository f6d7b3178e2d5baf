/* SPDX-License-Identifier: MIT */
/* The emulator fuzz target's body, shared by the libFuzzer and replay builds. */
#ifndef FUZZ_EMU_H
#define FUZZ_EMU_H
#include <stddef.h>
#include <stdint.h>
#define FUZZ_EMU_HDR 160     /* header bytes before the instruction bytes */
int fuzz_emu_one(const uint8_t *data, size_t size);
#endif
