/* The fan-out benchmark's load client: thousands of stream viewers on one epoll loop.
 *
 * Built by bench/cload.py with the machine's gcc (bench/.build/sseload). It opens COUNT
 * connections to HOST:PORT, sends each an HTTP/1.1 GET of PATH (an SSE request, or a
 * WebSocket upgrade with --ws), and waits for the status line that means "streaming"
 * (200, or 101 with --ws). Then it reads every connection and picks `"seq":N,"ts":T` out
 * of the bytes (every server under test sends the published JSON verbatim, whatever its
 * framing), recording per update how many copies arrived and when the last one did.
 * It is a C client so that the load side costs a fraction of what the server does: the
 * Python client it replaces spent 60 % of a core at 10,000 viewers, and its own queueing
 * was part of every latency figure.
 *
 * Control is a line protocol on stdin/stdout:
 *   prints "READY <ok> <failed> <seconds>" once every connection is streaming or failed;
 *   reads  "STAT"  -> prints "STAT <deliveries> <alive>";
 *   reads  "STOP" (or end of input) -> prints one JSON object with the results, exits.
 *
 * usage: sseload HOST PORT PATH COUNT [--ws] [--samples] [--batch N] [--timeout S]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEQ 1000000
#define TAIL 256
#define HEAD_MAX 8192
#define READ_SIZE 65536

enum { CONNECTING, HEAD, STREAM, DEAD };

struct conn {
    int fd;
    int state;
    int head_len;
    int tail_len;
    char *head; /* while the response head arrives */
    char tail[TAIL]; /* bytes after the last complete update, for one split across reads */
};

static struct conn *conns;
static int count, batch = 200, ws = 0, keep_samples = 0;
static double timeout_s = 120.0;
static const char *host, *path;
static int port;
static struct sockaddr_in addr;
static char request[1024];
static int request_len;
static const char *expect;
static int epfd;
static int opened, ok, failed, lost, alive;
static long long deliveries_total;
static int *deliveries;
static double *last_arrival, *published;
static int max_seq;
static float *samples;
static long long samples_len, samples_cap;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void open_one(void) {
    int i = opened++;
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c->state = CONNECTING;
    c->head = malloc(HEAD_MAX);
    c->head_len = c->tail_len = 0;
    if (c->fd < 0) {
        c->state = DEAD;
        failed++;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (r < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->state = DEAD;
        failed++;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (unsigned)i + 1};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void kill_conn(struct conn *c) {
    if (c->state == DEAD) return;
    if (c->state == STREAM) {
        lost++;
        alive--;
    } else {
        failed++;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = DEAD;
    free(c->head);
    c->head = NULL;
}

/* Parse a decimal number (digits and at most one dot) at p; returns chars used, 0 if none
 * or if it runs into the end of the buffer (then it may still be arriving). */
static int number(const char *p, const char *end, double *out, int *complete) {
    const char *q = p;
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '.')) q++;
    *complete = q < end;
    if (q == p) return 0;
    char tmp[64];
    int n = (int)(q - p) < 63 ? (int)(q - p) : 63;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    return (int)(q - p);
}

static void record(int seq, double ts, double at) {
    if (seq <= 0 || seq >= MAX_SEQ) return;
    deliveries[seq]++;
    deliveries_total++;
    if (at > last_arrival[seq]) last_arrival[seq] = at;
    published[seq] = ts;
    if (seq > max_seq) max_seq = seq;
    if (keep_samples) {
        if (samples_len == samples_cap) {
            samples_cap = samples_cap ? samples_cap * 2 : 65536;
            samples = realloc(samples, samples_cap * sizeof *samples);
        }
        samples[samples_len++] = (float)(at - ts);
    }
}

/* Scan buf for updates; returns the offset after the last complete one. */
static int scan(const char *buf, int len, double at) {
    const char *end = buf + len, *p = buf;
    int done = 0;
    static const char key[] = "\"seq\":";
    while ((p = memmem(p, end - p, key, sizeof key - 1)) != NULL) {
        const char *q = p + sizeof key - 1;
        if (q < end && *q == ' ') q++;
        double seq, ts;
        int complete;
        int n = number(q, end, &seq, &complete);
        if (!complete) break;
        if (n == 0) { p = q; continue; }
        q += n;
        if (q < end && *q == ',') q++;
        if (q < end && *q == ' ') q++;
        static const char tskey[] = "\"ts\":";
        if (end - q < (long)sizeof tskey) break;
        if (memcmp(q, tskey, sizeof tskey - 1) != 0) { p = q; continue; }
        q += sizeof tskey - 1;
        if (q < end && *q == ' ') q++;
        n = number(q, end, &ts, &complete);
        if (!complete) break;
        if (n == 0) { p = q; continue; }
        q += n;
        record((int)seq, ts, at);
        done = (int)(q - buf);
        p = q;
    }
    return done;
}

static char readbuf[TAIL + READ_SIZE];

static void on_stream_bytes(struct conn *c, const char *data, int len, double at) {
    /* tail + data in one buffer, scanned once */
    memcpy(readbuf, c->tail, c->tail_len);
    if (data != readbuf + c->tail_len) memmove(readbuf + c->tail_len, data, len);
    int total = c->tail_len + len;
    int done = scan(readbuf, total, at);
    int rest = total - done;
    if (rest > TAIL) {
        done = total - TAIL;
        rest = TAIL;
    }
    memcpy(c->tail, readbuf + done, rest);
    c->tail_len = rest;
}

static void on_readable(struct conn *c) {
    if (c->state == STREAM) {
        ssize_t n = read(c->fd, readbuf + c->tail_len, READ_SIZE);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            kill_conn(c);
            return;
        }
        on_stream_bytes(c, readbuf + c->tail_len, (int)n, now_ms());
        return;
    }
    ssize_t n = read(c->fd, c->head + c->head_len, HEAD_MAX - 1 - c->head_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        kill_conn(c);
        return;
    }
    c->head_len += (int)n;
    c->head[c->head_len] = 0;
    char *sep = memmem(c->head, c->head_len, "\r\n\r\n", 4);
    if (sep == NULL) {
        if (c->head_len >= HEAD_MAX - 1) kill_conn(c);
        return;
    }
    if (strncmp(c->head, expect, strlen(expect)) != 0) {
        kill_conn(c);
        return;
    }
    c->state = STREAM;
    ok++;
    alive++;
    int rest = c->head_len - (int)(sep + 4 - c->head);
    double at = now_ms();
    char *head = c->head;
    c->head = NULL;
    if (rest > 0) {
        memcpy(readbuf, sep + 4, rest);
        c->tail_len = 0;
        on_stream_bytes(c, readbuf, rest, at);
    }
    free(head);
}

