/* herd-error.h: status codes and the error value every fallible engine/vision call fills. */
#pragma once

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum herd_status {
    HERD_OK = 0,
    HERD_ERR_IO,          /* file missing, unreadable, mmap failed */
    HERD_ERR_FORMAT,      /* bytes are not what they claim (corrupt, truncated, lying counts) */
    HERD_ERR_UNSUPPORTED, /* valid but not handled (tensor type, architecture) */
    HERD_ERR_NOMEM,       /* allocation failed or would exceed the budget */
    HERD_ERR_DEVICE,      /* GPU / driver failure */
    HERD_ERR_INVALID,     /* bad argument from the caller */
    HERD_ERR_ABORTED,     /* cancelled by the caller */
    HERD_ERR_LIMIT,       /* input exceeds a configured limit (pixels, context) */
} herd_status;

typedef struct herd_error {
    herd_status code;
    char msg[512];
} herd_error;

/* Fills err (may be NULL) and returns code, so callers can `return herd_error_set(...)`. */
herd_status herd_error_set(herd_error *err, herd_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void herd_error_clear(herd_error *err);
const char *herd_status_name(herd_status code);

#ifdef __cplusplus
}
#endif
