/* SPDX-License-Identifier: MIT */
/*
 * v3vm's serial console on stdio.
 *
 * On a terminal, stdin is put in raw mode (no echo, no line editing, no
 * signals from Ctrl-C: those keys belong to the guest) and the previous mode
 * is restored on every way out: normal exit, exit(), a terminating signal, a
 * crash signal.  Ctrl-A starts an escape, as QEMU's -nographic does:
 *   Ctrl-A X  quit (v3vm exits with status 0)
 *   Ctrl-A H  list the escapes
 *   Ctrl-A A  send one Ctrl-A to the guest
 * When stdin is not a terminal, bytes go to the guest unchanged as they come
 * and end of input only stops further reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "console.h"

#define ESCAPE_CHAR 0x01        /* Ctrl-A */

static struct termios saved_tio;
static volatile sig_atomic_t raw_on;
static int escapes;             /* Ctrl-A escapes are active (stdin is a terminal) */
static int in_escape;
static int at_eof;
static int handlers_set;
static void (*quit_fn)(void);
static volatile sig_atomic_t quit_requested;

void console_restore(void)
{
    if (raw_on) {
        tcsetattr(0, TCSAFLUSH, &saved_tio);
        raw_on = 0;
    }
}

/* A terminating or crash signal: restore the terminal, then die of the signal. */
static void on_fatal(int sig)
{
    console_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

int console_init(void (*quit)(void))
{
    struct termios t;
    static const int fatal[] = { SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPIPE };

    quit_fn = quit;
    if (!isatty(0) || tcgetattr(0, &saved_tio) != 0)
        return 0;
    t = saved_tio;
    cfmakeraw(&t);
    t.c_oflag = saved_tio.c_oflag;      /* output as before: the guest's CR LF pass through */
    if (tcsetattr(0, TCSAFLUSH, &t) != 0)
        return 0;
    raw_on = 1;
    escapes = 1;
    if (!handlers_set) {    /* once, also when the guest reboots */
        handlers_set = 1;
        atexit(console_restore);
        for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_fatal;
            sigaction(fatal[i], &sa, NULL);
        }
    }
    return 1;
}

int console_quit_requested(void)
{
    return quit_requested;
}

static void escape_help(void)
{
    static const char help[] =
        "\r\nC-a h    print this help\r\n"
        "C-a x    exit v3vm\r\n"
        "C-a a    send C-a to the guest\r\n";
    fflush(stdout);
    if (write(2, help, sizeof(help) - 1) < 0) {
        /* nothing useful to do */
    }
}

int console_input(void *priv, uint8_t *b)
{
    struct pollfd p = { .fd = 0, .events = POLLIN };
    uint8_t c;

    (void)priv;
    /* The guest polls while it waits for input: a prompt without a newline
     * shows now. */
    fflush(stdout);
    for (;;) {
        if (at_eof || quit_requested || poll(&p, 1, 0) != 1 || !(p.revents & (POLLIN | POLLHUP)))
            return 0;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            return 0;
        if (r != 1) {
            at_eof = 1;         /* end of input: the guest just gets no more bytes */
            return 0;
        }
        if (!escapes) {
            *b = c;
            return 1;
        }
        if (in_escape) {
            in_escape = 0;
            switch (c) {
            case 'x': case 'X':
                quit_requested = 1;
                if (quit_fn)
                    quit_fn();
                return 0;
            case 'h': case 'H': case '?':
                escape_help();
                continue;
            case ESCAPE_CHAR: case 'a': case 'A':
                *b = ESCAPE_CHAR;
                return 1;
            default:
                continue;       /* unknown escapes are dropped, as QEMU does */
            }
        }
        if (c == ESCAPE_CHAR) {
            in_escape = 1;
            continue;
        }
        *b = c;
        return 1;
    }
}
