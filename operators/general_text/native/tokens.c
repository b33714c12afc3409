/* Token-level kernels: str.isupper() shares, wordpunct symbol ratios, and the kernels that need
 * each lower-cased str.split() token (word-set counts, distinct words).
 *
 * Token boundaries come from 64-byte whitespace masks (classify.h), so the scan does not mispredict
 * a branch per character or per token; an ASCII token of up to 8 bytes is lower-cased and keyed in
 * a register (SWAR), longer or non-ASCII ones through the code-point tables. Reads never pass the
 * end of the Arrow data buffer (`limit`).
 */
#include "classify.h"

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

/* str.split() of [p, e): token k is [p + starts[k], p + ends[k]). Boundaries come from 64-bit
 * whitespace masks, so the scan costs no branch per character or per token. */
static int64_t split_tokens(const uint8_t *p, const uint8_t *e, const uint8_t *limit, int32_t *starts, int32_t *ends) {
    int64_t ns = 0, ne = 0;
    uint64_t prev_ws = 1;
    scan s;
    scan_start(&s, p, e, limit);
    while (scan_next(&s, C_WS)) {
        uint64_t ws = s.c.ws | ~s.valid;  /* past the end counts as whitespace: closes the last token */
        uint64_t before = (ws << 1) | prev_ws;  /* bit j: byte j - 1 is whitespace */
        uint64_t startm = ~ws & before, endm = ws & ~before;
        for (; startm; startm &= startm - 1) starts[ns++] = (int32_t)(s.base + __builtin_ctzll(startm));
        for (; endm; endm &= endm - 1) ends[ne++] = (int32_t)(s.base + __builtin_ctzll(endm));
        prev_ws = ws >> 63;
    }
    if (ne < ns) ends[ne++] = (int32_t)(e - p);  /* a token running to a 64-aligned end */
    return ns;
}

/* Runs of `tokens` bits (starting at `starts`) holding no `marked` bit, in one 64-bit chunk: the
 * carry from each run start ripples through its unmarked bits and stops on a marked bit (inside the
 * run) or on the first bit after it. *carry links runs that continue into the next chunk. */
static inline int64_t runs_without(uint64_t tokens, uint64_t starts, uint64_t marked, uint64_t *carry) {
    uint64_t clean = tokens & ~marked, sum;
    uint64_t out = __builtin_add_overflow(clean, starts & ~marked, &sum);
    out |= __builtin_add_overflow(sum, *carry, &sum);
    *carry = out;
    return __builtin_popcountll(sum & ~clean & ~tokens);
}

/* sum(w.isupper() for w in t.split()) / len(t.split()), 0.0 without words: tokens with no
 * lower/title-case character, minus those with no cased character at all. */
void dft_capital_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    const uint8_t *limit = data + off[n];
    scan s;
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t words = 0, no_bad = 0, uncased = 0;
        uint64_t prev_ws = 1, carry_bad = 0, carry_cased = 0;
        scan_start(&s, p, e, limit);
        while (scan_next(&s, C_WS | C_CASE)) {
            uint64_t ws = s.c.ws | ~s.valid;
            uint64_t tokens = ~ws, starts = tokens & ((ws << 1) | prev_ws);
            words += __builtin_popcountll(starts);
            no_bad += runs_without(tokens, starts, s.c.bad, &carry_bad);
            uncased += runs_without(tokens, starts, s.c.bad | s.c.upper, &carry_cased);
            prev_ws = ws >> 63;
        }
        int64_t caps = no_bad + (int64_t)carry_bad - uncased - (int64_t)carry_cased;
        out[i] = words ? (double)caps / (double)words : 0.0;
    }
}

/* (t.count('#') + t.count('...') + t.count('…')) / len(re.findall(r"\w+|[^\w\s]+", t)); NaN: no
 * token. Tokens are runs of \w bytes and runs of other non-blank bytes. */
