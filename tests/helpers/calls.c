// Every write path with known sizes, to every kind of target, for wtop's tests.
// usage: calls NAME FILE   (waits for a byte on stdin, writes, then stays 3 s with its fds open)
//   to FILE: write 100 B x2, pwrite64 200 B x3, writev 50+60 B x4, pwritev 300 B x5,
//            pwritev2 400 B x6
//   to a pipe: write 10 B x7;  to a socket: write 20 B x8;  to /dev/null: write 30 B x1
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static char buf[512];

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    prctl(PR_SET_NAME, argv[1], 0, 0, 0);
    int f = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int p[2], s[2];
    if (f < 0 || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, s))
        return 3;
    int null = open("/dev/null", O_WRONLY);
    memset(buf, 'c', sizeof buf);
    char go;
    if (read(0, &go, 1) < 0)
        return 4;
    for (int i = 0; i < 2; i++)
        if (write(f, buf, 100) != 100) return 5;
    for (int i = 0; i < 3; i++)
        if (pwrite(f, buf, 200, 4096 * i) != 200) return 6;
    struct iovec two[2] = {{buf, 50}, {buf, 60}};
    for (int i = 0; i < 4; i++)
        if (writev(f, two, 2) != 110) return 7;
    struct iovec one300 = {buf, 300}, one400 = {buf, 400};
    for (int i = 0; i < 5; i++)
        if (pwritev(f, &one300, 1, 8192) != 300) return 8;
    for (int i = 0; i < 6; i++)
        if (pwritev2(f, &one400, 1, 16384, 0) != 400) return 9;
    for (int i = 0; i < 7; i++)
        if (write(p[1], buf, 10) != 10) return 10;
    for (int i = 0; i < 8; i++)
        if (write(s[0], buf, 20) != 20) return 11;
    if (write(null, buf, 30) != 30) return 12;
    sleep(3);
    return 0;
}
