/*
 * NAME
 *	reportbench - time tlsrpt-report build on a large store
 * SYNOPSIS
 *	reportbench [-s sessions] [-d domains] [-k] path-to-tlsrpt-report
 * DESCRIPTION
 *	Creates a temporary directory with a configuration file and a store,
 *	fills the store with one UTC day (2026-01-15) of session results
 *	(by default 1,000,000 sessions across 10,000 recipient domains) with
 *	a realistic mix, then runs "tlsrpt-report -c CONF build" with
 *	TLSRPT_NOW pinned to 2026-01-16 02:00:00Z and measures its wall time
 *	and peak RSS (wait4() ru_maxrss).  The target for the default size
 *	is under 5 seconds and under 64 MB.
 *
 *	The mix, decided per domain by its number: 60% publish no policy
 *	(no-policy-found), 30% an MTA-STS policy (enforce or testing, one or
 *	two MX patterns), 10% DANE (TLSA records).  Sessions are spread over
 *	the domains with a long tail: every domain gets at least one, a few
 *	get tens of thousands.  About 5% of the sessions fail, with a result
 *	type that fits the policy, and failure details drawn from several
 *	sending IPs (IPv4 and IPv6), MX names, receiving IPs, HELO strings
 *	and reason codes, so there are many distinct failure shapes.  Every
 *	domain has a TLSRPT record (mailto, some also https), so every report
 *	gets destinations.
 *
 *	Prints the fill time and the row counts, the build's summary line,
 *	then one result line:
 *	  reports=N sessions=N build_seconds=X peak_rss_kb=N
 *	The bench never judges: it exits non-zero only when it could not
 *	set up or the build command itself failed.  -k keeps the directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "session.h"
#include "bench_store.h"
#include "store.h"

#define BENCH_DAY_START 1768435200LL	/* 2026-01-15T00:00:00Z */
#define BENCH_NOW (BENCH_DAY_START + 86400 + 2 * 3600)	/* 2026-01-16T02:00:00Z */
#define MAX_SESSIONS 100000000ULL
#define MAX_DOMAINS 1000000U

