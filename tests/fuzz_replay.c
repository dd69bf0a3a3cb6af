/*
 * NAME
 *	fuzz_replay - run the fuzz target over files, without libFuzzer
 * SYNOPSIS
 *	fuzz_replay file-or-directory...
 * DESCRIPTION
 *	Calls LLVMFuzzerTestOneInput() once for every file named, and for
 *	every regular file directly inside a directory named (in name
 *	order), then prints "replayed N inputs".  Each input is passed in a
 *	heap buffer of exactly its size, as libFuzzer does, so that an
 *	over-read shows up under ASan or valgrind.  A broken invariant
 *	aborts; an unreadable argument exits 2.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_replay: %s %s: %s\n", what, path, strerror(errno));
	exit(2);
}

static void replay_file(const char *path)
{
	FILE *fp;
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL)
		die("cannot open", path);
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((buf = realloc(buf, cap)) == NULL)
				die("out of memory reading", path);
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp))
		die("cannot read", path);
	fclose(fp);
	if ((exact = malloc(len ? len : 1)) == NULL)
		die("out of memory reading", path);
	if (len)
		memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	replayed++;
}

static void replay_dir(const char *dir)
{
	struct dirent **names;
	int n;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		die("cannot read directory", dir);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
		char *path = malloc(len);
		struct stat st;

		if (path == NULL)
			die("out of memory listing", dir);
		snprintf(path, len, "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) < 0)
			die("cannot stat", path);
		if (S_ISREG(st.st_mode))
			replay_file(path);
		free(path);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: fuzz_replay file-or-directory...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0)
			die("cannot stat", argv[i]);
		if (S_ISDIR(st.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("replayed %lu inputs\n", replayed);
	return 0;
}
