/*
 * NAME
 *	tlsrpt-report - build, audit (and later submit) RFC 8460 reports
 * SYNOPSIS
 *	tlsrpt-report [-c file] [--json] command [options]
 * DESCRIPTION
 *	One table of subcommands drives dispatch and --help.  Every command
 *	opens the store named by the configuration; listings print a table,
 *	or JSON with --json.  Exit codes are from sysexits.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/file.h>
#include <unistd.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "conf.h"
#include "deliver.h"
#include "discover.h"
#include "log.h"
#include "mta_sts.h"
#include "output.h"
#include "report_json.h"
#include "session.h"
#include "store.h"
#include "tlsrpt_record.h"
#include "util.h"

struct ctx {
	struct tlsrpt_conf conf;
	struct store *store;
	char *submitter;
	bool json;
	long long now;
};

struct command {
	const char *name;
	int (*run)(struct ctx *c, int argc, char **argv);
	const char *args;
	const char *help;
};

static int cmd_build(struct ctx *c, int argc, char **argv);
static int cmd_preview(struct ctx *c, int argc, char **argv);
static int cmd_list(struct ctx *c, int argc, char **argv);
static int cmd_show(struct ctx *c, int argc, char **argv);
static int cmd_pending(struct ctx *c, int argc, char **argv);
static int cmd_stats(struct ctx *c, int argc, char **argv);
static int cmd_purge(struct ctx *c, int argc, char **argv);
static int cmd_run(struct ctx *c, int argc, char **argv);
static int cmd_retry(struct ctx *c, int argc, char **argv);
static int cmd_policy(struct ctx *c, int argc, char **argv);

static const struct command commands[] = {
	{"run", cmd_run, "",
	    "the daily job: build finished days, submit what is due, retry what failed"},
	{"retry", cmd_retry, "[REPORT-ID]",
	    "submit now what failed (of one report, or of all), whatever its next try"},
	{"build", cmd_build, "[--day YYYY-MM-DD] [--domain DOMAIN]",
	    "build the reports of finished UTC days not built yet (or rebuild one day)"},
	{"preview", cmd_preview, "DOMAIN [--day YYYY-MM-DD] [--pretty]",
	    "print the report that would be built now, today included; stores nothing"},
	{"list", cmd_list, "[--day YYYY-MM-DD] [--domain DOMAIN] [--state STATE]",
	    "reports with the state of each destination"},
	{"show", cmd_show, "REPORT-ID [--pretty]",
	    "the exact JSON of a report and its delivery history"},
	{"pending", cmd_pending, "",
	    "deliveries not done yet, with next try and last error"},
	{"stats", cmd_stats, "[--days N]",
	    "sessions and failures per day, failures by result type, top failing domains"},
	{"policy", cmd_policy, "DOMAIN [--fetch | --refresh]",
	    "the cached MTA-STS policy of a domain; fetch it now, or refresh it as the cache would"},
	{"purge", cmd_purge, "",
	    "delete data and reports older than retention_days"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tlsrpt-report [-c file] [--json] command [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-8s %s\n           %s\n", commands[i].name, commands[i].args,
		    commands[i].help);
	fprintf(fp, "\noptions:\n"
	    "  -c file    configuration file (default %s)\n"
	    "  --json     listings as JSON\n"
	    "  -V         version\n"
	    "  -h, --help this help\n", conf_default_path());
}

static void today(long long now, char day[11])
{
	utc_day(now, day);
}

/* The submitter domain: configured, or the domain of contact_info's address. */
static char *submitter_domain(const struct tlsrpt_conf *conf)
{
	const char *src = conf->submitter_domain, *at;
	char *d;
	size_t n;

	if (*src == '\0') {
		at = strrchr(conf->contact_info, '@');
		if (at == NULL || strncasecmp(conf->contact_info, "http", 4) == 0)
			return NULL;
		src = at + 1;
	}
	n = strcspn(src, "> \t");
	d = xstrndup(src, n);
	if (!domain_normalise(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static bool day_arg(const char *s, char out[11])
{
	long long t;

	if (!report_day_start(s, &t))
		return false;
	memcpy(out, s, 11);
	return true;
}

/* A day is finished once its end plus the grace period has passed. */
static bool day_finished(const struct ctx *c, const char *day)
{
	long long start;

	return report_day_start(day, &start) &&
	    c->now >= start + 86400 + c->conf.report_grace_period_ms / 1000;
}

/* ---- build / preview -------------------------------------------------- */

struct built {
	char *json;
	unsigned char *gz;
	size_t gzlen;
	size_t npolicies;
	char report_id[512];
	struct report_data rd;
};

static int build_one(struct ctx *c, const char *day, const char *domain, bool pretty,
    struct built *b, char *err, size_t errlen)
{
	struct report_meta meta;

	memset(b, 0, sizeof(*b));
	if (store_load_report_data(c->store, day, domain, &b->rd, err, errlen) != 0)
		return EX_SOFTWARE;
	if (b->rd.npolicies == 0) {
		snprintf(err, errlen, "no sessions recorded for %s on %s", domain, day);
		report_data_free(&b->rd);
		return EX_NOINPUT;
	}
	report_id_make(b->report_id, sizeof(b->report_id), day, domain, c->submitter);
	meta.organization_name = c->conf.organization_name;
	meta.contact_info = c->conf.contact_info;
	meta.report_id = b->report_id;
	b->json = report_json_build(&meta, &b->rd, pretty, err, errlen);
	b->npolicies = b->rd.npolicies;
	if (b->json == NULL) {
		report_data_free(&b->rd);
		return EX_DATAERR;
	}
	return EX_OK;
}

static void built_free(struct built *b)
{
	free(b->json);
	free(b->gz);
	report_data_free(&b->rd);
}

struct build_run {
	struct ctx *c;
	struct table *out;
	int rc;
	unsigned built, replaced, immutable, failed;
};

static void build_and_store(void *arg, const char *day, const char *domain)
{
	struct build_run *br = arg;
	struct ctx *c = br->c;
	struct tlsrpt_record rec = {0, NULL};
	const char **dests = NULL;
	struct report_put rp;
	enum report_put_result res;
	char err[512], note[600] = "", ndest[24], npol[24];
	const char *status, *values[6];
	static const char *const names[] = {"report_id", "day", "domain", "policies",
	    "destinations", "status"};
	struct built b;
	int rc;

	rc = build_one(c, day, domain, false, &b, err, sizeof(err));
	if (rc != EX_OK) {
		fprintf(stderr, "tlsrpt-report: %s %s: %s\n", day, domain, err);
		br->failed++;
		br->rc = rc;
		return;
	}
	if (report_gzip(b.json, strlen(b.json), &b.gz, &b.gzlen) != 0) {
		fprintf(stderr, "tlsrpt-report: %s %s: gzip failed\n", day, domain);
		br->failed++;
		br->rc = EX_SOFTWARE;
		built_free(&b);
		return;
	}
	if (b.rd.record == NULL)
		snprintf(note, sizeof(note), "no TLSRPT record seen by the MTA");
	else if (tlsrpt_record_parse(b.rd.record, &rec, err, sizeof(err)) != 0)
		snprintf(note, sizeof(note), "invalid TLSRPT record: %s", err);
	else {
		dests = xcalloc(rec.nrua ? rec.nrua : 1, sizeof(*dests));
		for (size_t i = 0; i < rec.nrua; i++)
			dests[i] = rec.rua[i].uri;
	}
	memset(&rp, 0, sizeof(rp));
	rp.day = day;
	rp.domain = domain;
	rp.report_id = b.report_id;
	rp.json = b.json;
	rp.gzip = b.gz;
	rp.gzip_len = b.gzlen;
	rp.record = b.rd.record;
	rp.note = *note ? note : NULL;
	rp.destinations = dests;
	rp.ndestinations = dests ? rec.nrua : 0;
	rp.now = c->now;
	if (store_report_put(c->store, &rp, &res, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		br->failed++;
		br->rc = EX_SOFTWARE;
		status = "error";
	} else if (res == REPORT_IMMUTABLE) {
		br->immutable++;
		status = "unchanged (already sent)";
	} else if (res == REPORT_REPLACED) {
		br->replaced++;
		status = "rebuilt";
	} else {
		br->built++;
		status = "built";
	}
	snprintf(npol, sizeof(npol), "%zu", b.npolicies);
	snprintf(ndest, sizeof(ndest), "%zu", rp.ndestinations);
	values[0] = b.report_id;
	values[1] = day;
	values[2] = domain;
	values[3] = npol;
	values[4] = ndest;
	values[5] = *note ? note : status;
	if (*note && strcmp(status, "built") != 0)
		values[5] = status;
	table_add_row(br->out, 6, names, values);
	free(dests);
	tlsrpt_record_free(&rec);
	built_free(&b);
}

static int cmd_build(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"day", required_argument, NULL, 'd'},
		{"domain", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	struct build_run br = {c, table_new(), EX_OK, 0, 0, 0, 0};
	char day[11] = "", first_unfinished[11], err[1024];
	char *domain = NULL;
	long long n;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'd' && day_arg(optarg, day))
			continue;
		if (o == 'D') {
			free(domain);
			domain = xstrdup(optarg);
			if (domain_normalise(domain))
				continue;
		}
		fprintf(stderr, "tlsrpt-report build: bad option or value%s%s\n",
		    optarg ? ": " : "", optarg ? optarg : "");
		free(domain);
		table_free(br.out);
		return EX_USAGE;
	}
	if (*day) {
		if (!day_finished(c, day)) {
			fprintf(stderr, "tlsrpt-report: %s is not finished yet (report_grace_period "
			    "after its end); use preview to see it now\n", day);
			free(domain);
			table_free(br.out);
			return EX_DATAERR;
		}
		/* an explicit day rebuilds what is there, unless already sent */
		n = store_each_domain_of_day(c->store, day, domain, build_and_store, &br, err, sizeof(err));
	} else {
		/* the first day that is not finished: today, or yesterday within the grace
		 * period.  A day D is finished when now >= start(D) + 86400 + grace, so the
		 * last finished day is the one holding now - 86400 - grace (day_finished()). */
		today(c->now - c->conf.report_grace_period_ms / 1000 - 86400, first_unfinished);
		{
			long long t;

			report_day_start(first_unfinished, &t);
			utc_day(t + 86400, first_unfinished);
		}
		n = store_each_unbuilt(c->store, first_unfinished, NULL, domain, build_and_store, &br,
		    err, sizeof(err));
	}
	free(domain);
	if (n < 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		table_free(br.out);
		return EX_SOFTWARE;
	}
	table_print(br.out, stdout, c->json, NULL);
	if (!c->json)
		printf("%u built, %u rebuilt, %u unchanged (already sent), %u failed\n",
		    br.built, br.replaced, br.immutable, br.failed);
	log_msg(LOG_INFO, "build built=%u rebuilt=%u unchanged=%u failed=%u", br.built,
	    br.replaced, br.immutable, br.failed);
	table_free(br.out);
	return br.rc;
}

static int cmd_preview(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"day", required_argument, NULL, 'd'},
		{"pretty", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	char day[11], err[1024];
	bool pretty = false;
	struct built b;
	char *domain;
	int o, rc;

	today(c->now, day);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'd' && day_arg(optarg, day))
			continue;
		if (o == 'p') {
			pretty = true;
			continue;
		}
		fprintf(stderr, "tlsrpt-report preview: bad option or value\n");
		return EX_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: tlsrpt-report preview DOMAIN [--day YYYY-MM-DD] [--pretty]\n");
		return EX_USAGE;
	}
	domain = xstrdup(argv[optind]);
	if (!domain_normalise(domain)) {
		fprintf(stderr, "tlsrpt-report: not a domain name: %s\n", argv[optind]);
		free(domain);
		return EX_USAGE;
	}
	rc = build_one(c, day, domain, pretty, &b, err, sizeof(err));
	free(domain);
	if (rc != EX_OK) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		return rc;
	}
	printf("%s\n", b.json);
	built_free(&b);
	return EX_OK;
}