/* ---- deterministic randomness ------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned rnd(unsigned n)
{
	return (unsigned)(rng() % n);
}

/* uniform in [0, 1) */
static double rnd01(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the synthetic mail traffic ---------------------------------------- */

enum kind { K_NONE, K_STS, K_TLSA };

static enum kind domain_kind(unsigned d)
{
	unsigned m = d % 10;

	return m < 6 ? K_NONE : m < 9 ? K_STS : K_TLSA;
}

static const char *const sending_ips[] = {
	"192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.25",
	"2001:db8::25", "2001:db8::26", "2001:db8:0:1::25", "2001:db8:0:1::26",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct failure_kind {
	int result_type;
	const char *reason;	/* failure-reason-code, or NULL */
	const char *additional;	/* additional-information, or NULL */
};

static const struct failure_kind none_failures[] = {
	{RESULT_STARTTLS_NOT_SUPPORTED, NULL, NULL},
	{RESULT_STARTTLS_NOT_SUPPORTED, "connection_lost", NULL},
	{RESULT_VALIDATION_FAILURE, "handshake_failure", NULL},
};

static const struct failure_kind sts_failures[] = {
	{RESULT_CERTIFICATE_HOST_MISMATCH, "hostname_mismatch", NULL},
	{RESULT_CERTIFICATE_NOT_TRUSTED, "self_signed_certificate", NULL},
	{RESULT_CERTIFICATE_NOT_TRUSTED, "unable_to_get_local_issuer_certificate", NULL},
	{RESULT_CERTIFICATE_EXPIRED, "certificate_has_expired", NULL},
	{RESULT_STARTTLS_NOT_SUPPORTED, NULL, NULL},
	{RESULT_VALIDATION_FAILURE, "handshake_failure", NULL},
	{RESULT_STS_POLICY_FETCH_ERROR, "http_status_404",
	    "https://mta-sts.example/.well-known/mta-sts.txt"},
	{RESULT_STS_POLICY_INVALID, "missing_version", NULL},
	{RESULT_STS_WEBPKI_INVALID, "certificate_verify_failed", NULL},
};

static const struct failure_kind tlsa_failures[] = {
	{RESULT_TLSA_INVALID, "no_matching_tlsa_record", NULL},
	{RESULT_DNSSEC_INVALID, "bogus_signature", NULL},
	{RESULT_DANE_REQUIRED, "starttls_not_offered", NULL},
	{RESULT_VALIDATION_FAILURE, "handshake_failure", NULL},
	{RESULT_CERTIFICATE_EXPIRED, NULL, NULL},
};

/* Pick a domain for one session: a long tail over all domains. */
static unsigned pick_domain(unsigned ndomains)
{
	double u = rnd01();
	unsigned d;

	/* u^4 piles most sessions on the low numbers; the kinds still mix */
	d = (unsigned)((double)ndomains * u * u * u * u);
	return d < ndomains ? d : ndomains - 1;
}

struct gen {
	char domain[40], record[256], strings[512], mx[160];
	char mx_name[96], helo[128], rip[48];
	struct tlsrpt_failure fail;
	struct tlsrpt_policy_result pol;
	struct tlsrpt_session s;
};

/* Fill g->s with one session to domain d; strings live in g (not owned). */
static void make_session(struct gen *g, unsigned d, long long when)
{
	enum kind k = domain_kind(d);
	const struct failure_kind *fk = NULL;
	unsigned mxn;
	bool testing = (d / 10) % 4 == 3, two_mx = (d / 10) % 3 == 0;

	memset(&g->pol, 0, sizeof(g->pol));
	memset(&g->s, 0, sizeof(g->s));
	snprintf(g->domain, sizeof(g->domain), "d%u.bench-%u.example", d, d % 97);
	if (d % 5 == 0)
		snprintf(g->record, sizeof(g->record), "v=TLSRPTv1; rua=mailto:tlsrpt@%s,"
		    "https://tlsrpt.%s/v1/report", g->domain, g->domain);
	else
		snprintf(g->record, sizeof(g->record), "v=TLSRPTv1; rua=mailto:tlsrpt@%s", g->domain);
	g->s.when = when;
	g->s.domain = g->domain;
	g->s.record = g->record;
	g->s.npolicies = 1;
	g->s.policies = &g->pol;
	mxn = two_mx ? 1 + rnd(2) : 1;

	switch (k) {
	case K_NONE:
		g->pol.type = POLICY_NONE;
		g->pol.policy_domain = g->domain;
		g->pol.policy_strings = (char *)"[]";
		g->pol.mx_hosts = (char *)"[]";
		break;
	case K_STS:
		g->pol.type = POLICY_STS;
		g->pol.policy_domain = g->domain;
		if (two_mx) {
			snprintf(g->strings, sizeof(g->strings), "[\"version: STSv1\",\"mode: %s\","
			    "\"mx: mx1.%s\",\"mx: *.backup.%s\",\"max_age: 604800\"]",
			    testing ? "testing" : "enforce", g->domain, g->domain);
			snprintf(g->mx, sizeof(g->mx), "[\"mx1.%s\",\"*.backup.%s\"]", g->domain,
			    g->domain);
		} else {
			snprintf(g->strings, sizeof(g->strings), "[\"version: STSv1\",\"mode: %s\","
			    "\"mx: mx1.%s\",\"max_age: 86400\"]", testing ? "testing" : "enforce",
			    g->domain);
			snprintf(g->mx, sizeof(g->mx), "[\"mx1.%s\"]", g->domain);
		}
		g->pol.policy_strings = g->strings;
		g->pol.mx_hosts = g->mx;
		break;
	case K_TLSA:
		g->pol.type = POLICY_TLSA;
		/* one policy per MX: the TLSA records of the MX the session went to */
		g->pol.policy_domain = g->domain;
		snprintf(g->strings, sizeof(g->strings),
		    "[\"3 1 1 %016llX0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB\","
		    "\"2 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\"]",
		    (unsigned long long)(d * 2 + mxn) * 0x9e3779b97f4aULL);
		g->pol.policy_strings = g->strings;
		g->pol.mx_hosts = (char *)"[]";
		break;
	}

	/* about 5% fail */
	if (rnd(1000) >= 50)
		return;
	g->pol.failed = true;
	switch (k) {
	case K_NONE: fk = &none_failures[rnd(NELEM(none_failures))]; break;
	case K_STS: fk = &sts_failures[rnd(NELEM(sts_failures))]; break;
	case K_TLSA: fk = &tlsa_failures[rnd(NELEM(tlsa_failures))]; break;
	}
	memset(&g->fail, 0, sizeof(g->fail));
	g->fail.result_type = fk->result_type;
	g->fail.sending_ip = (char *)sending_ips[rnd(NELEM(sending_ips))];
	/* policy fetch problems happen before any MX is contacted */
	if (fk->result_type < RESULT_STS_POLICY_FETCH_ERROR ||
	    fk->result_type > RESULT_STS_WEBPKI_INVALID) {
		snprintf(g->mx_name, sizeof(g->mx_name), "mx%u.%s", mxn, g->domain);
		g->fail.mx_name = g->mx_name;
		if (rnd(4) != 0) {
			snprintf(g->helo, sizeof(g->helo), "mx%u.%s", mxn, g->domain);
			g->fail.helo = g->helo;
		}
		if (rnd(2))
			snprintf(g->rip, sizeof(g->rip), "203.0.%u.%u", (d >> 8) & 255,
			    (d + mxn) & 255);
		else
			snprintf(g->rip, sizeof(g->rip), "2001:db8:%x::%x", d & 0xffff, mxn);
		g->fail.receiving_ip = g->rip;
	}
	g->fail.reason = (char *)fk->reason;
	g->fail.additional = (char *)fk->additional;
	g->pol.nfailures = 1;
	g->pol.failures = &g->fail;
}

/* ---- helpers ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static long long count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void print_counts(const char *store_path)
{
	static const struct {
		const char *what, *sql;
	} q[] = {
		{"policy_day", "SELECT count(*) FROM policy_day"},
		{"failure_day", "SELECT count(*) FROM failure_day"},
		{"tlsrpt_record", "SELECT count(*) FROM tlsrpt_record"},
		{"sessions", "SELECT sum(successes) + sum(failures) FROM policy_day"},
		{"failed_sessions", "SELECT sum(failures) FROM policy_day"},
	};
	sqlite3 *db;

	if (sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "reportbench: cannot open %s to count rows\n", store_path);
		sqlite3_close(db);
		return;
	}
	printf("store rows:");
	for (size_t i = 0; i < NELEM(q); i++)
		printf(" %s=%lld", q[i].what, count_rows(db, q[i].sql));
	printf("\n");
	sqlite3_close(db);
}

static int write_conf(const char *path, const char *store_path)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	fprintf(fp, "organization_name \"tlsrpt-milter reportbench\"\n"
	    "contact_info mailto:tlsrpt@bench.example\n"
	    "store_path %s\n", store_path);
	return fclose(fp) == 0 ? 0 : -1;
}

/* The last line of a file (at most 4 KB from its end) into buf. */
static void last_line(const char *path, char *buf, size_t len)
{
	char tail[4096];
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	long size;
	char *p;

	buf[0] = '\0';
	if (fp == NULL)
		return;
	if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) > 0) {
		if (fseek(fp, size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0,
		    SEEK_SET) == 0)
			n = fread(tail, 1, sizeof(tail) - 1, fp);
	}
	fclose(fp);
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		tail[--n] = '\0';
	p = strrchr(tail, '\n');
	snprintf(buf, len, "%s", p ? p + 1 : tail);
}

