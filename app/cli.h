/* cli.h: herd-cli subcommands. Each returns the process exit status (0 ok, 1 error, 2 usage). */
#pragma once

#include <stdio.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} cli_command;

/* Prints "herd-cli: <message>" on one line to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Subcommands (one file each: cli-<name>.c). */
int cli_info(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_image_info(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_membw(int argc, char **argv);
int cli_devices(int argc, char **argv);
int cli_embed_image(int argc, char **argv);
