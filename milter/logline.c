/*
 * NAME
 *	logline - spans over a mail log line, and the syslog line prefix
 * SYNOPSIS
 *	#include "logline.h"
 * DESCRIPTION
 *	See logline.h.
 */
#include "logline.h"

size_t span_find(struct span s, const char *lit)
{
	size_t k = strlen(lit), i;

	for (i = 0; k > 0 && i + k <= s.n; i++)
		if (s.p[i] == lit[0] && memcmp(s.p + i, lit, k) == 0)
			return i;
	return SPAN_NPOS;
}

size_t span_find_last(struct span s, const char *lit)
{
	size_t k = strlen(lit), i;

	if (k == 0 || k > s.n)
		return SPAN_NPOS;
	for (i = s.n - k + 1; i-- > 0;)
		if (s.p[i] == lit[0] && memcmp(s.p + i, lit, k) == 0)
			return i;
	return SPAN_NPOS;
}

size_t span_find_ci(struct span s, const char *lit)
{
	size_t k = strlen(lit);
	size_t i, j;

	if (k > s.n)
		return SPAN_NPOS;
	for (i = 0; i + k <= s.n; i++) {
		for (j = 0; j < k; j++)
			if (ll_lower((unsigned char)s.p[i + j]) != ll_lower((unsigned char)lit[j]))
				break;
		if (j == k)
			return i;
	}
	return SPAN_NPOS;
}

bool span_contains_ci(struct span s, const char *lit)
{
	return span_find_ci(s, lit) != SPAN_NPOS;
}

struct span span_trim(struct span s)
{
	while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t'))
		span_advance(&s, 1);
	while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

bool span_copy(char *dst, size_t size, struct span s)
{
	if (s.n >= size || memchr(s.p, '\0', s.n) != NULL)
		return false;
	memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
	return true;
}

bool span_copy_text(char *dst, size_t size, struct span s)
{
	const char *nul = memchr(s.p, '\0', s.n);
	size_t n = nul != NULL ? (size_t)(nul - s.p) : s.n;
	bool cut = false;

	if (n >= size) {
		n = size - 1;
		cut = true;
	}
	memcpy(dst, s.p, n);
	dst[n] = '\0';
	return cut;
}

void ll_normalise_host(char *h)
{
	size_t n;

	for (n = 0; h[n] != '\0'; n++)
		h[n] = (char)ll_lower((unsigned char)h[n]);
	if (n > 1 && h[n - 1] == '.')
		h[n - 1] = '\0';
}

bool ll_skip_token(struct span *s)
{
	size_t i = 0;

	while (i < s->n && s->p[i] != ' ')
		i++;
	if (i == 0 || i == s->n)
		return false;
	span_advance(s, i + 1);
	return true;
}

/* "Nov 23 18:41:55 host " or "Nov  3 ..."; s is left at the tag. */
static bool skip_classic_prefix(struct span *s)
{
	struct span t = *s;

	if (t.n < 4 || !ll_is_alpha(t.p[0]) || !ll_is_alpha(t.p[1]) || !ll_is_alpha(t.p[2])
	    || t.p[3] != ' ')
		return false;
	span_advance(&t, 4);
	if (t.n > 0 && t.p[0] == ' ')
		span_advance(&t, 1);
	if (t.n == 0 || !ll_is_digit(t.p[0]) || !ll_skip_token(&t))	/* day */
		return false;
	if (t.n == 0 || !ll_is_digit(t.p[0]) || !ll_skip_token(&t))	/* time */
		return false;
	if (!ll_skip_token(&t))						/* host */
		return false;
	*s = t;
	return true;
}

/* "2026-11-23T18:41:55.123456+00:00 host "; s is left at the tag. */
static bool skip_iso_prefix(struct span *s)
{
	struct span t = *s;
	int i;

	if (t.n < 11)
		return false;
	for (i = 0; i < 4; i++)
		if (!ll_is_digit(t.p[i]))
			return false;
	if (t.p[4] != '-' || t.p[10] != 'T')
		return false;
	if (!ll_skip_token(&t) || !ll_skip_token(&t))
		return false;
	*s = t;
	return true;
}

bool ll_skip_prefix(struct span *s)
{
	return skip_iso_prefix(s) || skip_classic_prefix(s);
}

bool ll_read_tag(struct span *s, struct span *name, long *pid)
{
	size_t i = 0, digits = 0, end;
	long v = 0;

	while (i < s->n && s->p[i] != '[' && s->p[i] != ' ' && s->p[i] != ':')
		i++;
	if (i == 0 || i == s->n || s->p[i] != '[')
		return false;
	end = i;
	for (i++; i < s->n && ll_is_digit(s->p[i]); i++) {
		if (++digits > 9)
			return false;
		v = v * 10 + (s->p[i] - '0');
	}
	if (digits == 0 || s->n - i < 3 || memcmp(s->p + i, "]: ", 3) != 0)
		return false;
	*name = span_first(*s, end);
	*pid = v;
	span_advance(s, i + 3);
	return true;
}

bool ll_split_line(const char *line, size_t len, struct logrec *r)
{
	struct span s = {line, line != NULL ? len : 0};

	(void)ll_skip_prefix(&s);
	if (!ll_read_tag(&s, &r->name, &r->pid))
		return false;
	r->msg = s;
	r->size = line != NULL ? len : 0;
	return true;
}