/* ---- fill, build, measure ------------------------------------------------ */

struct fill_ctx {
	struct gen g;
	unsigned long long n, failed;
	unsigned ndomains;
};

static const struct tlsrpt_session *next_session(void *arg, unsigned long long i)
{
	struct fill_ctx *f = arg;
	/* the first ndomains sessions give every domain one; the rest follow the tail */
	unsigned d = i < f->ndomains ? (unsigned)i : pick_domain(f->ndomains);

	make_session(&f->g, d, BENCH_DAY_START + (long long)(i * 86399ULL / f->n));
	f->failed += f->g.pol.failed;
	return &f->g.s;
}

static int fill(const char *store_path, unsigned long long nsessions, unsigned ndomains)
{
	static struct fill_ctx f;
	unsigned long long commits;
	double t0 = now_mono();

	f.n = nsessions;
	f.ndomains = ndomains;
	if (bench_fill("reportbench", store_path, nsessions, next_session, &f, &commits) != 0)
		return -1;
	printf("fill: %llu sessions (%llu failed) across %u domains in %llu commits, %.2f s\n",
	    nsessions, f.failed, ndomains, commits, now_mono() - t0);
	return 0;
}

/*
 * The child that runs tlsrpt-report is forked before the store is filled
 * and waits for one byte on a pipe: ru_maxrss counts the memory a child
 * had before exec, so a child forked after the fill would report the
 * bench's own memory instead of the build's.  EOF means "do not run".
 */