void dft_symbol_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    const uint8_t *limit = data + off[n];
    scan s;
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t tokens = 0, symbols = 0, dots = 0;
        uint64_t prev_w = 0, prev_p = 0;
        scan_start(&s, p, e, limit);
        while (scan_next(&s, C_WS | C_WORD | C_PUNCT)) {
            const chunk c = s.c;
            uint64_t ws = c.ws, valid = s.valid, word = c.word & ~ws & valid;
            uint64_t punct = ~ws & ~word & valid;
            tokens += __builtin_popcountll(word & ~((word << 1) | prev_w));
            tokens += __builtin_popcountll(punct & ~((punct << 1) | prev_p));
            prev_w = word >> 63;
            prev_p = punct >> 63;
            symbols += __builtin_popcountll((c.hash | c.ellipsis) & valid);
            uint64_t d = c.dot & valid;  /* runs of '.': each counts len // 3 (str.count, non-overlapping) */
            int64_t at = 0;
            while (d) {
                int s = __builtin_ctzll(d);
                if (s != at && dots) { symbols += dots / 3; dots = 0; }  /* the run carried in has ended */
                uint64_t rest = d >> s;
                int run = rest == ~0ull >> s ? 64 - s : __builtin_ctzll(~rest);
                dots += run;
                at = s + run;
                if (at < 64) { symbols += dots / 3; dots = 0; }
                d = at >= 64 ? 0 : d & ~low_bits(at);
            }
            if (at == 0 && dots) { symbols += dots / 3; dots = 0; }  /* no dot at byte 0: a carried run ended */
        }
        symbols += dots / 3;
        out[i] = tokens ? (double)symbols / (double)tokens : NAN;
    }
}

/* Eight bytes from s (fewer than 8 readable before limit: zero-filled). */
static inline uint64_t load8(const uint8_t *s, const uint8_t *limit) {
    uint64_t v = 0;
    if (limit - s >= 8) memcpy(&v, s, 8);
    else memcpy(&v, s, (size_t)(limit - s));
    return v;
}

/* 'A'..'Z' -> 'a'..'z' in eight ASCII bytes at once. */
static inline uint64_t lower8(uint64_t x) {
    uint64_t ge_a = x + ONES * (0x80 - 'A'), gt_z = x + ONES * (0x7F - 'Z');
    return x | (((ge_a ^ gt_z) & HIGH) >> 2);
}

/* Lower-case token [ts, te) into out (room for 2 * len + 8 bytes); its byte length, or -1 when a
 * SPECIAL code point needs Python. ASCII tokens (checked on the way) go 8 bytes at a time. */
static inline int64_t lower_token(const uint8_t *ts, const uint8_t *te, const uint8_t *limit, uint8_t *out) {
    int64_t len = te - ts;
    uint64_t high = 0;
    for (int64_t k = 0; k < len; k += 8) {
        uint64_t v = load8(ts + k, limit);
        if (len - k < 8) v &= ~0ull >> (64 - 8 * (len - k));
        high |= v & HIGH;
        v = lower8(v);
        memcpy(out + k, &v, 8);
    }
    if (!high) return len;
    int64_t pos = 0;
    while (ts < te) {
        int l;
        uint32_t cp = decode(ts, &l);
        ts += l;
        if (cp < 0x80) { out[pos++] = (uint8_t)(cp - 'A' < 26u ? cp + 32 : cp); continue; }
        uint32_t low = cp < (uint64_t)N_LOWER ? LOWER[cp] : LOWER_SAME;
        if (low == LOWER_SPECIAL) return -1;
        pos += encode(low == LOWER_SAME ? cp : low, out + pos);
    }
    return pos;
}

/* A 64-bit hash of a short byte string, 8 bytes a step; s must be readable 8 bytes past len. */
static inline uint64_t hash_bytes(const uint8_t *s, int64_t len) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)len, v;
    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    if (len > 0) {
        memcpy(&v, s, 8);
        v &= ~0ull >> (64 - 8 * len);
        h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    }
    return h ^ (h >> 29);
}

/* ---- sets of lower-cased tokens ------------------------------------------------------------- */

/* A token's identity in a hash slot: up to 8 bytes, the bytes themselves (one compare decides);
 * longer, its hash (then the bytes are compared). w must be readable 8 bytes past len. */
static inline uint64_t token_key(const uint8_t *w, int64_t len) {
    if (len > 8) return hash_bytes(w, len);
    uint64_t v;
    memcpy(&v, w, 8);
    return len ? v & (~0ull >> (64 - 8 * len)) : 0;
}

/* Lower-case a token and give its key: an ASCII token of up to 8 bytes stays in a register, any
 * other is written to buf (room for 2 * len + 8 bytes). Its lower-cased length, or -1 (SPECIAL). */
