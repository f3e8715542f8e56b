/* The agent's byte stream and network bring-up: stdin/stdout on the linux target, the
 * console UART (after Wi-Fi) on a board. */
#ifndef AGENT_IO_H
#define AGENT_IO_H
#include <stddef.h>
#include <stdint.h>

#define WSIM_AGENT_VERSION "0.1.0"

/* Prepares the stream (linux: blocking stdout, SIGPIPE ignored; board: UART driver). */
void agent_io_init(void);
/* Board: connects to Wi-Fi from the Kconfig options (bounded wait); linux: nothing. */
void agent_io_network_up(void);
/* Writes all bytes (the caller holds the output lock). */
void agent_io_write(const void *p, size_t n);
/* Reads some bytes: > 0 bytes read, 0 nothing yet (bounded wait), < 0 end of input. */
int agent_io_read(uint8_t *buf, size_t cap);
/* The host went away (linux) — ends the process. */
void agent_io_exit(void);
#endif
