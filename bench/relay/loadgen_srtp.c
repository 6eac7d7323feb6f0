/* loadgen_srtp.c - ../shared/bench/relay/loadgen.c (copied unchanged) plus -K: the sender
 * protects every packet with libsrtp2 (SDES key as hex master key||salt; -S gcm for
 * AEAD_AES_128_GCM, default AES_CM_128_HMAC_SHA1_80) before sendmmsg, one SRTP stream per
 * SSRC, so a relay under test has to authenticate and decrypt (SRTP -> RTP). The protect
 * cost is the sender's (its own core), not the relay's.
 *
 * loadgen.c - RTP-like UDP load generator + sink for relay benchmarks.
 *
 *   loadgen -f SRC_PORT (-d RELAY_PORT | -D PORTS_FILE) -k SINK_PORT [-r pps] [-s secs] [-z size] [-C cpu]
 *
 * Sender thread: binds 127.0.0.1:SRC_PORT, sends SIZE-byte packets (default 172:
 * 12-byte RTP header, PT 0, + 160 bytes of G.711 payload) to 127.0.0.1:RELAY_PORT
 * at -r packets/s (0 = as fast as possible), with sendmmsg batches, for -s seconds.
 * Sink thread: binds 127.0.0.1:SINK_PORT, counts what the relay delivers.
 * With -D, packets go round-robin to 127.0.0.1:<each port in the file> (one RTP
 * stream per port, own SSRC/sequence), as a relay with many calls would see them.
 * Both threads are pinned to -C cpu (so the relay under test can have the other core).
 * Prints: sent, received, loss, offered and delivered pps.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <srtp2/srtp.h>

static int src_port = 15300, relay_port = 15400, sink_port = 15302, size = 172, cpu = -1;
/* -D file: many destination ports (one per relayed stream), used round-robin */
#define MAXDST 4096
static int ndst;
static unsigned short dst_ports[MAXDST];
static uint16_t dst_seq[MAXDST];
static uint32_t dst_ts[MAXDST];
static double rate = 0, secs = 10;
static volatile int sender_done;
static srtp_t srtp_tx;   /* -K: protect before sending */
static unsigned long sent, recvd;
static double t_first_rx, t_last_rx;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(void)
{
    if (cpu < 0) return;
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static int udp_bind(int port, int rcvbuf)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (rcvbuf) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int sndbuf = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    return s;
}

#define B 64
static void *sender(void *arg)
{
    (void)arg;
    pin();
    int s = udp_bind(src_port, 0);
    struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(relay_port) };
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (!ndst) connect(s, (struct sockaddr *)&d, sizeof d);
    static unsigned char pk[B][2048];
    static struct sockaddr_in names[B];
    struct mmsghdr m[B];
    struct iovec iov[B];
    memset(m, 0, sizeof m);
    unsigned long rr = 0;
    for (int i = 0; i < B; i++) {
        memset(pk[i], 0xd5, (size_t)size);            /* G.711 mu-law "silence"-ish */
        pk[i][0] = 0x80; pk[i][1] = 0x00;            /* V=2, PT=0 (PCMU) */
        pk[i][8] = 0x12; pk[i][9] = 0x34; pk[i][10] = 0x56; pk[i][11] = 0x78; /* SSRC */
        iov[i].iov_base = pk[i]; iov[i].iov_len = (size_t)size;
        m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1;
        if (ndst) {
            names[i] = d;
            m[i].msg_hdr.msg_name = &names[i]; m[i].msg_hdr.msg_namelen = sizeof names[i];
        }
    }
    uint16_t seq = 0; uint32_t ts = 0;
    double t0 = mono(), end = t0 + secs;
    for (;;) {
        double now = mono();
        if (now >= end) break;
        long want = B;
        if (rate > 0) {
            long due = (long)((now - t0) * rate) - (long)sent;
            if (due <= 0) {
                struct timespec sl = { 0, 50000 };        /* 50 us */
                nanosleep(&sl, NULL);
                continue;
            }
            want = due < B ? due : B;
        }
        for (long i = 0; i < want; i++) {
            if (ndst) {
                unsigned k = (unsigned)(rr++ % (unsigned long)ndst);
                names[i].sin_port = htons(dst_ports[k]);
                uint16_t q = dst_seq[k]++; uint32_t t = dst_ts[k]; dst_ts[k] += 160;
                pk[i][2] = q >> 8; pk[i][3] = q & 0xff;
                pk[i][4] = t >> 24; pk[i][5] = t >> 16; pk[i][6] = t >> 8; pk[i][7] = t;
                pk[i][8] = k >> 8; pk[i][9] = k & 0xff; pk[i][10] = 0x56; pk[i][11] = 0x78; /* SSRC per stream */
                continue;
            }
            pk[i][2] = seq >> 8; pk[i][3] = seq & 0xff; seq++;
            pk[i][4] = ts >> 24; pk[i][5] = ts >> 16; pk[i][6] = ts >> 8; pk[i][7] = ts; ts += 160;
        }
        if (srtp_tx) {
            for (long i = 0; i < want; i++) {
                int len = size;
                if (srtp_protect(srtp_tx, pk[i], &len) != srtp_err_status_ok) {
                    fprintf(stderr, "srtp_protect failed\n"); exit(1);
                }
                iov[i].iov_len = (size_t)len;
            }
        }
        int n = sendmmsg(s, m, (unsigned)want, 0);
        if (n > 0) sent += (unsigned long)n;
        else if (n < 0 && errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != EINTR) {
            perror("sendmmsg"); break;
        }
    }
    sender_done = 1;
    close(s);
    return NULL;
}