static inline int64_t lower_key(const uint8_t *ts, const uint8_t *te, const uint8_t *limit, uint8_t *buf,
                                uint64_t *key) {
    int64_t len = te - ts;
    if (len <= 8) {
        uint64_t v = load8(ts, limit) & (~0ull >> (64 - 8 * len));
        if (!(v & HIGH)) { *key = lower8(v); return len; }
    }
    len = lower_token(ts, te, limit, buf);
    *key = len >= 0 ? token_key(buf, len) : 0;
    return len;
}

static inline uint64_t slot_of(uint64_t key, int64_t len) {
    uint64_t h = (key ^ (uint64_t)len) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

typedef struct { uint64_t key; int64_t start; int32_t len; int32_t used; } slot;

static inline int same(const slot *s, uint64_t key, int64_t len, const uint8_t *base, const uint8_t *w) {
    return s->key == key && s->len == len && (len <= 8 || memcmp(base + s->start, w, (size_t)len) == 0);
}

/* A fixed word set (stop words, a blocklist) as a two-choice cuckoo table: every word sits in one
 * of its two candidate slots, so a lookup reads both and decides without a probing loop; for a
 * token of up to 8 bytes the decision has no branch at all. len == 0 marks an empty slot. */
typedef struct { uint64_t key; uint32_t start, len; } wslot;
typedef struct { wslot *slots; uint8_t *data; uint64_t mask; int64_t longest; } wordset;

static inline void candidates(const wordset *ws, uint64_t key, int64_t len, uint64_t *k1, uint64_t *k2) {
    uint64_t h = slot_of(key, len);
    *k1 = h & ws->mask;
    *k2 = ((h >> 32) | 1) & ws->mask;  /* odd offset from nothing in particular; may equal k1 in tiny tables */
    if (*k2 == *k1) *k2 = (*k1 + 1) & ws->mask;
}

static inline int wordset_has(const wordset *ws, uint64_t key, const uint8_t *w, int64_t len) {
    uint64_t k1, k2;
    candidates(ws, key, len, &k1, &k2);
    const wslot *a = &ws->slots[k1], *b = &ws->slots[k2];
    int hit_a = (a->key == key) & (a->len == len), hit_b = (b->key == key) & (b->len == len);
    if (len <= 8) return hit_a | hit_b;  /* the key is the bytes */
    return (hit_a && memcmp(ws->data + a->start, w, (size_t)len) == 0)
           || (hit_b && memcmp(ws->data + b->start, w, (size_t)len) == 0);
}

static int cuckoo_insert(wordset *ws, wslot s) {
    for (int kick = 0; kick < 64; kick++) {
        uint64_t k1, k2;
        candidates(ws, s.key, s.len, &k1, &k2);
        if (!ws->slots[k1].len) { ws->slots[k1] = s; return 0; }
        if (!ws->slots[k2].len) { ws->slots[k2] = s; return 0; }
        uint64_t k = kick & 1 ? k2 : k1;  /* evict a resident and re-home it */
        wslot out = ws->slots[k];
        ws->slots[k] = s;
        s = out;
    }
    return -1;
}

/* A set of UTF-8 words (already lower-cased by the caller). */
wordset *dft_wordset_new(const uint8_t *blob, const int64_t *word_off, int64_t nwords) {
    wordset *ws = calloc(1, sizeof(wordset));
    if (!ws) return NULL;
    ws->data = calloc((size_t)word_off[nwords] + 8, 1);  /* +8: keys read whole words */
    if (!ws->data) { free(ws); return NULL; }
    memcpy(ws->data, blob, (size_t)word_off[nwords]);
    for (uint64_t cap = 16;; cap <<= 1) {
        if (cap < (uint64_t)(4 * nwords)) continue;
        free(ws->slots);
        ws->slots = calloc(cap, sizeof(wslot));
        if (!ws->slots) { free(ws->data); free(ws); return NULL; }
        ws->mask = cap - 1;
        ws->longest = 0;
        int ok = 1;
        for (int64_t w = 0; ok && w < nwords; w++) {
            int64_t len = word_off[w + 1] - word_off[w];
            const uint8_t *word = ws->data + word_off[w];
            if (len == 0 || wordset_has(ws, token_key(word, len), word, len)) continue;
            ok = cuckoo_insert(ws, (wslot){token_key(word, len), (uint32_t)word_off[w], (uint32_t)len}) == 0;
            if (len > ws->longest) ws->longest = len;
        }
        if (ok) return ws;  /* else: a cycle of evictions, rebuild twice as large */
    }
}

void dft_wordset_free(wordset *ws) {
    if (!ws) return;
    free(ws->slots); free(ws->data); free(ws);
}

static int64_t longest_row(const int32_t *off, int64_t n) {
    int64_t longest = 0;
    for (int64_t i = 0; i < n; i++) if (off[i + 1] - off[i] > longest) longest = off[i + 1] - off[i];
    return longest;
}

/* Per-batch scratch: lower-cased bytes and token boundaries of the longest row. */
typedef struct { uint8_t *buf; int32_t *starts, *ends; } scratch;

static int scratch_new(scratch *s, int64_t longest) {
    int64_t max_tok = longest / 2 + 2;
    s->buf = malloc((size_t)(2 * longest + 16));  /* lower-casing grows UTF-8 by <= 3/2; +8 for keys */
    s->starts = malloc(sizeof(int32_t) * (size_t)max_tok);
    s->ends = malloc(sizeof(int32_t) * (size_t)max_tok);
    return s->buf && s->starts && s->ends ? 0 : -1;
}

static void scratch_free(scratch *s) { free(s->buf); free(s->starts); free(s->ends); }

/* sum(w in words for w in t.lower().split()); special[i] = 1 where Python must answer. */
int dft_count_in(const int32_t *off, const uint8_t *data, int64_t n, const wordset *set, int64_t *out, uint8_t *special) {
    const uint8_t *limit = data + off[n];
    scratch s;
    if (scratch_new(&s, longest_row(off, n)) != 0) { scratch_free(&s); return -1; }
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t ntok = split_tokens(p, e, limit, s.starts, s.ends), hits = 0;
        special[i] = 0;
        for (int64_t t = 0; t < ntok; t++) {
            const uint8_t *ts = p + s.starts[t], *te = p + s.ends[t];
            if (te - ts > 3 * set->longest) continue;  /* lower-casing shrinks UTF-8 by at most 3x */
            uint64_t key;
            int64_t len = lower_key(ts, te, limit, s.buf, &key);
            if (len < 0) { special[i] = 1; break; }
            hits += wordset_has(set, key, s.buf, len);
        }
        out[i] = hits;
    }
    scratch_free(&s);
    return 0;
}

