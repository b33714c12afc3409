/* Per-row text metrics for the general-text rule filters, one pass over each row's UTF-8 bytes.
 *
 * Why C: DataFlow's filters are Python str methods in a row loop; expressing them in DuckDB SQL
 * costs a list or a regex extraction per row and filter, no faster per byte than CPython. These
 * kernels read an Arrow string array (int32 offsets + data) in place and write one number a row.
 *
 * Unicode semantics are Python's own: the character classes (str.isspace, \w, isupper/islower/
 * istitle) and the lower-case mapping are tables that native.py builds from CPython's str methods
 * at load time and hands over in dft_init(). The two lower-case mappings that are not one code
 * point to one code point (U+0130 expands, U+03A3 depends on its neighbours) are marked SPECIAL:
 * a row containing one is flagged and native.py answers it with Python's str.lower().
 *
 * No global state besides those read-only tables: every kernel may run in several threads at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define F_WS 1u     /* str.isspace() */
#define F_WORD 2u   /* re's \w: str.isalnum() or '_' */
#define F_UPPER 4u  /* Py_UNICODE_ISUPPER and not lower/title: counts towards str.isupper() */
#define F_BAD 8u    /* lower or title case: makes str.isupper() false */

#define LOWER_SAME 0u
#define LOWER_SPECIAL 0xFFFFFFFFu

static const uint8_t *FLAGS;     /* 0x110000 entries */
static const uint32_t *LOWER;    /* n_lower entries: LOWER_SAME, LOWER_SPECIAL or the lower-case code point */
static int64_t N_LOWER;

void dft_init(const uint8_t *flags, const uint32_t *lower, int64_t n_lower) {
    FLAGS = flags;
    LOWER = lower;
    N_LOWER = n_lower;
}

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
#define NEXT(cp, fl) int _l; uint32_t cp = decode(p, &_l); uint8_t fl = FLAGS[cp]; p += _l

/* len(t.split()) and the code points in those tokens (for the mean word length). */
void dft_words(const int32_t *off, const uint8_t *data, int64_t n, int64_t *words, int64_t *chars) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t w = 0, c = 0;
        uint8_t prev_ws = 1;
        while (p < e) {
            NEXT(cp, fl);
            (void)cp;
            uint8_t ws = fl & F_WS;
            w += prev_ws & (ws ^ 1);
            c += ws ^ 1;
            prev_ws = ws;
        }
        words[i] = w;
        if (chars) chars[i] = c;
    }
}

/* len(t.strip().replace(' ', '').replace('\n', '').replace('\t', '')) */
void dft_char_number(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t idx = 0, ascii3 = 0, first = -1, a3_first = 0, last = -1, a3_last = 0;
        while (p < e) {
            NEXT(cp, fl);
            if (!(fl & F_WS)) {
                if (first < 0) { first = idx; a3_first = ascii3; }
                last = idx;
                a3_last = ascii3;
            } else if (cp == ' ' || cp == '\n' || cp == '\t') {
                ascii3++;
            }
            idx++;
        }
        out[i] = first < 0 ? 0 : (last - first + 1) - (a3_last - a3_first);
    }
}

static inline int sentence_stop(uint32_t cp) { return cp == '.' || cp == '!' || cp == '?' || cp == '\n'; }

/* len(re.findall(r"\b[^.!?\n]+[.!?]*", t)): a match starts at a word boundary on a character
 * other than .!?\n, takes the whole run of such characters (greedy, no backtracking needed) and
 * the run of .!? after it; the search resumes where the match ended. */
void dft_sentences(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t count = 0;
        int prev_word = 0;  /* \w-ness of the character before p (none at the start: not a word) */
        while (p < e) {
            NEXT(cp, fl);
            int word = (fl & F_WORD) != 0;
            if (word != prev_word && !sentence_stop(cp)) {
                count++;
                /* consume the rest of the run and the trailing .!? characters */
                uint32_t last = cp;
                uint8_t last_fl = fl;
                while (p < e) {
                    int l;
                    uint32_t c2 = decode(p, &l);
                    if (sentence_stop(c2)) break;
                    p += l;
                    last = c2;
                    last_fl = FLAGS[c2];
                }
                while (p < e && (*p == '.' || *p == '!' || *p == '?')) { last = *p; last_fl = FLAGS[*p]; p++; }
                (void)last;
                prev_word = (last_fl & F_WORD) != 0;
                continue;
            }
            prev_word = word;
        }
        out[i] = count;
    }
}