/* ---- listings ---------------------------------------------------------- */

static int listing(struct ctx *c, const char *query, const char *const *params, size_t n,
    const char *title)
{
	struct table *t = table_new();
	char err[1024];
	long long rows;

	rows = store_query(c->store, query, params, n, table_add_row, t, err, sizeof(err));
	if (rows < 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		table_free(t);
		return EX_SOFTWARE;
	}
	table_print(t, stdout, c->json, title);
	table_free(t);
	return EX_OK;
}

static int cmd_list(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"day", required_argument, NULL, 'd'},
		{"domain", required_argument, NULL, 'D'},
		{"state", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	static const char *const states[] = {"pending", "sent", "failed-temporary",
	    "failed-permanent", "gave-up", "no-destination"};
	const char *params[3] = {NULL, NULL, NULL};
	char day[11];
	bool ok;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		ok = false;
		if (o == 'd' && day_arg(optarg, day)) {
			params[0] = day;
			ok = true;
		} else if (o == 'D') {
			params[1] = optarg;
			ok = true;
		} else if (o == 's') {
			for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
				if (strcmp(optarg, states[i]) == 0)
					ok = true;
			params[2] = optarg;
		}
		if (!ok) {
			fprintf(stderr, "tlsrpt-report list: bad option or value (states: pending, "
			    "sent, failed-temporary, failed-permanent, gave-up, no-destination)\n");
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: tlsrpt-report list [--day YYYY-MM-DD] [--domain DOMAIN] "
		    "[--state STATE]\n");
		return EX_USAGE;
	}
	return listing(c, "list", params, 3, NULL);
}

