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
#include "classify.h"

const uint8_t *FLAGS;
const uint32_t *LOWER;
int64_t N_LOWER;

void dft_init(const uint8_t *flags, const uint32_t *lower, int64_t n_lower) {
    FLAGS = flags;
    LOWER = lower;
    N_LOWER = n_lower;
}

/* len(t.split()) of one row, and the code points in those tokens. */
static inline void row_words(const uint8_t *p, const uint8_t *e, int64_t *words, int64_t *chars) {
    int64_t w = 0, c = 0;
    uint32_t prev_ws = 1, cp;
    while (p < e) {
        int k = 0;
        if (e - p >= 16) {  /* the ASCII prefix of the next 16 bytes, counted with bit masks */
            uint32_t ws = ws16(p, &k);
            if (k > 0) {
                uint32_t nonws = ~ws & valid_bits(k);
                w += __builtin_popcount(nonws & ((ws << 1) | prev_ws));
                c += __builtin_popcount(nonws);
                prev_ws = (ws >> (k - 1)) & 1u;
                p += k;
                continue;
            }
        }
        uint32_t ws = next_cp(&p, &cp) & F_WS;
        w += prev_ws & (ws ^ 1);
        c += ws ^ 1;
        prev_ws = ws;
    }
    *words = w;
    *chars = c;
}

/* len(t.split()) */
void dft_words(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        int64_t chars;
        row_words(data + off[i], data + off[i + 1], &out[i], &chars);
    }
}

/* sum(map(len, t.split())) / len(t.split()), the division Python does; NaN without words. */
void dft_mean_word_length(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        int64_t words, chars;
        row_words(data + off[i], data + off[i + 1], &words, &chars);
        out[i] = words ? (double)chars / (double)words : NAN;
    }
}

/* len(t.strip().replace(' ', '').replace('\n', '').replace('\t', '')): the non-whitespace
 * characters plus the other whitespace (no-break space, ideographic space, ...) that strip() leaves
 * between the first and the last of them. */
void dft_char_number(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    const uint8_t *limit = data + off[n];
    scan s;
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t nonws = 0, inside = 0, pending = 0;
        int seen = 0;
        scan_start(&s, p, e, limit);
        while (scan_next(&s, C_WS | C_WS3)) {
            const chunk c = s.c;
            uint64_t nw = c.start & ~c.ws & s.valid, rare = c.start & c.ws & ~c.ws3 & s.valid;
            nonws += __builtin_popcountll(nw);
            if (!rare && !pending) { seen |= nw != 0; continue; }
            if (!nw) { pending += seen ? __builtin_popcountll(rare) : 0; continue; }
            int lo = __builtin_ctzll(nw), hi = 63 - __builtin_clzll(nw);
            inside += seen ? pending + __builtin_popcountll(rare & low_bits(hi))
                           : __builtin_popcountll(rare & low_bits(hi) & ~low_bits(lo + 1));
            pending = __builtin_popcountll(rare & ~low_bits(hi + 1));
            seen = 1;
        }
        out[i] = nonws + inside;
    }
}

/* len(re.findall(r"\b[^.!?\n]+[.!?]*", t)). A match takes a whole maximal run of characters other
 * than .!?\n plus the .!? after it, and such a run holds a word boundary exactly when it holds a
 * word character (its left neighbour is a stop or the start, never \w): the count is the number
 * of runs containing a \w character. */
void dft_sentences(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t count = 0;
        uint32_t has_word = 0, cp;
        while (p < e) {
#if defined(__SSE2__)
            if (e - p >= 16) {
                __m128i v = load16(p);
                uint32_t high = (uint32_t)_mm_movemask_epi8(v);
                int k = high ? __builtin_ctz(high) : 16;
                if (k > 0) {
                    uint32_t valid = valid_bits(k), word = word16(v) & valid;
                    uint32_t stops = (eq16(v, '.') | eq16(v, '!') | eq16(v, '?') | eq16(v, '\n')) & valid;
                    uint32_t from = 0;  /* bits of the current run start here */
                    while (stops) {  /* one stop in ~100 bytes of prose: a short loop */
                        int s = __builtin_ctz(stops);
                        has_word |= (word & valid_bits(s) & ~valid_bits((int)from)) != 0;
                        count += has_word;
                        has_word = 0;
                        from = (uint32_t)s + 1;
                        stops &= stops - 1;
                    }
                    has_word |= (word & ~valid_bits((int)from)) != 0;
                    p += k;
                    continue;
                }
            }
#endif
            uint32_t word = (next_cp(&p, &cp) & F_WORD) != 0;
            uint32_t stop = (cp == '.') | (cp == '!') | (cp == '?') | (cp == '\n');
            count += stop & has_word;
            has_word = (stop ^ 1) & (has_word | word);
        }
        out[i] = count + has_word;
    }
}

/* Does [p, e) contain "...", "…" or (with_hash) '#'? One pass, 16 positions at a time. */
static int has_symbols(const uint8_t *p, const uint8_t *e, int with_hash) {
#if defined(__SSE2__)
    for (; e - p >= 18; p += 16) {
        __m128i v0 = load16(p), v1 = load16(p + 1), v2 = load16(p + 2);
        __m128i dots = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8('.')),
                                                   _mm_cmpeq_epi8(v1, _mm_set1_epi8('.'))),
                                     _mm_cmpeq_epi8(v2, _mm_set1_epi8('.')));
        __m128i ell = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8((char)0xE2)),
                                                  _mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0x80))),
                                    _mm_cmpeq_epi8(v2, _mm_set1_epi8((char)0xA6)));
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_or_si128(dots, ell));
        if (with_hash) m |= eq16(v0, '#');
        if (m) return 1;
    }