/* (t.count('#') + t.count('...') + t.count('…')) / len(re.findall(r"\w+|[^\w\s]+", t)); NaN: no token. */
void dft_symbol_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t tokens = 0, symbols = 0, dots = 0;
        int prev = 0; /* 0 space/start, 1 word run, 2 punct run */
        while (p < e) {
            NEXT(cp, fl);
            int cls = (fl & F_WS) ? 0 : ((fl & F_WORD) ? 1 : 2);
            tokens += (cls != 0 && cls != prev);
            prev = cls;
            if (cp == '.') { dots++; continue; }
            symbols += dots / 3;
            dots = 0;
            symbols += (cp == '#') + (cp == 0x2026);
        }
        symbols += dots / 3;
        out[i] = tokens ? (double)symbols / (double)tokens : NAN;
    }
}

/* sum(w.isupper() for w in t.split()) / len(t.split()), 0.0 without words. */
void dft_capital_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t words = 0, caps = 0;
        int in_word = 0, any_upper = 0, any_bad = 0;
        while (p <= e) {
            uint8_t fl = F_WS;
            if (p < e) { int l; uint32_t cp = decode(p, &l); fl = FLAGS[cp]; p += l; } else { p++; }
            if (fl & F_WS) {
                if (in_word) { words++; caps += any_upper && !any_bad; }
                in_word = any_upper = any_bad = 0;
            } else {
                in_word = 1;
                any_upper |= (fl & F_UPPER) != 0;
                any_bad |= (fl & F_BAD) != 0;
            }
        }
        out[i] = words ? (double)caps / (double)words : 0.0;
    }
}

/* The lower-cased tokens of one row, written back to back into buf; starts/lens per token.
 * Returns the token count, or -1 when a SPECIAL code point needs Python's str.lower(). */
static int64_t lower_tokens(const uint8_t *p, const uint8_t *e, uint8_t *buf, int64_t *starts, int32_t *lens) {
    int64_t ntok = 0, pos = 0, tok_start = -1;
    while (p <= e) {
        uint32_t cp = ' ';
        int l = 1;
        if (p < e) cp = decode(p, &l);
        p += l;
        if (cp < 0x80 ? (FLAGS[cp] & F_WS) : (FLAGS[cp] & F_WS)) {
            if (tok_start >= 0) { starts[ntok] = tok_start; lens[ntok] = (int32_t)(pos - tok_start); ntok++; }
            tok_start = -1;
            continue;
        }
        if (tok_start < 0) tok_start = pos;
        if (cp < 0x80) {
            buf[pos++] = (uint8_t)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            continue;
        }
        uint32_t low = cp < (uint64_t)N_LOWER ? LOWER[cp] : LOWER_SAME;
        if (low == LOWER_SPECIAL) return -1;
        pos += encode(low == LOWER_SAME ? cp : low, buf + pos);
    }
    return ntok;
}

static inline uint64_t hash_bytes(const uint8_t *s, int32_t len) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t k = 0; k < len; k++) { h ^= s[k]; h *= 1099511628211ull; }
    return h ^ (h >> 29);
}

typedef struct { uint64_t *hashes; int64_t *starts; int32_t *lens; uint8_t *data; uint64_t mask; } wordset;

/* Scratch space for the lower-cased tokens of the longest row in a batch. */
typedef struct { uint8_t *buf; int64_t *starts; int32_t *lens; uint64_t *slots; int64_t *slot_tok; } scratch;

static int scratch_alloc(scratch *s, const int32_t *off, int64_t n, int with_slots) {
    int64_t longest = 0;
    for (int64_t i = 0; i < n; i++) if (off[i + 1] - off[i] > longest) longest = off[i + 1] - off[i];
    int64_t toks = longest / 2 + 2, cap = 16;
    while (cap < 2 * toks) cap <<= 1;
    s->buf = malloc((size_t)(2 * longest + 16));  /* lower-casing grows UTF-8 by at most 3/2 */
    s->starts = malloc(sizeof(int64_t) * (size_t)toks);
    s->lens = malloc(sizeof(int32_t) * (size_t)toks);
    s->slots = with_slots ? malloc(sizeof(uint64_t) * (size_t)cap) : NULL;
    s->slot_tok = with_slots ? malloc(sizeof(int64_t) * (size_t)cap) : NULL;
    return s->buf && s->starts && s->lens && (!with_slots || (s->slots && s->slot_tok)) ? 0 : -1;
}

static void scratch_free(scratch *s) {
    free(s->buf); free(s->starts); free(s->lens); free(s->slots); free(s->slot_tok);
}

/* len(set(t.lower().split())) / len(t.lower().split()); NaN without words; special[i] = 1 where
 * Python must answer. Returns -1 if scratch memory could not be allocated. */
