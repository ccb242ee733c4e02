// Time 64-byte write()s to /dev/null: prints the mean ns per write seen by each thread.
// usage: writebench N [THREADS [wait [other]]]   (wait: read one byte from stdin before
// writing; other: time getppid() instead, a system call wtop does not trace)
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long n;
static int other;
static pthread_barrier_t start;

static void *run(void *arg)
{
    (void)arg;
    char buf[64] = {0};
    int fd = open("/dev/null", O_WRONLY);
    pthread_barrier_wait(&start);
    if (other)
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
    else
        for (long i = 0; i < n; i++)
            if (write(fd, buf, sizeof buf) != sizeof buf)
                exit(3);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    n = atol(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    other = argc > 4;
    if (argc > 3) {
        char go;
        if (read(0, &go, 1) != 1)
            return 4;
    }
    pthread_t t[256];
    pthread_barrier_init(&start, NULL, threads + 1);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    struct timespec a, b;
    pthread_barrier_wait(&start);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.2f\n", ns / n);
    return 0;
}