static int cmd_show(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"pretty", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	struct table *t;
	bool pretty = false;
	char err[1024];
	char *json;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'p') {
			fprintf(stderr, "usage: tlsrpt-report show REPORT-ID [--pretty]\n");
			return EX_USAGE;
		}
		pretty = true;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: tlsrpt-report show REPORT-ID [--pretty]\n");
		return EX_USAGE;
	}
	json = store_report_json(c->store, argv[optind], err, sizeof(err));
	if (json == NULL) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		return strncmp(err, "no report", 9) == 0 ? EX_NOINPUT : EX_SOFTWARE;
	}
	if (pretty || c->json) {
		json_error_t je;
		json_t *root = json_loads(json, 0, &je);
		char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

		if (c->json) {
			/* one JSON document: the report and its deliveries */
			t = table_new();
			int rc = EX_OK;

			if (store_query(c->store, "deliveries", (const char *const *)&argv[optind], 1,
			    table_add_row, t, err, sizeof(err)) >= 0) {
				printf("{\"report\": %s,\n\"deliveries\": ", text ? text : json);
				table_print(t, stdout, true, NULL);
				printf("}\n");
			} else {
				fprintf(stderr, "tlsrpt-report: %s\n", err);
				rc = EX_SOFTWARE;
			}
			table_free(t);
			free(text);
			json_decref(root);
			free(json);
			return rc;
		}
		printf("%s\n", text ? text : json);
		free(text);
		json_decref(root);
	} else {
		printf("%s\n", json);
	}
	free(json);
	printf("\n");
	return listing(c, "deliveries", (const char *const *)&argv[optind], 1, "deliveries:");
}

