// N child processes (fork, no exec) that each write once when the parent says go, then
// stay alive until the parent's stdin closes. Prints "ready" once all are forked and
// "done" when every child has written.
// usage: forker N
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int go[2], done[2];
    if (pipe(go) || pipe(done))
        return 2;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 3;
        }
        if (pid == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) < 0)  // EOF when the parent closes go[1]
                _exit(4);
            int fd = open("/dev/null", O_WRONLY);
            if (write(fd, "0123456789abcdef", 16) != 16)
                _exit(5);
            if (write(done[1], "x", 1) != 1)
                _exit(6);
            pause();
            _exit(0);
        }
    }
    close(go[0]);
    close(done[1]);
    printf("ready\n");
    fflush(stdout);
    char c;
    if (read(0, &c, 1) < 0)  // the runner says go
        return 7;
    close(go[1]);
    for (int got = 0; got < n;) {
        char buf[4096];
        ssize_t r = read(done[0], buf, sizeof buf);
        if (r <= 0)
            break;
        got += r;
    }
    printf("done\n");
    fflush(stdout);
    if (read(0, &c, 1) < 0) {
    }  // until the runner closes stdin
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    while (wait(NULL) > 0) {
    }
    return 0;
}
