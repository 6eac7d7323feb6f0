/* Benchmark driver: a gorgee relay with one media worker and N sessions of two plain UDP
 * endpoints (or SDES-SRTP on one side), fed by the shared loadgen (bench/relay.sh).
 *
 *   relay-driver -n SESSIONS -f LOADGEN_SRC_PORT -k SINK_PORT -P PORTS_FILE
 *                [-m plain|srtp_out|srtp_in] [-s SUITE] [-l PORT_MIN] [-b BATCH]
 *
 * Session i: endpoint 0 expects RTP from 127.0.0.1:LOADGEN_SRC_PORT (strict source, no
 * learning), endpoint 1 sends to 127.0.0.1:SINK_PORT; both rtcp-mux. Endpoint 0's local
 * RTP port of each session is written to PORTS_FILE, one a line (loadgen -d/-D input).
 *   plain    RTP -> RTP: every packet is parsed, checked and forwarded, as in a call.
 *   srtp_out RTP -> SRTP: endpoint 1 is SDES-SRTP; the relay protects each packet (the
 *            loadgen keeps sending plain RTP; the sink only counts, it does not decrypt).
 *   srtp_in  SRTP -> RTP: endpoint 0 is SDES-SRTP; the relay authenticates and decrypts
 *            each packet. The sender must protect with the key written to PORTS_FILE.key
 *            (hex master key||salt), SSRC per stream as loadgen -D makes them.
 * Keys are random per run (getrandom). Suite: AES_CM_128_HMAC_SHA1_80 (default, the SDES
 * default toward SIP phones) or AEAD_AES_128_GCM (-s gcm).
 *
 * Prints "ready tid=<tid of the media worker thread>" on stdout once every session is up,
 * so the caller can read that thread's CPU time (/proc/<pid>/task/<tid>/schedstat). Runs
 * until SIGTERM/SIGINT, then prints the relay's own counters summed over the sessions:
 *   driver sessions=N in=<accepted> out=<sent> dropped=<drops on endpoint 0>
 */
#include <dirent.h>
#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "relay.h"

struct driver {
	GMainContext *ctx;
	bool stop;
	unsigned n, stats_pending;
	struct relay_session **s;
	struct relay_session_stats sum;
};

static gboolean on_signal(gpointer data)
{
	struct driver *d = data;
	d->stop = true;
	return G_SOURCE_CONTINUE;
}

static struct sockaddr_storage loop_addr(uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(port);
	return ss;
}

/* The thread id of the media worker ("media-0"), from /proc/self/task/<tid>/comm. */
static long worker_tid(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	long tid = -1;
	while (dir && (de = readdir(dir))) {
		char path[300], comm[32] = "";
		g_snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "media-0", 7) == 0)
			tid = atol(de->d_name);
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return tid;
}

static void on_stats(struct relay_session *s, const struct relay_session_stats *st, void *arg)
{
	struct driver *d = arg;
	for (int i = 0; i < 2; i++) {
		d->sum.ep[i].packets_in += st->ep[i].packets_in;
		d->sum.ep[i].packets_out += st->ep[i].packets_out;
		d->sum.ep[i].dropped += st->ep[i].dropped;
	}
	d->stats_pending--;
}