static int cmd_pending(struct ctx *c, int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tlsrpt-report pending\n");
		return EX_USAGE;
	}
	return listing(c, "pending", NULL, 0, NULL);
}

/* stats-results rows carry result codes; show the RFC names. */
static int name_results(void *arg, int ncol, const char *const *names, const char *const *values)
{
	const char *v[16];
	uint64_t code;

	for (int i = 0; i < ncol && i < 16; i++) {
		v[i] = values[i];
		if (strcmp(names[i], "result_type") == 0 && values[i] && parse_u64(values[i], &code) &&
		    result_type_name((int)code))
			v[i] = result_type_name((int)code);
	}
	return table_add_row(arg, ncol, names, v);
}

static int cmd_stats(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"days", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	static const char *const sections[][2] = {
		{"stats-days", "sessions per UTC day:"},
		{"stats-results", "failed sessions by result type:"},
		{"stats-domains", "domains with the most failed sessions:"},
		{"stats-inputs", "input counters (received, accepted, rejected by reason):"},
		{"stats-coverage", "hook coverage: domains the milter saw mail for against domains "
		    "with recorded sessions:"},
		{"stats-coverage-gaps", "domains with messages but no recorded session (is the "
		    "MTA's hook wired? mail still queued?):"},
	};
	enum { NSECTIONS = sizeof(sections) / sizeof(sections[0]) };
	struct table *t[NSECTIONS];
	const char *param[1];
	uint64_t days = 7;
	char first[11], err[1024];
	int o, rc = EX_OK;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n' && parse_u64(optarg, &days) && days >= 1 && days <= 3650)
			continue;
		fprintf(stderr, "usage: tlsrpt-report stats [--days N]   (N from 1 to 3650)\n");
		return EX_USAGE;
	}
	today(c->now - (long long)(days - 1) * 86400, first);
	param[0] = first;
	for (int i = 0; i < NSECTIONS; i++) {
		t[i] = table_new();
		if (store_query(c->store, sections[i][0], param, 1,
		    i == 1 ? name_results : table_add_row, t[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "tlsrpt-report: %s\n", err);
			rc = EX_SOFTWARE;
		}
	}
	if (rc == EX_OK && c->json) {
		printf("{\"since\": \"%s\"", first);
		for (int i = 0; i < NSECTIONS; i++) {
			printf(",\n\"%s\": ", sections[i][0] + 6);
			table_print(t[i], stdout, true, NULL);
		}
		printf("}\n");
	} else if (rc == EX_OK) {
		printf("since %s (UTC)\n\n", first);
		for (int i = 0; i < NSECTIONS; i++) {
			table_print(t[i], stdout, false, sections[i][1]);
			printf("\n");
		}
	}
	for (int i = 0; i < NSECTIONS; i++)
		table_free(t[i]);
	return rc;
}

