/* SPDX-License-Identifier: MIT */
/* v3vm's stdio serial console (console.c). */
#ifndef V3VM_CONSOLE_H
#define V3VM_CONSOLE_H

#include <stdint.h>

/* Raw mode on a terminal stdin (restored at exit and on fatal signals) with
 * Ctrl-A escapes; @p quit is called for Ctrl-A X.  Returns 1 when stdin is a
 * terminal now in raw mode, 0 otherwise (input then passes unchanged). */
int console_init(void (*quit)(void));

/* Puts the terminal back as it was (idempotent). */
void console_restore(void);

/* The serial input callback (struct v3_serial_config::input). */
int console_input(void *priv, uint8_t *b);

/* Ctrl-A X was typed. */
int console_quit_requested(void);

#endif