static unsigned long sink_drops = 0;
/* kernel drop counter of the local UDP socket bound to `port` (last column of /proc/net/udp) */
static unsigned long udp_drops(int port)
{
    FILE *f = fopen("/proc/net/udp", "r");
    char line[512];
    unsigned long d = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned lp;
        if (sscanf(line, " %*d: %*x:%x", &lp) == 1 && (int)lp == port) {
            char *last = strrchr(line, ' ');
            if (last) d += strtoul(last + 1, NULL, 10);
        }
    }
    fclose(f);
    return d;
}

static void *sink(void *arg)
{
    (void)arg;
    pin();
    int s = udp_bind(sink_port, 8 << 20);
    struct timeval tv = { 0, 200000 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static unsigned char pk[B][2048];
    struct mmsghdr m[B];
    struct iovec iov[B];
    memset(m, 0, sizeof m);
    for (int i = 0; i < B; i++) {
        iov[i].iov_base = pk[i]; iov[i].iov_len = 2048;
        m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1;
    }
    int idle = 0;
    for (;;) {
        int n = recvmmsg(s, m, B, MSG_WAITFORONE, NULL);
        if (n > 0) {
            double now = mono();
            if (!recvd) t_first_rx = now;
            t_last_rx = now;
            recvd += (unsigned long)n; idle = 0;
        } else if (sender_done && ++idle >= 3) {
            break;                      /* 3 x 200 ms of silence after the sender stopped */
        }
    }
    sink_drops = udp_drops(sink_port);
    close(s);
    return NULL;
}

int main(int argc, char **argv)
{
    int opt;
    const char *keyhex = NULL, *suite = "aes80";
    while ((opt = getopt(argc, argv, "f:d:D:k:r:s:z:C:K:S:")) != -1) {
        switch (opt) {
        case 'K': keyhex = optarg; break;
        case 'S': suite = optarg; break;
        case 'D': {
            FILE *fp = fopen(optarg, "r");
            if (!fp) { perror(optarg); return 2; }
            int v;
            while (ndst < MAXDST && fscanf(fp, "%d", &v) == 1) dst_ports[ndst++] = (unsigned short)v;
            fclose(fp);
            break;
        }
        case 'f': src_port = atoi(optarg); break;
        case 'd': relay_port = atoi(optarg); break;
        case 'k': sink_port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': secs = atof(optarg); break;
        case 'z': size = atoi(optarg); break;
        case 'C': cpu = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: loadgen -f src -d relay -k sink [-r pps] [-s secs] [-z size] [-C cpu]\n");
            return 2;
        }
    }
    if (size < 12 || size > 2048) size = 172;
    if (keyhex) {
        unsigned char key[64];
        size_t kl = strlen(keyhex) / 2;
        if (kl > sizeof key) { fprintf(stderr, "key too long\n"); return 2; }
        for (size_t i = 0; i < kl; i++) sscanf(keyhex + 2 * i, "%2hhx", &key[i]);
        srtp_policy_t p;
        memset(&p, 0, sizeof p);
        if (strcmp(suite, "gcm") == 0) {
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
            srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
        } else {
            srtp_crypto_policy_set_rtp_default(&p.rtp);
            srtp_crypto_policy_set_rtcp_default(&p.rtcp);
        }
        p.ssrc.type = ssrc_any_outbound;
        p.key = key;
        p.window_size = 1024;
        if (srtp_init() != srtp_err_status_ok || srtp_create(&srtp_tx, &p) != srtp_err_status_ok) {
            fprintf(stderr, "srtp setup failed\n"); return 2;
        }
    }
    pthread_t ts, tk;
    pthread_create(&tk, NULL, sink, NULL);
    usleep(100000);
    double t0 = mono();
    pthread_create(&ts, NULL, sender, NULL);
    pthread_join(ts, NULL);
    double tsend = mono() - t0;
    pthread_join(tk, NULL);
    double rx_span = t_last_rx - t_first_rx;
    printf("loadgen streams=%d size=%d target_pps=%.0f sent=%lu recvd=%lu loss_pct=%.3f offered_pps=%.0f delivered_pps=%.0f sink_drops=%lu\n",
           ndst ? ndst : 1, size, rate, sent, recvd, sent ? 100.0 * (double)(sent - (recvd < sent ? recvd : sent)) / sent : 0,
           sent / tsend, rx_span > 0 ? recvd / rx_span : 0, sink_drops);
    return 0;
}
