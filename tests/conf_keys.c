/*
 * NAME
 *	conf_keys - print the configuration option table
 * SYNOPSIS
 *	tests/conf_keys
 * DESCRIPTION
 *	One line per entry of conf_options[], in table order:
 *	"name<TAB>default", with "-" for a key that has no default.  The
 *	values are the built-in defaults exactly as the parser reads them,
 *	so tests/t-conf-sample.sh can check that conf/tlsrpt.conf and
 *	tlsrpt.conf(5) agree with the table.
 * DIAGNOSTICS
 *	Exit status 0, or 1 when standard output cannot be written.
 */
#include <stdio.h>

#include "conf.h"

int main(void)
{
	for (size_t i = 0; i < conf_noptions; i++) {
		const struct conf_option *o = &conf_options[i];

		printf("%s\t%s\n", o->name, o->def ? o->def : "-");
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("conf_keys: stdout");
		return 1;
	}
	return 0;
}
