/* herd-cli: the engine from a terminal. One subcommand per file (cli-*.c), listed here. */
#include "cli.h"
#include "herd-config.h"

#include <stdarg.h>
#include <string.h>

static const cli_command commands[] = {
    { "info", "show a GGUF file's metadata and tensors, check it loads", cli_info },
    { "run", "chat with a model: stream its answer to a prompt (and images)", cli_run },
    { "logits", "write the logits of token ids (for parity checks)", cli_logits },
    { "bench", "prompt-processing and generation speed", cli_bench },
    { "embed-image", "image file -> the embeddings that replace its <|patch|> tokens",
      cli_embed_image },
    { "devices", "list the devices of the built backends", cli_devices },
    { "membw", "measure this machine's memory bandwidth", cli_membw },
    { "image-info", "decode a PNG/JPEG, print its size and tile grid", cli_image_info },
    { "tokenize", "print the token ids of a text (Llama 4 tokenizer)", cli_tokenize },
    { NULL, NULL, NULL },
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("herd-cli: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: herd-cli COMMAND [OPTIONS]\n\n"
               "Run Llama 4 models (GGUF) from the terminal.\n\ncommands:\n");
    for (const cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\n  --help       show this help\n  --version    show the version\n\n"
               "Run 'herd-cli COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("herd-cli %s\n", HERD_VERSION);
        return 0;
    }
    for (const cli_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'herd-cli --help')", argv[1]);
    return 2;
}
