/* gguf.h: GGUF v2/v3 reader over a read-only mapping (llama.cpp container format, spec §7).
 *
 * herd_gguf_open() validates the whole file before returning: every count, string length,
 * nested array, tensor shape, type and data extent is checked against the file size and for
 * overflow, so the accessors below never read outside the mapping and need no error paths.
 * All returned pointers live as long as the herd_gguf.
 */
#pragma once

#include "herd-error.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERD_GGUF_MAGIC             0x46554747u /* "GGUF" read as a little-endian u32 */
#define HERD_GGUF_DEFAULT_ALIGNMENT 32u
#define HERD_GGUF_MAX_DIMS          4
#define HERD_GGUF_MAX_ARRAY_DEPTH   8          /* arrays of arrays nest at most this deep */
#define HERD_GGUF_MAX_NAME          65536      /* longest key or tensor name accepted */
#define HERD_GGUF_MAX_COUNT         (1u << 20) /* most KVs or tensors accepted in one file */

typedef struct herd_gguf herd_gguf;

/* Value types; the numbers are the file format's. */
typedef enum {
    HERD_GGUF_U8 = 0,
    HERD_GGUF_I8,
    HERD_GGUF_U16,
    HERD_GGUF_I16,
    HERD_GGUF_U32,
    HERD_GGUF_I32,
    HERD_GGUF_F32,
    HERD_GGUF_BOOL,
    HERD_GGUF_STRING,
    HERD_GGUF_ARRAY,
    HERD_GGUF_U64,
    HERD_GGUF_I64,
    HERD_GGUF_F64,
    HERD_GGUF_VTYPE_COUNT
} herd_gguf_vtype;

typedef struct herd_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    uint32_t n_dims;  /* 1..4 */
    int64_t ne[4];    /* ggml order (ne[0] contiguous); unused dims = 1 */
    herd_type type;   /* a known type (herd_type_get() != NULL); maybe not computed */
    uint64_t offset;  /* relative to the data section, a multiple of the alignment */
    size_t size;      /* bytes */
    const void *data; /* inside the mapping */
} herd_gguf_tensor;

/* Opening. Failures: HERD_ERR_IO (cannot open/map), HERD_ERR_FORMAT (corrupt, truncated, lying
 * counts, bad shapes/extents/alignment, duplicates), HERD_ERR_UNSUPPORTED (GGUF version other
 * than 2 or 3, big-endian file, unknown tensor type), HERD_ERR_LIMIT (more than
 * HERD_GGUF_MAX_COUNT KVs or tensors), HERD_ERR_NOMEM. Messages name the file, the key or tensor
 * and the byte offset of the offending record. */
herd_gguf *herd_gguf_open(const char *path, herd_error *err); /* mmap read-only */
/* No copy: the caller keeps data alive until herd_gguf_close(). name is used in messages
 * (NULL: "<memory>"). */
herd_gguf *herd_gguf_open_memory(const void *data, size_t size, const char *name, herd_error *err);
void herd_gguf_close(herd_gguf *g); /* NULL ok */

uint32_t herd_gguf_version(const herd_gguf *g);
uint32_t herd_gguf_alignment(const herd_gguf *g);
/* Start of the data section (aligned). With no tensors it may equal or exceed the file size. */
uint64_t herd_gguf_data_offset(const herd_gguf *g);
const void *herd_gguf_base(const herd_gguf *g);
size_t herd_gguf_file_size(const herd_gguf *g);
const char *herd_gguf_path(const herd_gguf *g); /* path, or the name given to open_memory */

/* Key/value metadata, in file order. */
int64_t herd_gguf_n_kv(const herd_gguf *g);
const char *herd_gguf_kv_key(const herd_gguf *g, int64_t i); /* NUL-terminated copy */
herd_gguf_vtype herd_gguf_kv_type(const herd_gguf *g, int64_t i);
int64_t herd_gguf_find_key(const herd_gguf *g, const char *key); /* -1 if absent */

/* Typed getters: false if absent or of an incompatible type. Integers of any width convert when
 * the value is in range; F32 and F64 both serve floats. */
bool herd_gguf_get_u32(const herd_gguf *g, const char *key, uint32_t *out);
bool herd_gguf_get_u64(const herd_gguf *g, const char *key, uint64_t *out);
bool herd_gguf_get_i64(const herd_gguf *g, const char *key, int64_t *out);
bool herd_gguf_get_f32(const herd_gguf *g, const char *key, float *out);
bool herd_gguf_get_f64(const herd_gguf *g, const char *key, double *out);
bool herd_gguf_get_bool(const herd_gguf *g, const char *key, bool *out);
/* Points into the mapping, not NUL-terminated. */
bool herd_gguf_get_str(const herd_gguf *g, const char *key, const char **s, size_t *len);

/* Arrays: element type and count. For numeric/bool elements *data points to the packed
 * little-endian elements (maybe unaligned: read with memcpy). For string or array elements *data
 * points to the first element's serialized form (use herd_gguf_get_arr_str for strings). Any of
 * the out pointers may be NULL. */
bool herd_gguf_get_arr(const herd_gguf *g, const char *key, herd_gguf_vtype *elem_type, uint64_t *n,
                       const void **data);
/* The same by KV index (false if KV i is not an array). */
bool herd_gguf_kv_arr(const herd_gguf *g, int64_t i, herd_gguf_vtype *elem_type, uint64_t *n,
                      const void **data);
/* String arrays: fills ptrs[i]/lens[i] for i < n; n must not exceed the array's count. Pointers
 * into the mapping, not NUL-terminated. False if absent, not a string array, or n too large. */
bool herd_gguf_get_arr_str(const herd_gguf *g, const char *key, const char **ptrs, uint64_t *lens,
                           uint64_t n);

/* Tensors, in file order. */
int64_t herd_gguf_n_tensors(const herd_gguf *g);
const herd_gguf_tensor *herd_gguf_tensor_at(const herd_gguf *g,
                                            int64_t i); /* NULL if out of range */
const herd_gguf_tensor *herd_gguf_find_tensor(const herd_gguf *g, const char *name); /* hashed */

/* Printing helpers. */
const char *herd_gguf_vtype_name(herd_gguf_vtype t); /* "u32", "string", "array", "?" */
/* Renders KV i's value into buf (always NUL-terminated when n > 0): numbers, quoted and escaped
 * strings (long ones cut with "..."), arrays as "[a, b, c, ... (N total)]" showing at most
 * 8 elements (nested arrays abbreviated). Returns buf. */
char *herd_gguf_kv_format(const herd_gguf *g, int64_t i, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
