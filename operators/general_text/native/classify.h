/* 64 bytes at a time: one bit a byte for each character class a kernel needs.
 *
 * ASCII bytes are classified with SSE2 compares; a multi-byte character is looked up by code point
 * (Python's tables) and its class bits are set on all of its bytes (ws, word) or on its lead byte
 * (upper, bad, ellipsis), so runs of bits are runs of characters. Kernels then count tokens and
 * runs with popcounts and carries: no branch per character, none per token.
 */
#ifndef DFT_CLASSIFY_H
#define DFT_CLASSIFY_H
#include "textkern.h"

typedef struct {
    uint64_t ws;       /* str.isspace(), every byte of the character */
    uint64_t word;     /* \w (isalnum or '_'), every byte */
    uint64_t upper;    /* counts towards str.isupper(), lead byte */
    uint64_t bad;      /* lower or title case (makes str.isupper() false), lead byte */
    uint64_t start;    /* first byte of a character (ASCII or lead byte) */
    uint64_t ellipsis; /* U+2026, lead byte */
    uint64_t ws3;      /* ' ', '\n', '\t' */
    uint64_t hash, dot, newline; /* '#', '.', '\n' */
} chunk;

/* What a kernel asks classify64 for (a constant at each call: the compiler drops the rest). */
#define C_WS 1     /* ws, start */
#define C_WORD 2   /* word */
#define C_CASE 4   /* upper, bad */
#define C_PUNCT 8  /* hash, dot, newline, ellipsis */
#define C_WS3 16   /* ws3 */

/* Class bits of the 64 bytes at p (bytes at or past row_end are garbage: callers mask them). Bits of
 * a multi-byte character that spill past byte 63 are or-ed into *spill_ws / *spill_word. */
static inline __attribute__((always_inline)) void classify64(const uint8_t *p, const uint8_t *row_end,
                                                             const uint8_t *limit, chunk *c, uint64_t *spill_ws,
                                                             uint64_t *spill_word, const int want) {
    uint8_t tmp[64 + 8];
    const uint8_t *src = p;
    if (limit - p < 64) {  /* the end of the Arrow buffer: never read past it */
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, p, (size_t)(limit - p));
        src = tmp;
    }
    uint64_t high = 0, lead = 0;
    memset(c, 0, sizeof *c);
#if defined(__SSE2__)
    for (int k = 0; k < 4; k++) {
        __m128i v = load16(src + 16 * k);
        int s = 16 * k;
        uint32_t hi = (uint32_t)_mm_movemask_epi8(v);
        high |= (uint64_t)hi << s;
        lead |= (uint64_t)((uint32_t)_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)0xBF))) & hi) << s;
        c->ws |= (uint64_t)(eq16(v, ' ') | range16(v, 9, 13) | range16(v, 28, 31)) << s;
        if (want & (C_WORD | C_CASE)) {
            uint32_t up = range16(v, 'A', 'Z'), low = range16(v, 'a', 'z');
            if (want & C_WORD) c->word |= (uint64_t)(up | low | range16(v, '0', '9') | eq16(v, '_')) << s;
            if (want & C_CASE) { c->upper |= (uint64_t)up << s; c->bad |= (uint64_t)low << s; }
        }
        if (want & C_PUNCT) {
            c->hash |= (uint64_t)eq16(v, '#') << s;
            c->dot |= (uint64_t)eq16(v, '.') << s;
            c->newline |= (uint64_t)eq16(v, '\n') << s;
        }
        if (want & C_WS3) c->ws3 |= (uint64_t)(eq16(v, ' ') | eq16(v, '\n') | eq16(v, '\t')) << s;
    }
#else
    for (int k = 0; k < 64; k++) {
        uint8_t b = src[k], fl = b < 0x80 ? FLAGS[b] : 0;
        high |= (uint64_t)(b >> 7) << k;
        lead |= (uint64_t)(b >= 0xC0) << k;
        c->ws |= (uint64_t)(fl & F_WS ? 1 : 0) << k;
        c->word |= (uint64_t)(fl & F_WORD ? 1 : 0) << k;
        c->upper |= (uint64_t)(fl & F_UPPER ? 1 : 0) << k;
        c->bad |= (uint64_t)(fl & F_BAD ? 1 : 0) << k;
        c->hash |= (uint64_t)(b == '#') << k;
        c->dot |= (uint64_t)(b == '.') << k;
        c->newline |= (uint64_t)(b == '\n') << k;
        c->ws3 |= (uint64_t)(b == ' ' || b == '\n' || b == '\t') << k;
    }
#endif
    c->start = ~high | lead;
    for (uint64_t leads = lead; leads; leads &= leads - 1) {  /* multi-byte characters: by code point */
        int j = __builtin_ctzll(leads);
        if (p + j >= row_end) break;
        int l;
        uint32_t cp = decode(p + j, &l);
        uint8_t fl = FLAGS[cp];
        uint64_t bit = 1ull << j;
        if ((want & C_CASE) && (fl & F_UPPER)) c->upper |= bit;
        if ((want & C_CASE) && (fl & F_BAD)) c->bad |= bit;
        if ((want & C_PUNCT) && cp == 0x2026) c->ellipsis |= bit;
        if (!(fl & (F_WS | ((want & C_WORD) ? F_WORD : 0)))) continue;
        uint64_t bytes = (l >= 64 - j ? ~0ull << j : ((1ull << l) - 1) << j);
        uint64_t spill = j + l > 64 ? (1ull << (j + l - 64)) - 1 : 0;
        if (fl & F_WS) { c->ws |= bytes; *spill_ws |= spill; }
        if ((want & C_WORD) && (fl & F_WORD)) { c->word |= bytes; *spill_word |= spill; }
    }
}

/* Bits [0, k) of a 64-bit word, k in [0, 64]. */
static inline uint64_t low_bits(int64_t k) { return k >= 64 ? ~0ull : (1ull << k) - 1; }

/* One row read 64 bytes at a time. After scan_next(), c holds the classes of bytes [base, base + 64)
 * with the trailing bytes of a character begun in the previous chunk included, and valid the bits
 * that lie inside the row. */
typedef struct {
    const uint8_t *p, *e, *limit;
    int64_t base;
    uint64_t valid, spill_ws, spill_word;
    chunk c;
} scan;

static inline void scan_start(scan *s, const uint8_t *p, const uint8_t *e, const uint8_t *limit) {
    s->p = p;
    s->e = e;
    s->limit = limit;
    s->base = -64;
    s->spill_ws = s->spill_word = 0;
}

static inline __attribute__((always_inline)) int scan_next(scan *s, const int want) {
    s->base += 64;
    if (s->base >= s->e - s->p) return 0;
    uint64_t ws = s->spill_ws, word = s->spill_word;
    s->spill_ws = s->spill_word = 0;
    classify64(s->p + s->base, s->e, s->limit, &s->c, &s->spill_ws, &s->spill_word, want);
    s->c.ws |= ws;
    s->c.word |= word;
    s->valid = low_bits(s->e - s->p - s->base);
    return 1;
}

#endif
