/* An LD_PRELOAD shim for one experiment in BENCHMARKS.md: it sets TCP_NODELAY
 * on every socket the process accepts. `BENCH_NODELAY_SHIM=1 scripts/bench.sh`
 * builds it and preloads it into `gofast up` only (apps get a scrubbed
 * environment, so they run unchanged), to show what the gateway's requests/s
 * would be if its listener set TCP_NODELAY itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int nodelay(int fd) {
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return nodelay(real(fd, addr, len, flags));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return nodelay(real(fd, addr, len));
}
