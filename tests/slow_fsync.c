/* LD_PRELOAD shim for tests: every fsync and fdatasync of the process waits SLOW_FSYNC_MS
   (default 300) first, as on a slow disk. Compiled by the test that uses it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void pause_first(void) {
    const char *text = getenv("SLOW_FSYNC_MS");
    usleep((useconds_t)(text ? atoi(text) : 300) * 1000);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_first();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_first();
    return real(fd);
}
