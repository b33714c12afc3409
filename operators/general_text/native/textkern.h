/* Shared helpers of the text kernels: Python's character tables, UTF-8 decoding, 16-byte ASCII blocks. */
#ifndef DFT_TEXTKERN_H
#define DFT_TEXTKERN_H
#define _GNU_SOURCE  /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define F_WS 1u     /* str.isspace() */
#define F_WORD 2u   /* re's \w: str.isalnum() or '_' */
#define F_UPPER 4u  /* Py_UNICODE_ISUPPER and not lower/title: counts towards str.isupper() */
#define F_BAD 8u    /* lower or title case: makes str.isupper() false */
#define F_WS3 16u   /* ' ', '\n', '\t': what DataFlow's CharNumber removes besides strip() */

#define LOWER_SAME 0u
#define LOWER_SPECIAL 0xFFFFFFFFu

/* The tables dft_init() receives (read-only afterwards, so every kernel may run on several threads) */
#define FLAGS dft_flags
#define LOWER dft_lower
#define N_LOWER dft_n_lower
extern const uint8_t *FLAGS;     /* 0x110000 entries */
extern const uint32_t *LOWER;    /* n_lower entries: LOWER_SAME, LOWER_SPECIAL or the lower-case code point */
extern int64_t N_LOWER;

/* Decode the code point at p (valid UTF-8, as DuckDB and Arrow guarantee); *len gets its byte length. */
static inline uint32_t decode(const uint8_t *p, int *len) {
    uint8_t b = p[0];
    if (b < 0x80) { *len = 1; return b; }
    if (b < 0xE0) { *len = 2; return ((uint32_t)(b & 0x1F) << 6) | (p[1] & 0x3F); }
    if (b < 0xF0) { *len = 3; return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F); }
    *len = 4;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

static inline int encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = 0xC0 | (cp >> 6); out[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        out[0] = 0xE0 | (cp >> 12); out[1] = 0x80 | ((cp >> 6) & 0x3F); out[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    out[0] = 0xF0 | (cp >> 18); out[1] = 0x80 | ((cp >> 12) & 0x3F);
    out[2] = 0x80 | ((cp >> 6) & 0x3F); out[3] = 0x80 | (cp & 0x3F);
    return 4;
}

#define ROW(i) const uint8_t *p = data + off[i], *e = data + off[(i) + 1]

/* The next code point and its flags. ASCII (nearly every byte of most corpora) is one table read
 * behind a well-predicted branch; the per-character updates below are then branch-free, because a
 * branch on "is this a space" mispredicts at every word boundary and costs more than the work. */
static inline uint8_t next_cp(const uint8_t **pp, uint32_t *cp_out) {
    const uint8_t *p = *pp;
    uint8_t b = *p;
    if (__builtin_expect(b < 0x80, 1)) { *pp = p + 1; *cp_out = b; return FLAGS[b]; }
    int l;
    uint32_t cp = decode(p, &l);
    *pp = p + l;
    *cp_out = cp;
    return FLAGS[cp];
}

static inline int has_nonblank(const uint8_t *p, const uint8_t *e) {
    uint32_t cp;
    while (p < e) if (!(next_cp(&p, &cp) & F_WS)) return 1;
    return 0;
}

static inline int contains(const uint8_t *p, const uint8_t *e, const char *needle, size_t len) {
    return e - p >= (ptrdiff_t)len && memmem(p, (size_t)(e - p), needle, len) != NULL;
}


/* 16 bytes at p: bit k of the result is set when byte k is ASCII whitespace (str.isspace());
 * *prefix gets how many leading bytes are ASCII (16 for a pure-ASCII block), the only bits valid. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline uint32_t ws16(const uint8_t *p, int *prefix) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    uint32_t high = (uint32_t)_mm_movemask_epi8(v);
    *prefix = high ? __builtin_ctz(high) : 16;
    __m128i sp = _mm_cmpeq_epi8(v, _mm_set1_epi8(' '));
    __m128i a = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(8)), _mm_cmplt_epi8(v, _mm_set1_epi8(14)));
    __m128i b = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(27)), _mm_cmplt_epi8(v, _mm_set1_epi8(32)));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(sp, _mm_or_si128(a, b)));
}
#else
static inline uint32_t ws16(const uint8_t *p, int *prefix) {
    uint32_t ws = 0;
    int k = 0;
    for (; k < 16 && p[k] < 0x80; k++) ws |= (uint32_t)(FLAGS[p[k]] & F_WS) << k;
    *prefix = k;
    return ws;
}
#endif

#if defined(__SSE2__)
static inline __m128i load16(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline uint32_t eq16(__m128i v, char c) { return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c))); }
/* lo <= byte <= hi, for ASCII bytes (signed compares) */
static inline uint32_t range16(__m128i v, char lo, char hi) {
    return (uint32_t)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)(lo - 1))),
                                                     _mm_cmplt_epi8(v, _mm_set1_epi8((char)(hi + 1)))));
}
/* re's \w over ASCII: [0-9A-Za-z_] */
static inline uint32_t word16(__m128i v) {
    return range16(v, '0', '9') | range16(v, 'A', 'Z') | range16(v, 'a', 'z') | eq16(v, '_');
}
#endif

static inline uint32_t valid_bits(int k) { return k >= 32 ? 0xFFFFFFFFu : ((1u << k) - 1u); }

#endif