/* len(set(t.lower().split())) / len(t.lower().split()); NaN without words; special[i] = 1 where
 * Python must answer. Returns -1 if scratch memory could not be allocated. */
int dft_unique_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out, uint8_t *special) {
    const uint8_t *limit = data + off[n];
    scratch s;
    int ok = scratch_new(&s, longest_row(off, n)) == 0;
    slot *slots = NULL;  /* sized by the most tokens a row of this batch has, not by its longest row */
    uint64_t cap = 0;
    int32_t stamp = 0;   /* slot.used == stamp: filled for this row (no clearing between rows) */
    for (int64_t i = 0; ok && i < n; i++) {
        ROW(i);
        int64_t ntok = split_tokens(p, e, limit, s.starts, s.ends), pos = 0, distinct = 0;
        uint64_t c = 16;
        while (c < (uint64_t)(2 * ntok)) c <<= 1;
        if (c > cap) {
            free(slots);
            slots = calloc(c, sizeof(slot));
            cap = c;
            stamp = 0;
            if (!slots) { ok = 0; break; }
        }
        if (++stamp == 0) { memset(slots, 0, sizeof(slot) * cap); stamp = 1; }
        special[i] = 0;
        for (int64_t t = 0; t < ntok; t++) {
            uint8_t *w = s.buf + pos;
            uint64_t key;
            int64_t len = lower_key(p + s.starts[t], p + s.ends[t], limit, w, &key);
            if (len < 0) { special[i] = 1; break; }
            pos += len > 8 ? len : 0;  /* longer tokens keep their bytes for the comparison */
            uint64_t k = slot_of(key, len) & (c - 1);
            while (slots[k].used == stamp && !same(&slots[k], key, len, s.buf, w)) k = (k + 1) & (c - 1);
            int fresh = slots[k].used != stamp;  /* new or repeated word: no branch on which */
            distinct += fresh;
            slots[k] = fresh ? (slot){key, w - s.buf, (int32_t)len, stamp} : slots[k];
        }
        out[i] = special[i] || ntok == 0 ? NAN : (double)distinct / (double)ntok;
    }
    scratch_free(&s);
    free(slots);
    return ok ? 0 : -1;
}
