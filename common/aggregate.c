/*
 * NAME
 *	aggregate - session results summed in memory, keyed like the store
 * DESCRIPTION
 *	See aggregate.h.  Four chained hash tables share one implementation:
 *	every entry type starts with the same header (chain link, list link,
 *	hash, key bytes).  Keys are the entry's identifying fields, each
 *	length-prefixed so that no field content can collide with another
 *	split of the same bytes; absent and empty fields encode the same.
 */
#include "aggregate.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct agg_entry {
	struct agg_entry *next;
	struct agg_entry *list;
	uint64_t hash;
	char *key;
	size_t keylen;
};

static void table_init(struct agg_table *t)
{
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof(void *));
	t->count = 0;
	t->head = NULL;
}

static void table_grow(struct agg_table *t)
{
	size_t nb = t->nbuckets * 2;
	void **b = xcalloc(nb, sizeof(void *));

	for (struct agg_entry *e = t->head; e != NULL; e = e->list) {
		size_t i = e->hash & (nb - 1);

		e->next = b[i];
		b[i] = e;
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static struct agg_entry *table_find(struct agg_table *t, const char *key, size_t keylen,
    uint64_t hash)
{
	struct agg_entry *e = t->buckets[hash & (t->nbuckets - 1)];

	for (; e != NULL; e = e->next)
		if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	return NULL;
}

/* Link a new entry that owns its key; the caller has checked it is absent. */
static void table_insert(struct agg_table *t, struct agg_entry *e)
{
	size_t i;

	if (t->count + 1 > t->nbuckets)
		table_grow(t);
	i = e->hash & (t->nbuckets - 1);
	e->next = t->buckets[i];
	t->buckets[i] = e;
	e->list = t->head;
	t->head = e;
	t->count++;
}

static void *entry_new(size_t size, const struct strbuf *key, uint64_t hash)
{
	struct agg_entry *e = xcalloc(1, size);

	e->key = xmalloc(key->len ? key->len : 1);
	memcpy(e->key, key->data, key->len);
	e->keylen = key->len;
	e->hash = hash;
	return e;
}

static void key_field(struct strbuf *k, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : 0;

	strbuf_append(k, &n, sizeof(n));
	if (n)
		strbuf_append(k, s, n);
}

static void key_int(struct strbuf *k, int v)
{
	strbuf_append(k, &v, sizeof(v));
}

/* Empty and absent are the same "unknown" */
static char *dup_opt(const char *s)
{
	return (s && *s) ? xstrdup(s) : NULL;
}

/* An absent or empty optional policy field takes the value that is stored. */
static const char *or_default(const char *s, const char *def)
{
	return (s && *s) ? s : def;
}

/* Keyed on the stored values, so absent, empty and explicit defaults meet. */
static void policy_key(struct strbuf *k, const char *day, const char *domain,
    const struct tlsrpt_policy_result *p)
{
	strbuf_reset(k);
	key_field(k, day);
	key_field(k, domain);
	key_int(k, p->type);
	key_field(k, or_default(p->policy_domain, domain));
	key_field(k, or_default(p->policy_strings, "[]"));
	key_field(k, or_default(p->mx_hosts, "[]"));
}

static void failure_key(struct strbuf *k, const struct agg_policy *ap,
    const struct tlsrpt_failure *f)
{
	const char *fields[] = {f->sending_ip, f->mx_name, f->helo, f->receiving_ip,
	    f->additional, f->reason};

	strbuf_reset(k);
	strbuf_append(k, ap->key, ap->keylen);
	key_int(k, f->result_type);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		key_field(k, (fields[i] && *fields[i]) ? fields[i] : NULL);
}

void aggregate_init(struct aggregate *a)
{
	memset(a, 0, sizeof(*a));
	table_init(&a->policies);
	table_init(&a->failures);
	table_init(&a->records);
	table_init(&a->counters);
	table_init(&a->dcounters);
	table_init(&a->report_mails);
	table_init(&a->states);
}

static void table_free(struct agg_table *t, void (*free_fields)(void *))
{
	struct agg_entry *e = t->head, *next;

	for (; e != NULL; e = next) {
		next = e->list;
		free_fields(e);
		free(e->key);
		free(e);
	}
	free(t->buckets);
	t->buckets = NULL;
}

static void policy_fields_free(void *p)
{
	struct agg_policy *ap = p;

	free(ap->domain);
	free(ap->policy_domain);
	free(ap->policy_strings);
	free(ap->mx_hosts);
}

static void failure_fields_free(void *p)
{
	struct agg_failure *af = p;

	free(af->sending_ip);
	free(af->mx_name);
	free(af->helo);
	free(af->receiving_ip);
	free(af->additional);
	free(af->reason);
}

static void record_fields_free(void *p)
{
	struct agg_record *ar = p;

	free(ar->domain);
	free(ar->record);
}

static void dcounter_fields_free(void *p)
{
	free(((struct agg_dcounter *)p)->domain);
	free(((struct agg_dcounter *)p)->name);
}

static void state_fields_free(void *p)
{
	free(((struct agg_state *)p)->name);
	free(((struct agg_state *)p)->value);
}

static void counter_fields_free(void *p)
{
	free(((struct agg_counter *)p)->name);
}

void aggregate_free(struct aggregate *a)
{
	table_free(&a->failures, failure_fields_free);
	table_free(&a->policies, policy_fields_free);
	table_free(&a->records, record_fields_free);
	table_free(&a->counters, counter_fields_free);
	table_free(&a->dcounters, dcounter_fields_free);
	table_free(&a->report_mails, state_fields_free);
	table_free(&a->states, state_fields_free);
}

void aggregate_clear(struct aggregate *a)
{
	aggregate_free(a);
	aggregate_init(a);
}

int aggregate_empty(const struct aggregate *a)
{
	return aggregate_keys(a) == 0;
}

size_t aggregate_keys(const struct aggregate *a)
{
	return a->policies.count + a->failures.count + a->records.count + a->counters.count +
	    a->dcounters.count + a->report_mails.count + a->states.count;
}

static struct agg_policy *policy_get(struct aggregate *a, struct strbuf *k, const char *day,
    const char *domain, const struct tlsrpt_policy_result *p)
{
	struct agg_policy *ap;
	uint64_t h;

	policy_key(k, day, domain, p);
	h = hash_bytes(k->data, k->len);
	ap = (struct agg_policy *)table_find(&a->policies, k->data, k->len, h);
	if (ap != NULL)
		return ap;
	ap = entry_new(sizeof(*ap), k, h);
	memcpy(ap->day, day, sizeof(ap->day));
	ap->domain = xstrdup(domain);
	ap->type = p->type;
	ap->policy_domain = xstrdup(or_default(p->policy_domain, domain));
	ap->policy_strings = xstrdup(or_default(p->policy_strings, "[]"));
	ap->mx_hosts = xstrdup(or_default(p->mx_hosts, "[]"));
	table_insert(&a->policies, (struct agg_entry *)ap);
	return ap;
}

static void failure_add(struct aggregate *a, struct strbuf *k, struct agg_policy *ap,
    const struct tlsrpt_failure *raw)
{
	struct tlsrpt_failure canon = *raw, *f = &canon;
	struct agg_failure *af;
	uint64_t h;

	/* R31: one spelling per address and name, so they aggregate and report as one */
	canon.sending_ip = canonical_ip(raw->sending_ip);
	canon.receiving_ip = canonical_ip(raw->receiving_ip);
	canon.mx_name = canonical_host(raw->mx_name);
	failure_key(k, ap, f);
	h = hash_bytes(k->data, k->len);
	af = (struct agg_failure *)table_find(&a->failures, k->data, k->len, h);
	if (af == NULL) {
		af = entry_new(sizeof(*af), k, h);
		af->policy = ap;
		af->result_type = f->result_type;
		af->sending_ip = dup_opt(f->sending_ip);
		af->mx_name = dup_opt(f->mx_name);
		af->helo = dup_opt(f->helo);
		af->receiving_ip = dup_opt(f->receiving_ip);
		af->additional = dup_opt(f->additional);
		af->reason = dup_opt(f->reason);
		table_insert(&a->failures, (struct agg_entry *)af);
	}
	af->count++;
	free(canon.sending_ip);
	free(canon.receiving_ip);
	free(canon.mx_name);
}

static void record_set(struct aggregate *a, struct strbuf *k, const char *day,
    const char *domain, const char *record)
{
	struct agg_record *ar;
	uint64_t h;

	strbuf_reset(k);
	key_field(k, day);
	key_field(k, domain);
	h = hash_bytes(k->data, k->len);
	ar = (struct agg_record *)table_find(&a->records, k->data, k->len, h);
	if (ar == NULL) {
		ar = entry_new(sizeof(*ar), k, h);
		memcpy(ar->day, day, sizeof(ar->day));
		ar->domain = xstrdup(domain);
		table_insert(&a->records, (struct agg_entry *)ar);
	} else if (strcmp(ar->record, record) == 0) {
		return;
	} else {
		free(ar->record);
	}
	ar->record = xstrdup(record);
}

void aggregate_add_session(struct aggregate *a, const struct tlsrpt_session *s)
{
	struct strbuf k;
	char day[11];

	strbuf_init(&k);
	utc_day(s->when, day);
	for (size_t i = 0; i < s->npolicies; i++) {
		const struct tlsrpt_policy_result *p = &s->policies[i];
		struct agg_policy *ap = policy_get(a, &k, day, s->domain, p);

		if (p->failed)
			ap->failures++;
		else
			ap->successes++;
		for (size_t j = 0; j < p->nfailures; j++) {
			/* libtlsrpt's "unfinished" marker is bookkeeping, not a result */
			if (p->failures[j].result_type == RESULT_INTERNAL_UNFINISHED)
				continue;
			failure_add(a, &k, ap, &p->failures[j]);
		}
		a->policy_results++;
	}
	if (s->record && *s->record)
		record_set(a, &k, day, s->domain, s->record);
	a->sessions++;
	strbuf_free(&k);
}

void aggregate_count(struct aggregate *a, long long when, const char *name, uint64_t n)
{
	struct agg_counter *ac;
	struct strbuf k;
	char day[11];
	uint64_t h;

	strbuf_init(&k);
	utc_day(when, day);
	key_field(&k, day);
	key_field(&k, name);
	h = hash_bytes(k.data, k.len);
	ac = (struct agg_counter *)table_find(&a->counters, k.data, k.len, h);
	if (ac == NULL) {
		ac = entry_new(sizeof(*ac), &k, h);
		memcpy(ac->day, day, sizeof(ac->day));
		ac->name = xstrdup(name);
		table_insert(&a->counters, (struct agg_entry *)ac);
	}
	ac->value += n;
	strbuf_free(&k);
}

void aggregate_count_domain(struct aggregate *a, long long when, const char *domain,
    const char *name, uint64_t n)
{
	struct agg_dcounter *ac;
	struct strbuf k;
	char day[11];
	uint64_t h;

	strbuf_init(&k);
	utc_day(when, day);
	key_field(&k, day);
	key_field(&k, domain);
	key_field(&k, name);
	h = hash_bytes(k.data, k.len);
	ac = (struct agg_dcounter *)table_find(&a->dcounters, k.data, k.len, h);
	if (ac == NULL) {
		ac = entry_new(sizeof(*ac), &k, h);
		memcpy(ac->day, day, sizeof(ac->day));
		ac->domain = xstrdup(domain);
		ac->name = xstrdup(name);
		table_insert(&a->dcounters, (struct agg_entry *)ac);
	}
	ac->value += n;
	strbuf_free(&k);
}

static void state_set(struct agg_table *t, const char *name, const char *value, long long when)
{
	struct agg_state *as;
	struct strbuf k;
	uint64_t h;

	strbuf_init(&k);
	key_field(&k, name);
	h = hash_bytes(k.data, k.len);
	as = (struct agg_state *)table_find(t, k.data, k.len, h);
	if (as == NULL) {
		as = entry_new(sizeof(*as), &k, h);
		as->name = xstrdup(name);
		table_insert(t, (struct agg_entry *)as);
	} else
		free(as->value);
	as->value = xstrdup(value);
	as->when = when;
	strbuf_free(&k);
}

void aggregate_report_mail(struct aggregate *a, long long when, const char *queue_id,
    const char *domain)
{
	state_set(&a->report_mails, queue_id, domain, when);
}

void aggregate_set_state(struct aggregate *a, const char *name, const char *value, long long when)
{
	state_set(&a->states, name, value, when);
}

/*
 * Move the entries of one table into another.  "absorb" is called when
 * the key already exists in dst, to add src's counts into it; the src
 * entry is then freed, or kept on "graveyard" when something still points
 * at it.  "moved" reports where each src entry ended up.
 */
static void table_merge(struct agg_table *dst, struct agg_table *src,
    void (*absorb)(void *dst, void *src), void (*moved)(void *src, void *dst),
    void (*free_fields)(void *), struct agg_entry **graveyard)
{
	struct agg_entry *e = src->head, *next;

	for (; e != NULL; e = next) {
		struct agg_entry *d = table_find(dst, e->key, e->keylen, e->hash);

		next = e->list;
		if (d == NULL) {
			table_insert(dst, e);
			if (moved)
				moved(e, e);
			continue;
		}
		absorb(d, e);
		if (moved)
			moved(e, d);
		if (graveyard) {
			e->list = *graveyard;
			*graveyard = e;
		} else {
			free_fields(e);
			free(e->key);
			free(e);
		}
	}
	free(src->buckets);
	src->buckets = NULL;
	src->head = NULL;
	src->count = 0;
}

static void policy_absorb(void *d, void *s)
{
	struct agg_policy *dp = d, *sp = s;

	dp->successes += sp->successes;
	dp->failures += sp->failures;
}

static void policy_moved(void *s, void *d)
{
	((struct agg_policy *)s)->merged_into = d;
}

static void failure_absorb(void *d, void *s)
{
	((struct agg_failure *)d)->count += ((struct agg_failure *)s)->count;
}

static void record_absorb(void *d, void *s)
{
	struct agg_record *dr = d, *sr = s;
	char *tmp = dr->record;

	/* the newer record text wins */
	dr->record = sr->record;
	sr->record = tmp;
}

static void counter_absorb(void *d, void *s)
{
	((struct agg_counter *)d)->value += ((struct agg_counter *)s)->value;
}

static void dcounter_absorb(void *d, void *s)
{
	((struct agg_dcounter *)d)->value += ((struct agg_dcounter *)s)->value;
}

static void state_absorb(void *d, void *s)
{
	struct agg_state *ds = d, *ss = s;
	char *tmp = ds->value;

	/* the newer value wins */
	ds->value = ss->value;
	ss->value = tmp;
	ds->when = ss->when;
}

void aggregate_merge(struct aggregate *dst, struct aggregate *src)
{
	struct agg_entry *graveyard = NULL, *next;

	/* Policies first; absorbed src policies live until failures are re-pointed. */
	table_merge(&dst->policies, &src->policies, policy_absorb, policy_moved,
	    policy_fields_free, &graveyard);
	for (struct agg_failure *f = src->failures.head; f != NULL; f = f->list)
		f->policy = f->policy->merged_into;
	table_merge(&dst->failures, &src->failures, failure_absorb, NULL,
	    failure_fields_free, NULL);
	table_merge(&dst->records, &src->records, record_absorb, NULL,
	    record_fields_free, NULL);
	table_merge(&dst->counters, &src->counters, counter_absorb, NULL,
	    counter_fields_free, NULL);
	table_merge(&dst->dcounters, &src->dcounters, dcounter_absorb, NULL,
	    dcounter_fields_free, NULL);
	table_merge(&dst->report_mails, &src->report_mails, state_absorb, NULL,
	    state_fields_free, NULL);
	table_merge(&dst->states, &src->states, state_absorb, NULL, state_fields_free, NULL);
	dst->sessions += src->sessions;
	dst->policy_results += src->policy_results;

	for (struct agg_entry *e = graveyard; e != NULL; e = next) {
		next = e->list;
		policy_fields_free(e);
		free(e->key);
		free(e);
	}
	aggregate_clear(src);
}
