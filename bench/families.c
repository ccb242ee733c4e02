// N calls of one family, as fast as they go, for wtop's benchmark (bench part 7).
// usage: families KIND N   (KIND: send, copy, sync; waits for a byte on stdin first)
//   send: sendto() of 64 bytes on an unconnected UDP socket to 127.0.0.1:9 (nothing listens)
//   copy: copy_file_range() of 4 KiB between two files in /dev/shm, at fixed offsets
//   sync: fdatasync() of a file in /dev/shm (tmpfs: the call, not a disk)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long n = atol(argv[2]);
    char buf[4096];
    memset(buf, 'f', sizeof buf);
    int a = open("/dev/shm/wtop-bench-a", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int b = open("/dev/shm/wtop-bench-b", O_RDWR | O_CREAT | O_TRUNC, 0600);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (a < 0 || b < 0 || s < 0 || write(a, buf, sizeof buf) != sizeof buf)
        return 3;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char go;
    if (read(0, &go, 1) != 1)
        return 4;
    for (long i = 0; i < n; i++) {
        if (!strcmp(argv[1], "send")) {
            if (sendto(s, buf, 64, 0, (struct sockaddr *)&to, sizeof to) != 64)
                return 5;
        } else if (!strcmp(argv[1], "copy")) {
            loff_t in = 0, out = 0;
            if (copy_file_range(a, &in, b, &out, 4096, 0) != 4096)
                return 6;
        } else if (fdatasync(b)) {
            return 7;
        }
    }
    unlink("/dev/shm/wtop-bench-a");
    unlink("/dev/shm/wtop-bench-b");
    return 0;
}