#endif
    return (with_hash && memchr(p, '#', (size_t)(e - p))) || contains(p, e, "...", 3)
           || contains(p, e, "\xE2\x80\xA6", 3);
}

/* ('{' count + '}' count) / max(len(t), 1) in code points. */
void dft_curly_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int64_t len = 0, curly = 0;
#if defined(__SSE2__)
        for (; e - p >= 16; p += 16) {
            __m128i v = load16(p);
            uint32_t cont = (uint32_t)_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8((char)0xC0)))
                            & (uint32_t)_mm_movemask_epi8(v);  /* 10xxxxxx: not a character start */
            len += 16 - __builtin_popcount(cont);
            curly += __builtin_popcount(eq16(v, '{') | eq16(v, '}'));
        }
#endif
        for (; p < e; p++) {
            len += (*p & 0xC0) != 0x80;  /* continuation bytes are not characters */
            curly += (*p == '{') + (*p == '}');
        }
        out[i] = (double)curly / (double)(len > 0 ? len : 1);
    }
}

/* 1 if an HTML entity name follows '&' or fullwidth '＆' (DataFlow's HtmlEntityFilter), else 0.
 * The names are heuristics_content.HTML_ENTITIES; test_native_kernels checks the two agree. */
static const char *ENTITIES[] = {"nbsp", "lt", "gt", "amp", "quot", "apos", "hellip", "ndash", "mdash",
                                 "lsquo", "rsquo", "ldquo", "rdquo"};

static inline int entity_at(const uint8_t *p, const uint8_t *e) {
    for (size_t k = 0; k < sizeof ENTITIES / sizeof *ENTITIES; k++) {
        size_t len = strlen(ENTITIES[k]);
        if ((size_t)(e - p) >= len && memcmp(p, ENTITIES[k], len) == 0) return 1;
    }
    return 0;
}

void dft_html_entity(const int32_t *off, const uint8_t *data, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        int found = 0;
#if defined(__SSE2__)
        for (; !found && e - p >= 18; p += 16) {  /* '&' or the bytes of '＆' (EF BC 86), 16 at a time */
            __m128i v0 = load16(p);
            uint32_t m = eq16(v0, '&');
            uint32_t lead = eq16(v0, (char)0xEF);
            if (lead) m |= lead & eq16(load16(p + 1), (char)0xBC) & eq16(load16(p + 2), (char)0x86);
            for (; m && !found; m &= m - 1) {
                int j = __builtin_ctz(m);
                found = entity_at(p + j + (p[j] == '&' ? 1 : 3), e);
            }
        }
#endif
        for (const uint8_t *q = p; !found && q < e; q++) {
            if (*q == '&') found = entity_at(q + 1, e);
            else if (*q == 0xEF && e - q >= 3 && q[1] == 0xBC && q[2] == 0x86) found = entity_at(q + 3, e);
        }
        out[i] = found;
    }
}

/* DataFlow's split_paragraphs lines (split on '\n', blank ones dropped): the share whose
 * rstrip() ends with '...' or '…'; NaN without a non-blank line. Per 64 bytes: the last non-blank
 * character before each newline decides its line. */
void dft_ellipsis_ratio(const int32_t *off, const uint8_t *data, int64_t n, double *out) {
    const uint8_t *limit = data + off[n];
    scan s;
    for (int64_t i = 0; i < n; i++) {
        ROW(i);
        if (!has_symbols(p, e, 0)) {
            out[i] = has_nonblank(p, e) ? 0.0 : NAN;
            continue;
        }
        int64_t lines = 0, hits = 0;
        uint64_t prev_dot = 0, line_has = 0, line_hit = 0;
        scan_start(&s, p, e, limit);
        while (scan_next(&s, C_WS | C_PUNCT)) {
            const chunk c = s.c;
            uint64_t nonblank = c.start & ~c.ws & s.valid, nl = c.newline & s.valid;
            uint64_t dots3 = c.dot & ((c.dot << 1) | (prev_dot >> 63)) & ((c.dot << 2) | (prev_dot >> 62));
            uint64_t ends_hit = dots3 | c.ellipsis;  /* a character that ends "..." or is '…' */
            prev_dot = c.dot;
            int from = 0;
            for (;;) {
                int to = nl ? __builtin_ctzll(nl) : 64;
                uint64_t seg = nonblank & low_bits(to) & ~low_bits(from);
                if (seg) {
                    int last = 63 - __builtin_clzll(seg);
                    line_has = 1;
                    line_hit = (ends_hit >> last) & 1;
                }
                if (!nl) break;
                lines += line_has;
                hits += line_has & line_hit;
                line_has = line_hit = 0;
                from = to + 1;
                nl &= nl - 1;
            }
        }
        lines += line_has;
        hits += line_has & line_hit;
        out[i] = lines ? (double)hits / (double)lines : NAN;
    }
}
