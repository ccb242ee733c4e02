// A writer with a known workload, for wtop's tests.
// usage: writer NAME SIZE COUNT PATH [PERIOD_MS [THREADS [REPEATS]]]
//   sets its comm to NAME (prctl, any bytes but NUL), reads one byte from stdin (the test's
//   "go"; EOF also goes), then each of THREADS threads writes COUNT writes of SIZE bytes to
//   PATH. With PERIOD_MS > 0 it repeats every PERIOD_MS, REPEATS times in all (0: until
//   killed); else it exits after one round.
//   It prints nothing and makes no other write() calls.
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static size_t size;
static long count, period_ms, repeats;
static const char *path;

static void *run(void *arg)
{
    (void)arg;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        _exit(3);
    char *buf = malloc(size ? size : 1);
    memset(buf, 'w', size ? size : 1);
    for (long round = 1;; round++) {
        for (long i = 0; i < count; i++) {
            ssize_t n = write(fd, buf, size);
            if (n != (ssize_t)size)
                _exit(4);
        }
        if (period_ms <= 0 || (repeats > 0 && round >= repeats))
            break;
        struct timespec ts = {period_ms / 1000, (period_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    prctl(PR_SET_NAME, argv[1], 0, 0, 0);
    size = strtoul(argv[2], NULL, 10);
    count = strtol(argv[3], NULL, 10);
    path = argv[4];
    period_ms = argc > 5 ? strtol(argv[5], NULL, 10) : 0;
    int threads = argc > 6 ? atoi(argv[6]) : 1;
    repeats = argc > 7 ? strtol(argv[7], NULL, 10) : 0;
    char go;
    if (read(0, &go, 1) < 0)
        return 5;
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    for (int i = 1; i < threads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    run(NULL);
    for (int i = 1; i < threads; i++)
        pthread_join(t[i], NULL);
    return 0;
}