static int cmd_purge(struct ctx *c, int argc, char **argv)
{
	char cutoff[11], err[1024];
	long long n;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tlsrpt-report purge\n");
		return EX_USAGE;
	}
	today(c->now - c->conf.retention_days * 86400, cutoff);
	n = store_purge_before(c->store, cutoff, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		return EX_SOFTWARE;
	}
	if (c->json)
		printf("{\"before\": \"%s\", \"rows_deleted\": %lld}\n", cutoff, n);
	else
		printf("purged %lld rows of days before %s (retention_days %lld)\n", n, cutoff,
		    c->conf.retention_days);
	log_msg(LOG_INFO, "purge before=%s rows=%lld", cutoff, n);
	return EX_OK;
}

/* ---- policy: the MTA-STS cache ------------------------------------------ */

/* "YYYY-MM-DDThh:mm:ssZ", or NULL for 0 (never). */
static const char *iso_time(long long t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return NULL;
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static json_t *json_time(long long t)
{
	char buf[32];
	const char *s = iso_time(t, buf);

	return s ? json_string(s) : json_null();
}

/* The policy lines or the mx patterns as a JSON array. */
static json_t *json_lines(const struct sts_policy *p, bool mx)
{
	char *text = mx ? sts_mx_json(p) : sts_policy_strings_json(p);
	json_t *a = json_loads(text, 0, NULL);

	free(text);
	return a ? a : json_array();
}

static void print_policy_json(const struct sts_cached *r)
{
	bool held = r->policy.text != NULL;
	json_t *o = json_object();
	char *text;

	json_object_set_new(o, "domain", json_string(r->domain));
	json_object_set_new(o, "status", json_string(sts_status_name(r->status)));
	json_object_set_new(o, "id", *r->id ? json_string(r->id) : json_null());
	json_object_set_new(o, "mode", held ? json_string(sts_mode_name(r->policy.mode)) : json_null());
	json_object_set_new(o, "max_age", held ? json_integer(r->policy.max_age) : json_null());
	json_object_set_new(o, "mx", json_lines(&r->policy, true));
	json_object_set_new(o, "fetched", json_time(r->fetched));
	json_object_set_new(o, "expires", json_time(r->expires));
	json_object_set_new(o, "checked", json_time(r->checked));
	json_object_set_new(o, "next_try", json_time(r->next_try));
	json_object_set_new(o, "error", *r->error ? json_string(r->error) : json_null());
	json_object_set_new(o, "policy", json_lines(&r->policy, false));
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(o);
}

static void print_policy_text(const struct sts_cached *r)
{
	static const char *const names[] = {"fetched", "expires", "checked", "next_try"};
	const long long times[] = {r->fetched, r->expires, r->checked, r->next_try};
	bool held = r->policy.text != NULL;
	char buf[32];

	printf("domain:   %s\nstatus:   %s\nid:       %s\n", r->domain, sts_status_name(r->status),
	    *r->id ? r->id : "-");
	printf("mode:     %s\n", held ? sts_mode_name(r->policy.mode) : "-");
	if (held)
		printf("max_age:  %lld\n", r->policy.max_age);
	else
		printf("max_age:  -\n");
	printf("mx:      ");
	for (size_t i = 0; i < r->policy.nmx; i++)
		printf(" %s", r->policy.mx[i]);
	printf("%s\n", r->policy.nmx ? "" : " -");
	for (size_t i = 0; i < 4; i++) {
		const char *t = iso_time(times[i], buf);

		printf("%s:%*s%s\n", names[i], (int)(9 - strlen(names[i])), "", t ? t : "-");
	}
	printf("error:    %s\n", *r->error ? r->error : "-");
	printf("policy:%s\n", held ? "" : "   -");
	for (const char *l = held ? r->policy.text : ""; *l;) {
		size_t n = strcspn(l, "\n");

		printf("  %.*s\n", (int)n, l);
		l += n + (l[n] == '\n');
	}
}

/* Discover now (fetch) or as the cache would (refresh); store the row. */
static int policy_update(struct ctx *c, struct sts_cached *row, bool found, bool full)
{
	struct sts_fetch_opts o;
	struct sts_result r;
	char err[1024];

	memset(&o, 0, sizeof(o));
	o.resolver = *c->conf.resolver ? c->conf.resolver : NULL;
	o.ca_file = *c->conf.https_ca_file ? c->conf.https_ca_file : NULL;
	o.allow_private = c->conf.https_allow_private != 0;
	o.timeout_ms = (long)c->conf.sts_fetch_timeout_ms;
	o.max_size = (size_t)c->conf.sts_max_policy_size;
	if (full)
		sts_discover(row->domain, &o, &r);
	else
		sts_refresh(row->domain, found ? row : NULL, &o, &r, c->now);
	sts_cache_update(row, &r, c->now);
	log_msg(LOG_INFO, "sts-%s domain=%s result=%s%s status=%s error=\"%s\"",
	    full ? "fetch" : "refresh", row->domain, sts_status_name(r.status),
	    r.unchanged ? " (id unchanged)" : "", sts_status_name(row->status), r.error);
	sts_result_free(&r);
	if (store_sts_put(c->store, row, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		return EX_SOFTWARE;
	}
	return EX_OK;
}

static int cmd_policy(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"fetch", no_argument, NULL, 'f'},
		{"refresh", no_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	struct sts_cached row;
	char domain[256];
	int o, mode = 0, found, rc = EX_OK;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((o == 'f' || o == 'r') && (mode == 0 || mode == o)) {
			mode = o;
			continue;
		}
		mode = -1;
		break;
	}
	if (mode == -1 || optind + 1 != argc || strlen(argv[optind]) >= sizeof(domain)) {
		fprintf(stderr, "usage: tlsrpt-report policy DOMAIN [--fetch | --refresh]\n");
		return EX_USAGE;
	}
	strcpy(domain, argv[optind]);
	if (!domain_normalise(domain)) {
		fprintf(stderr, "tlsrpt-report: not a domain name: %s\n", argv[optind]);
		return EX_USAGE;
	}
	found = store_sts_get(c->store, domain, &row);
	if (found < 0) {
		fprintf(stderr, "tlsrpt-report: cannot read the MTA-STS cache row of %s from %s\n",
		    domain, c->conf.store_path);
		return EX_SOFTWARE;
	}
	if (mode == 0 && found == 0) {
		fprintf(stderr, "tlsrpt-report: no cached MTA-STS policy for %s "
		    "(policy %s --fetch looks it up now)\n", domain, domain);
		return EX_NOINPUT;
	}
	if (mode != 0)
		rc = policy_update(c, &row, found == 1, mode == 'f');
	if (rc == EX_OK && c->json)
		print_policy_json(&row);
	else if (rc == EX_OK)
		print_policy_text(&row);
	sts_cached_free(&row);
	return rc;
}

/* ---- submission -------------------------------------------------------- */

/* One run at a time: a lock file beside the store, held until exit. */
static int take_run_lock(struct ctx *c)
{
	struct strbuf path;
	int fd;

	strbuf_init(&path);
	strbuf_printf(&path, "%s.run-lock", c->conf.store_path);
	/* read-only is enough for flock, and lets a root-made lock file serve _tlsrpt */
	fd = open(path.data, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "tlsrpt-report: cannot open %s: %s\n", path.data, strerror(errno));
		strbuf_free(&path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "tlsrpt-report: another run is in progress (%s is locked)\n", path.data);
		close(fd);
		strbuf_free(&path);
		return -1;
	}
	strbuf_free(&path);
	return fd;	/* closed at exit, which releases the lock */
}

