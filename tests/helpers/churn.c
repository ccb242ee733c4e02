// Short-lived processes by the thousand: forks RATE children a second for SECONDS seconds;
// each sets its comm to NAME, writes 3 x 100 bytes to /dev/null and exits. Prints how many
// children it made. usage: churn NAME RATE SECONDS
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long rate = atol(argv[2]);
    double seconds = atof(argv[3]);
    double start = now();
    long made = 0;
    char buf[100] = {0};
    while (now() - start < seconds) {
        double due = start + (double)made / rate;
        if (now() < due) {
            usleep(200);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_NAME, argv[1], 0, 0, 0);
            int fd = open("/dev/null", O_WRONLY);
            for (int i = 0; i < 3; i++)
                if (write(fd, buf, sizeof buf) != sizeof buf)
                    _exit(3);
            _exit(0);
        }
        if (pid > 0)
            made++;
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    while (wait(NULL) > 0) {
    }
    printf("%ld\n", made);
    return 0;
}
