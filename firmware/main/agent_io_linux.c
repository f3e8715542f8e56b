/* agent_io for ESP-IDF's `linux` target: the protocol on stdin/stdout. */
#include "sdkconfig.h"
#if CONFIG_IDF_TARGET_LINUX
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent_io.h"

static void set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
}

void agent_io_init(void)
{
    /* A device gets an error return where Linux raises SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* IDF makes fds 0-2 non-blocking at start-up; lines would be lost on a full pipe. */
    set_blocking(STDIN_FILENO);
    set_blocking(STDOUT_FILENO);
    set_blocking(STDERR_FILENO);
}

void agent_io_network_up(void)
{
}

void agent_io_write(const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, c, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* the host is gone; the read side ends the process */
        }
        c += w;
        n -= (size_t)w;
    }
}

int agent_io_read(uint8_t *buf, size_t cap)
{
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, cap);
        if (r > 0) {
            return (int)r;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && errno == EAGAIN) {
            usleep(1000);
            return 0;
        }
        return -1;
    }
}

void agent_io_exit(void)
{
    exit(0);
}

void app_main(void);

/* With esp-protocols' linux_compat FreeRTOS shim the app provides main() itself. */
int main(void)
{
    app_main();
    return 0;
}
#endif