static int deliver_and_report(struct ctx *c, const char *report_id, const char *what)
{
	struct deliver_totals t = {0, 0, 0, 0, 0};
	struct table *out = table_new();
	char err[1024];

	int drc = deliver_due(c->store, &c->conf, c->submitter, c->now, report_id, out, &t, err,
	    sizeof(err));

	if (drc != 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		table_free(out);
		return drc == -1 ? EX_CONFIG : EX_SOFTWARE;
	}
	table_print(out, stdout, c->json, NULL);
	if (!c->json && t.deferred)
		printf("%u report mails deferred to the next run: the sendmail command timed out\n",
		    t.deferred);
	if (!c->json)
		printf("%u sent, %u failed (will retry), %u failed permanently, %u given up\n",
		    t.sent, t.temporary, t.permanent, t.gave_up);
	log_msg(LOG_NOTICE, "%s sent=%u failed_temporary=%u failed_permanent=%u gave_up=%u "
	    "deferred=%u", what, t.sent, t.temporary, t.permanent, t.gave_up, t.deferred);
	table_free(out);
	return EX_OK;
}

static int cmd_run(struct ctx *c, int argc, char **argv)
{
	char *build_argv[] = {argv[0], NULL};
	int rc, lock;

	if (argc > 1) {
		fprintf(stderr, "usage: tlsrpt-report run\n");
		return EX_USAGE;
	}
	if ((lock = take_run_lock(c)) < 0)
		return EX_TEMPFAIL;
	optind = 0;
	/* a report that failed to build never holds back the submission of the rest */
	rc = cmd_build(c, 1, build_argv);
	{
		struct discover_totals dt;
		char err[1024];
		int drc;

		/* reports the MTA passed no record for get theirs from the DNS */
		if (discover_destinations(c->store, &c->conf, &dt, err, sizeof(err)) != 0) {
			fprintf(stderr, "tlsrpt-report: %s (submitting the rest)\n", err);
			rc = EX_SOFTWARE;
		} else if ((dt.found || dt.none || dt.temporary) && !c->json) {
			printf("looked up %u TLSRPT records: %u found, %u without, %u to retry\n",
			    dt.found + dt.none + dt.temporary, dt.found, dt.none, dt.temporary);
		}
		drc = deliver_and_report(c, NULL, "run");
		if (drc != EX_OK)
			rc = drc;
	}
	close(lock);
	return rc;
}