static pid_t launcher_start(const char *prog, const char *conf, const char *out,
    const char *errf, int *go_fd)
{
	char now[32], c;
	int pfd[2], fd;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd) != 0)
		return -1;
	snprintf(now, sizeof(now), "%lld", BENCH_NOW);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pfd[1]);
		while ((n = read(pfd[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1)
			_exit(0);
		close(pfd[0]);
		setenv("TLSRPT_NOW", now, 1);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		close(fd);
		fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		close(fd);
		execl(prog, prog, "-c", conf, "build", (char *)NULL);
		dprintf(2, "cannot execute %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(pfd[0]);
	*go_fd = pfd[1];
	return pid;
}

static int reap(pid_t pid, int *status, struct rusage *ru)
{
	memset(ru, 0, sizeof(*ru));
	while (wait4(pid, status, 0, ru) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long nsessions = 1000000, v;
	unsigned ndomains = 10000, built = 0;
	bool keep = false;
	char dir[] = "/tmp/tlsrpt-reportbench.XXXXXX";
	char conf[256], store[256], out[256], errf[256], line[512];
	struct rusage ru;
	double t0, secs;
	pid_t pid;
	int opt, status, go_fd = -1, ret = 0;
	char *end;

	while ((opt = getopt(argc, argv, "s:d:k")) != -1) {
		switch (opt) {
		case 's':
		case 'd':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || v == 0 ||
			    v > (opt == 's' ? MAX_SESSIONS : (unsigned long long)MAX_DOMAINS))
				goto usage;
			if (opt == 's')
				nsessions = v;
			else
				ndomains = (unsigned)v;
			break;
		case 'k':
			keep = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind + 1 != argc || ndomains > nsessions)
		goto usage;

	if (mkdtemp(dir) == NULL) {
		perror("reportbench: mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/tlsrpt.conf", dir);
	snprintf(store, sizeof(store), "%s/tlsrpt.db", dir);
	snprintf(out, sizeof(out), "%s/build.out", dir);
	snprintf(errf, sizeof(errf), "%s/build.err", dir);
	printf("tlsrpt-report build benchmark: %llu sessions, %u domains, day 2026-01-15, "
	    "%ld cores\n", nsessions, ndomains, sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	pid = launcher_start(argv[optind], conf, out, errf, &go_fd);
	if (pid < 0) {
		perror("reportbench: fork");
		ret = 1;
		goto done;
	}
	if (write_conf(conf, store) != 0) {
		fprintf(stderr, "reportbench: cannot write %s: %s\n", conf, strerror(errno));
		ret = 1;
	} else if (fill(store, nsessions, ndomains) != 0) {
		ret = 1;
	}
	if (ret != 0) {
		close(go_fd);	/* the launcher exits without running anything */
		reap(pid, &status, &ru);
		goto done;
	}
	print_counts(store);
	fflush(stdout);

	t0 = now_mono();
	if (write(go_fd, "g", 1) != 1) {
		perror("reportbench: starting the build");
		close(go_fd);
		reap(pid, &status, &ru);
		ret = 1;
		goto done;
	}
	close(go_fd);
	if (reap(pid, &status, &ru) != 0) {
		perror("reportbench: wait4");
		ret = 1;
		goto done;
	}
	secs = now_mono() - t0;
	last_line(out, line, sizeof(line));
	printf("build: %s\n", *line ? line : "(no output)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		last_line(errf, line, sizeof(line));
		fprintf(stderr, "reportbench: %s build failed (%s %d): %s\n", argv[optind],
		    WIFEXITED(status) ? "exit" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), line);
		ret = 1;
	} else if (sscanf(line, "%u built, ", &built) != 1 || built != ndomains) {
		printf("note: expected \"%u built\" in the build's summary\n", ndomains);
	}
	printf("reports=%u sessions=%llu build_seconds=%.2f peak_rss_kb=%ld\n", built,
	    nsessions, secs, ru.ru_maxrss);
done:
	if (keep)
		printf("kept %s\n", dir);
	else
		rm_tree(dir);
	return ret;
usage:
	fprintf(stderr, "usage: reportbench [-s sessions] [-d domains (<= sessions)] [-k] "
	    "path-to-tlsrpt-report\n");
	return 2;
}