int dft_unique_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out, uint8_t *special) {
    scratch s;
    if (scratch_alloc(&s, off, n, 1) != 0) { scratch_free(&s); return -1; }
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        special[i] = 0;
        int64_t ntok = lower_tokens(p, e, s.buf, s.starts, s.lens);
        if (ntok < 0) { special[i] = 1; out[i] = NAN; continue; }
        if (ntok == 0) { out[i] = NAN; continue; }
        uint64_t cap = 16;
        while (cap < (uint64_t)(2 * ntok)) cap <<= 1;
        memset(s.slot_tok, 0xFF, sizeof(int64_t) * cap);
        int64_t distinct = 0;
        for (int64_t t = 0; t < ntok; t++) {
            const uint8_t *w = s.buf + s.starts[t];
            uint64_t h = hash_bytes(w, s.lens[t]), k = h & (cap - 1);
            for (;;) {
                int64_t other = s.slot_tok[k];
                if (other < 0) { s.slot_tok[k] = t; s.slots[k] = h; distinct++; break; }
                if (s.slots[k] == h && s.lens[other] == s.lens[t] && memcmp(s.buf + s.starts[other], w, (size_t)s.lens[t]) == 0) break;
                k = (k + 1) & (cap - 1);
            }
        }
        out[i] = (double)distinct / (double)ntok;
    }
    scratch_free(&s);
    return 0;
}

/* A set of UTF-8 words (already lower-cased by the caller), open addressing on a 64-bit hash. */
wordset *dft_wordset_new(const uint8_t *blob, const int64_t *word_off, int64_t nwords) {
    wordset *ws = calloc(1, sizeof(wordset));
    if (!ws) return NULL;
    uint64_t cap = 16;
    while (cap < (uint64_t)(2 * nwords + 2)) cap <<= 1;
    ws->mask = cap - 1;
    ws->hashes = calloc(cap, sizeof(uint64_t));
    ws->starts = malloc(cap * sizeof(int64_t));
    ws->lens = calloc(cap, sizeof(int32_t));
    ws->data = malloc((size_t)word_off[nwords] + 1);
    if (!ws->hashes || !ws->starts || !ws->lens || !ws->data) return NULL;
    memcpy(ws->data, blob, (size_t)word_off[nwords]);
    for (uint64_t k = 0; k < cap; k++) ws->starts[k] = -1;
    for (int64_t w = 0; w < nwords; w++) {
        int32_t len = (int32_t)(word_off[w + 1] - word_off[w]);
        uint64_t h = hash_bytes(blob + word_off[w], len), k = h & ws->mask;
        while (ws->starts[k] >= 0) {
            if (ws->hashes[k] == h && ws->lens[k] == len && memcmp(ws->data + ws->starts[k], blob + word_off[w], (size_t)len) == 0) break;
            k = (k + 1) & ws->mask;
        }
        ws->hashes[k] = h; ws->starts[k] = word_off[w]; ws->lens[k] = len;
    }
    return ws;
}

void dft_wordset_free(wordset *ws) {
    if (!ws) return;
    free(ws->hashes); free(ws->starts); free(ws->lens); free(ws->data); free(ws);
}

static inline int wordset_has(const wordset *ws, const uint8_t *w, int32_t len) {
    uint64_t h = hash_bytes(w, len), k = h & ws->mask;
    while (ws->starts[k] >= 0) {
        if (ws->hashes[k] == h && ws->lens[k] == len && memcmp(ws->data + ws->starts[k], w, (size_t)len) == 0) return 1;
        k = (k + 1) & ws->mask;
    }
    return 0;
}

/* sum(w in words for w in t.lower().split()); special[i] = 1 where Python must answer. */
int dft_count_in(const int32_t *off, const uint8_t *data, int64_t n, const wordset *set, int64_t *out, uint8_t *special) {
    scratch s;
    if (scratch_alloc(&s, off, n, 0) != 0) { scratch_free(&s); return -1; }
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        special[i] = 0;
        int64_t ntok = lower_tokens(p, e, s.buf, s.starts, s.lens), hits = 0;
        if (ntok < 0) { special[i] = 1; out[i] = 0; continue; }
        for (int64_t t = 0; t < ntok; t++) hits += wordset_has(set, s.buf + s.starts[t], s.lens[t]);
        out[i] = hits;
    }
    scratch_free(&s);
    return 0;
}

/* DataFlow's split_paragraphs lines (split on '\n', blank ones dropped): the share whose
 * rstrip() ends with '...' or '…'; NaN without a non-blank line. */
void dft_ellipsis_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t lines = 0, hits = 0, dots = 0;
        int nonblank = 0, ellipsis = 0, gap = 0;
        while (p <= e) {
            uint32_t cp = '\n';
            int l = 1;
            if (p < e) cp = decode(p, &l);
            p += l;
            if (cp == '\n') {
                if (nonblank) { lines++; hits += dots >= 3 || ellipsis; }
                nonblank = ellipsis = gap = 0;
                dots = 0;
                continue;
            }
            if (FLAGS[cp] & F_WS) { gap = 1; continue; }
            if (gap) { dots = 0; gap = 0; }
            nonblank = 1;
            ellipsis = cp == 0x2026;
            dots = cp == '.' ? dots + 1 : 0;
        }
        out[i] = lines ? (double)hits / (double)lines : NAN;
    }
}