static int cmd_retry(struct ctx *c, int argc, char **argv)
{
	const char *id = argc > 1 ? argv[1] : NULL;
	char err[1024];
	long long n;
	int rc, lock;

	if (argc > 2) {
		fprintf(stderr, "usage: tlsrpt-report retry [REPORT-ID]\n");
		return EX_USAGE;
	}
	if ((lock = take_run_lock(c)) < 0)
		return EX_TEMPFAIL;
	n = store_retry_now(c->store, id, c->now, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		close(lock);
		return EX_SOFTWARE;
	}
	if (!c->json)
		printf("%lld failed deliver%s made due now\n", n, n == 1 ? "y" : "ies");
	rc = deliver_and_report(c, id, "retry");
	close(lock);
	return rc;
}

/* ---- main ------------------------------------------------------------- */

static long long clock_now(void)
{
	/* TLSRPT_NOW (seconds since the epoch) pins the clock, for tests */
	const char *fake = getenv("TLSRPT_NOW");
	uint64_t v;

	if (fake && parse_u64(fake, &v))
		return (long long)v;
	return (long long)time(NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *conf_path = conf_default_path();
	const struct command *cmd = NULL;
	struct ctx c;
	char err[1024];
	int o, rc, first;

	memset(&c, 0, sizeof(c));
	/* stop at the command name: its options are its own */
	while ((o = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': conf_path = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return EX_OK;
		case 'V': printf("tlsrpt-report %s\n", PACKAGE_VERSION); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	first = optind;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		fprintf(stderr, "tlsrpt-report: unknown command %s\n\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	if (conf_load(conf_path, CONF_FOR_REPORTER, &c.conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		return EX_CONFIG;
	}
	log_open("tlsrpt-report", (int)c.conf.syslog_facility, false);
	log_set_level((int)c.conf.log_level);
	c.submitter = submitter_domain(&c.conf);
	if (c.submitter == NULL) {
		fprintf(stderr, "tlsrpt-report: %s: set submitter_domain (contact_info \"%s\" has "
		    "no domain to take it from)\n", conf_path, c.conf.contact_info);
		conf_free(&c.conf);
		return EX_CONFIG;
	}
	c.now = clock_now();
	c.store = store_open(c.conf.store_path, c.conf.store_busy_timeout_ms, err, sizeof(err));
	if (c.store == NULL) {
		fprintf(stderr, "tlsrpt-report: %s\n", err);
		rc = EX_CANTCREAT;
	} else {
		/* the command sees its own name as argv[0]; 0 makes glibc's getopt
		 * start over completely (the "+" of the global parse included) */
		optind = 0;
		rc = cmd->run(&c, argc - first, argv + first);
	}
	report_gzip_end();
	store_close(c.store);
	free(c.submitter);
	conf_free(&c.conf);
	log_close();
	return rc;
}
