// Every write path beyond the write family, and every sync call, with known sizes, for
// wtop's tests. usage: paths NAME DIR   (waits for a byte on stdin, then calls, prints
// "done" and stays 3 s with its descriptors open)
//   copy_file_range 10000 B x1, sendfile 9000 B x2, splice 4096 B x3 (into a pipe),
//   vmsplice 1000 B x5 (into a pipe), tee 800 B x1 (after a write of 800 B to the pipe),
//   sendto 100 B x7, sendmsg 50+70 B x3, sendmmsg 4 messages of 30 B x2 (a datagram socket),
//   fsync x3, fdatasync x2, sync_file_range x1, msync x1, syncfs x1, sync x1.
// Every call's result is checked: any short call exits with a non-zero status.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static char buf[65536];

static int drain(int fd, long n)
{
    while (n > 0) {
        long got = read(fd, buf, n > (long)sizeof buf ? (long)sizeof buf : n);
        if (got <= 0)
            return -1;
        n -= got;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    prctl(PR_SET_NAME, argv[1], 0, 0, 0);
    char src_path[4096], dst_path[4096];
    snprintf(src_path, sizeof src_path, "%s/src.bin", argv[2]);
    snprintf(dst_path, sizeof dst_path, "%s/dst.bin", argv[2]);
    memset(buf, 'p', sizeof buf);
    int src = open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (src < 0 || pwrite(src, buf, 65536, 0) != 65536) // before the go: not counted
        return 3;
    int dst = open(dst_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int p[2], q[2], s[2];
    if (dst < 0 || pipe(p) || pipe(q) || socketpair(AF_UNIX, SOCK_DGRAM, 0, s))
        return 4;
    char go;
    if (read(0, &go, 1) < 0)
        return 5;

    loff_t in = 0, out = 0;
    if (copy_file_range(src, &in, dst, &out, 10000, 0) != 10000) return 10;
    off_t off = 0;
    for (int i = 0; i < 2; i++)
        if (sendfile(dst, src, &off, 9000) != 9000) return 11;
    for (int i = 0; i < 3; i++) {
        loff_t o = 0;
        if (splice(src, &o, p[1], NULL, 4096, 0) != 4096) return 12;
        if (drain(p[0], 4096)) return 13;
    }
    for (int i = 0; i < 5; i++) {
        struct iovec v = {buf, 1000};
        if (vmsplice(p[1], &v, 1, 0) != 1000) return 14;
        if (drain(p[0], 1000)) return 15;
    }
    if (write(p[1], buf, 800) != 800) return 16;
    if (tee(p[0], q[1], 800, 0) != 800) return 17;
    if (drain(p[0], 800) || drain(q[0], 800)) return 18;

    for (int i = 0; i < 7; i++) {
        if (sendto(s[0], buf, 100, 0, NULL, 0) != 100) return 20;
        if (recv(s[1], buf, sizeof buf, 0) != 100) return 21;
    }
    for (int i = 0; i < 3; i++) {
        struct iovec two[2] = {{buf, 50}, {buf, 70}};
        struct msghdr m = {.msg_iov = two, .msg_iovlen = 2};
        if (sendmsg(s[0], &m, 0) != 120) return 22;
        if (recv(s[1], buf, sizeof buf, 0) != 120) return 23;
    }
    for (int i = 0; i < 2; i++) {
        struct iovec v[4];
        struct mmsghdr mm[4];
        memset(mm, 0, sizeof mm);
        for (int j = 0; j < 4; j++) {
            v[j].iov_base = buf;
            v[j].iov_len = 30;
            mm[j].msg_hdr.msg_iov = &v[j];
            mm[j].msg_hdr.msg_iovlen = 1;
        }
        if (sendmmsg(s[0], mm, 4, 0) != 4) return 24;
        for (int j = 0; j < 4; j++)
            if (recv(s[1], buf, sizeof buf, 0) != 30) return 25;
    }

    for (int i = 0; i < 3; i++)
        if (fsync(dst)) return 30;
    for (int i = 0; i < 2; i++)
        if (fdatasync(dst)) return 31;
    if (sync_file_range(dst, 0, 0, SYNC_FILE_RANGE_WRITE)) return 32;
    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, src, 0);
    if (map == MAP_FAILED) return 33;
    map[0] = 'x';
    if (msync(map, 4096, MS_SYNC)) return 34;
    if (syncfs(dst)) return 35;
    sync();
    if (write(1, "done\n", 5) != 5) return 36;
    sleep(3);
    return 0;
}