static void usage(void)
{
	fprintf(stderr, "usage: relay-driver -n sessions -f loadgen_src_port -k sink_port -P ports_file "
			"[-m plain|srtp_out|srtp_in] [-s aes80|gcm] [-l port_min] [-b batch]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned n = 1, batch = 0;
	int src = 0, sink = 0, port_min = 16000, opt;
	const char *mode = "plain", *ports_file = NULL, *suite_name = "aes80";
	while ((opt = getopt(argc, argv, "n:f:k:P:m:s:l:b:")) != -1) {
		switch (opt) {
		case 'n': n = (unsigned)atoi(optarg); break;
		case 'f': src = atoi(optarg); break;
		case 'k': sink = atoi(optarg); break;
		case 'P': ports_file = optarg; break;
		case 'm': mode = optarg; break;
		case 's': suite_name = optarg; break;
		case 'l': port_min = atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	int srtp_ep = strcmp(mode, "srtp_out") == 0 ? 1 : strcmp(mode, "srtp_in") == 0 ? 0 : -1;
	if (n < 1 || n > 4000 || src <= 0 || sink <= 0 || !ports_file ||
	    (srtp_ep < 0 && strcmp(mode, "plain") != 0))
		usage();
	enum relay_srtp_suite suite = strcmp(suite_name, "gcm") == 0
					      ? RELAY_SRTP_AEAD_AES_128_GCM
					      : RELAY_SRTP_AES_CM_128_HMAC_SHA1_80;
	log_setup(LOG_WARN, LOG_FORMAT_TEXT);

	struct driver d = {.ctx = g_main_context_new(), .n = n};
	g_main_context_push_thread_default(d.ctx);
	struct relay_config cfg = {.workers = 1, .bind_addr = "127.0.0.1",
				   .port_min = (uint16_t)port_min,
				   .port_max = (uint16_t)(port_min + 4 * n + 16), .batch = batch};
	struct relay *r = NULL;
	int err = relay_new(&cfg, &r);
	if (err) {
		fprintf(stderr, "relay_new: %s\n", g_strerror(err));
		return 1;
	}
	uint8_t key[32];
	size_t kl = relay_srtp_key_len(suite);
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return 1;
	struct secret *k = secret_new((const char *)key, kl);

	GString *ports = g_string_new(NULL);
	d.s = g_new0(struct relay_session *, n);
	for (unsigned i = 0; i < n; i++) {
		struct relay_session_params p;
		memset(&p, 0, sizeof(p));
		p.ep[0].remote_rtp = loop_addr((uint16_t)src);
		p.ep[0].rtcp_mux = true;
		p.ep[1].remote_rtp = loop_addr((uint16_t)sink);
		p.ep[1].rtcp_mux = true;
		if (srtp_ep >= 0) {
			/* the same key both ways and for every session: it changes nothing in
			 * the cost, and the sender needs just one */
			p.ep[srtp_ep].srtp = suite;
			p.ep[srtp_ep].key_in = k;
			p.ep[srtp_ep].key_out = k;
		}
		p.call_id = "bench";
		struct relay_local loc[2];
		err = relay_session_new(r, &p, loc, &d.s[i]);
		if (err) {
			fprintf(stderr, "relay_session_new %u: %s\n", i, g_strerror(err));
			return 1;
		}
		g_string_append_printf(ports, "%u\n", loc[0].rtp_port);
	}
	secret_free(k);
	if (!g_file_set_contents(ports_file, ports->str, (gssize)ports->len, NULL))
		return 1;
	g_string_free(ports, TRUE);
	if (srtp_ep == 0) {
		char hex[65], *kf = g_strconcat(ports_file, ".key", NULL);
		for (size_t i = 0; i < kl; i++)
			g_snprintf(hex + 2 * i, 3, "%02x", key[i]);
		if (!g_file_set_contents(kf, hex, (gssize)(2 * kl), NULL))
			return 1;
		g_free(kf);
	}
	memset(key, 0, sizeof(key));

	/* on our context: g_unix_signal_add() would attach to the global default one */
	int sigs[2] = {SIGTERM, SIGINT};
	for (int i = 0; i < 2; i++) {
		GSource *src_sig = g_unix_signal_source_new(sigs[i]);
		g_source_set_callback(src_sig, on_signal, &d, NULL);
		g_source_attach(src_sig, d.ctx);
		g_source_unref(src_sig);
	}
	/* let the worker attach every session before the load starts */
	for (int i = 0; i < 50; i++)
		g_main_context_iteration(d.ctx, FALSE), g_usleep(2000);
	printf("ready tid=%ld\n", worker_tid());
	fflush(stdout);
	while (!d.stop)
		g_main_context_iteration(d.ctx, TRUE);

	d.stats_pending = n;
	for (unsigned i = 0; i < n; i++)
		relay_session_stats(d.s[i], on_stats, &d);
	for (int i = 0; i < 5000 && d.stats_pending; i++)
		g_main_context_iteration(d.ctx, TRUE);
	printf("driver sessions=%u in=%" G_GUINT64_FORMAT " out=%" G_GUINT64_FORMAT
	       " dropped=%" G_GUINT64_FORMAT "\n",
	       n, d.sum.ep[0].packets_in, d.sum.ep[0].packets_out, d.sum.ep[0].dropped);
	for (unsigned i = 0; i < n; i++)
		relay_session_free(d.s[i]);
	relay_free(r);
	g_free(d.s);
	while (g_main_context_iteration(d.ctx, FALSE))
		;
	g_main_context_pop_thread_default(d.ctx);
	g_main_context_unref(d.ctx);
	return 0;
}