static void on_writable(struct conn *c, int index) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        kill_conn(c);
        return;
    }
    if (write(c->fd, request, request_len) != request_len) {
        kill_conn(c);
        return;
    }
    c->state = HEAD;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)index + 1};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void results(double connect_seconds) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"connected\":%d,\"failed\":%d,\"lost\":%d,\"alive\":%d,\"connect_seconds\":%.3f,",
           ok, failed, lost, alive, connect_seconds);
    printf("\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,",
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    printf("\"updates\":[");
    int first = 1;
    for (int s = 1; s <= max_seq; s++) {
        if (!deliveries[s]) continue;
        printf("%s[%d,%d,%.3f,%.3f]", first ? "" : ",", s, deliveries[s], published[s],
               last_arrival[s]);
        first = 0;
    }
    printf("],\"samples\":[");
    for (long long i = 0; i < samples_len; i++) printf("%s%.3f", i ? "," : "", samples[i]);
    printf("]}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT PATH COUNT [--ws] [--samples] [--batch N] "
                        "[--timeout S]\n", argv[0]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    path = argv[3];
    count = atoi(argv[4]);
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--ws")) ws = 1;
        else if (!strcmp(argv[i], "--samples")) keep_samples = 1;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atof(argv[++i]);
    }
    struct rlimit rl = {.rlim_cur = 131072, .rlim_max = 131072};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { /* not root: as far as the hard limit goes */
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (ws) {
        request_len = snprintf(request, sizeof request,
                               "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\nOrigin: http://%s:%d\r\n\r\n",
                               path, host, port, host, port);
        expect = "HTTP/1.1 101";
    } else {
        request_len = snprintf(request, sizeof request,
                               "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n",
                               path, host, port);
        expect = "HTTP/1.1 200";
    }
    conns = calloc(count, sizeof *conns);
    deliveries = calloc(MAX_SEQ, sizeof *deliveries);
    last_arrival = calloc(MAX_SEQ, sizeof *last_arrival);
    published = calloc(MAX_SEQ, sizeof *published);
    epfd = epoll_create1(0);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);

    double started = mono_s(), connect_seconds = -1;
    struct epoll_event events[1024];
    char line[256];
    int line_len = 0;
    for (;;) {
        /* keep at most `batch` connections in their handshake */
        while (opened < count && opened - ok - failed < batch) open_one();
        if (connect_seconds < 0 &&
            (ok + failed == count || mono_s() - started > timeout_s)) {
            connect_seconds = mono_s() - started;
            printf("READY %d %d %.3f\n", ok, count - ok, connect_seconds);
            fflush(stdout);
        }
        int n = epoll_wait(epfd, events, 1024, 100);
        for (int e = 0; e < n; e++) {
            unsigned id = events[e].data.u32;
            if (id == 0) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r == 0) { results(connect_seconds); return 0; }
                if (r < 0) continue;
                line_len += (int)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len)) != NULL) {
                    *nl = 0;
                    if (!strcmp(line, "STAT")) {
                        printf("STAT %lld %d\n", deliveries_total, alive);
                        fflush(stdout);
                    } else if (!strcmp(line, "STOP")) {
                        results(connect_seconds);
                        return 0;
                    }
                    int used = (int)(nl + 1 - line);
                    memmove(line, nl + 1, line_len - used);
                    line_len -= used;
                }
                if (line_len >= (int)sizeof line - 1) line_len = 0;
                continue;
            }
            struct conn *c = &conns[id - 1];
            if (c->state == DEAD) continue;
            if (c->state == CONNECTING) {
                if (events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(c, (int)id - 1);
                continue;
            }
            if (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        }
    }
}
