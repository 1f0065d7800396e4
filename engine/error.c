#include "herd-error.h"

#include <stdio.h>
#include <string.h>

herd_status herd_error_set(herd_error *err, herd_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void herd_error_clear(herd_error *err)
{
    if (err) {
        err->code = HERD_OK;
        err->msg[0] = '\0';
    }
}

const char *herd_status_name(herd_status code)
{
    switch (code) {
    case HERD_OK:
        return "ok";
    case HERD_ERR_IO:
        return "i/o error";
    case HERD_ERR_FORMAT:
        return "format error";
    case HERD_ERR_UNSUPPORTED:
        return "unsupported";
    case HERD_ERR_NOMEM:
        return "out of memory";
    case HERD_ERR_DEVICE:
        return "device error";
    case HERD_ERR_INVALID:
        return "invalid argument";
    case HERD_ERR_ABORTED:
        return "aborted";
    case HERD_ERR_LIMIT:
        return "limit exceeded";
    }
    return "unknown error";
}
