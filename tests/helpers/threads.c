// Named threads and a rename, for the seed's @[comm] (the writing thread's name at write time).
// usage: threads   (waits for a byte on stdin, writes, then waits for stdin to close)
//   thread "logwriter": 1,000 writes of 1,000 B;  thread "flusher": 500 writes of 1,000 B
//   then the main thread, named "tmain", writes 100 B, renames itself "renamed", writes 200 B
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char buf[1000];

static void *worker(void *arg)
{
    const char *name = arg;
    int n = strcmp(name, "logwriter") == 0 ? 1000 : 500;
    prctl(PR_SET_NAME, name, 0, 0, 0);
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++)
        if (write(fd, buf, sizeof(buf)) != sizeof(buf))
            return (void *)1;
    close(fd);
    return 0;
}

int main(void)
{
    char c;
    prctl(PR_SET_NAME, "tmain", 0, 0, 0);
    if (read(0, &c, 1) != 1)
        return 2;
    pthread_t a, b;
    pthread_create(&a, 0, worker, "logwriter");
    pthread_create(&b, 0, worker, "flusher");
    pthread_join(a, 0);
    pthread_join(b, 0);
    int fd = open("/dev/null", O_WRONLY);
    if (write(fd, buf, 100) != 100)
        return 3;
    prctl(PR_SET_NAME, "renamed", 0, 0, 0);
    if (write(fd, buf, 200) != 200)
        return 4;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
