/* WFDB signal-file decoding straight to physical units; see ecgedge_wfdb.h. Replaces numpy's chain of
 * frombuffer -> int32 -> transposed float32 copy -> checksum sum -> subtract -> divide -> invalid-code scan,
 * each a pass over the record, by one pass per signal (a 12-lead 10-s 500 Hz record: ~5x faster). */
#include "ecgedge_wfdb.h"

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(EE_NO_CLONES) && !defined(__clang__)
#define EE_WFDB_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EE_WFDB_HOT
#endif

/* One signal: its column of the interleaved frames. Plain strided loads; the divide dominates. */
EE_WFDB_HOT static void signal16(const uint8_t *restrict buf, int64_t frames, int width, int s, float base,
                                 float gain, float *restrict out, int64_t *sum, int64_t *bad, int64_t *lo,
                                 int64_t *hi) {
    int64_t acc = 0, nbad = 0;
    int32_t mn = 32767, mx = -32768;
    const uint8_t *p = buf + 2 * (size_t)s;
    const size_t step = 2 * (size_t)width;
    for (int64_t t = 0; t < frames; t++, p += step) {
        const int32_t d = (int16_t)(uint16_t)(p[0] | (p[1] << 8));
        acc += d;
        nbad += d == -32768;
        mn = d < mn ? d : mn;
        mx = d > mx ? d : mx;
        out[t] = ((float)d - base) / gain;
    }
    if (nbad) {
        p = buf + 2 * (size_t)s;
        for (int64_t t = 0; t < frames; t++, p += step)
            if (p[0] == 0x00 && p[1] == 0x80) out[t] = NAN;
    }
    *sum = acc;
    *bad = nbad;
    *lo = mn;
    *hi = mx;
}

double ee_wfdb16(const uint8_t *buf, int64_t frames, int width, const float *base, const float *gain, float *out,
                 int64_t *sums, int64_t *invalid, int64_t *lo, int64_t *hi) {
    double peak = 0.0;
    int any_invalid = 0;
    for (int s = 0; s < width; s++) {
        signal16(buf, frames, width, s, base[s], gain[s], out + (size_t)s * (size_t)frames, sums + s, invalid + s,
                 lo + s, hi + s);
        /* volatile: the same float32 rounding as the samples' (no wider intermediate, no contraction) */
        volatile float a = ((float)lo[s] - base[s]) / gain[s], b = ((float)hi[s] - base[s]) / gain[s];
        const double m = fmax(fabs((double)a), fabs((double)b));
        if (!(m <= peak)) peak = m; /* a NaN (0/0 cannot occur: gain != 0) or inf propagates */
        any_invalid |= invalid[s] != 0;
    }
    return any_invalid ? NAN : peak;
}

/* ---------------------------------------------------------------------------------------------------- headers */

#include <stdlib.h>
#include <string.h>

#define EE_MIN_FS 1.0
#define EE_MAX_FS 100000.0
#define EE_MIN_GAIN 1e-6
#define EE_MAX_GAIN 1e15
#define EE_MAX_TOKENS 9

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* [0-9]{1,18} with an optional leading '-' (allow_minus), the whole token shorter than 19 characters: Python's
 * int() of it, exactly (what the full parser's fast path accepts). */
static int parse_int(const char *s, int32_t len, int allow_minus, int64_t *out) {
    int neg = 0;
    if (len >= 19 || len < 1) return 0;
    if (s[0] == '-') {
        if (!allow_minus || len < 2) return 0;
        neg = 1;
        s++;
        len--;
    }
    int64_t v = 0;
    for (int32_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* [0-9]{lo,hi} at s[*i]: advances *i; 0 if the count is outside [lo, hi]. */
static int digits(const char *s, int32_t len, int32_t *i, int lo, int hi) {
    int32_t j = *i;
    while (j < len && s[j] >= '0' && s[j] <= '9') j++;
    const int32_t k = j - *i;
    *i = j;
    return k >= lo && k <= hi;
}

/* [0-9]+(\.[0-9]*)? of at most 40 characters: strtod rounds it correctly, as Python's float() does. */
static int parse_float(const char *s, int32_t len, double *out) {
    char buf[41];
    int32_t i = 0;
    if (len < 1 || len > 40 || !digits(s, len, &i, 1, len)) return 0;
    if (i < len && s[i] == '.') {
        i++;
        digits(s, len, &i, 0, len);
    }
    if (i != len) return 0;
    memcpy(buf, s, (size_t)len);
    buf[len] = 0;
    *out = strtod(buf, NULL);
    return 1;
}

/* Split [a, b) at blanks into at most max tokens; with max reached, the last token is the rest of the line with its
 * trailing blanks stripped (Python's str.split(None, max - 1) and then .strip() of the last part). */
static int tokens(const char *t, int32_t a, int32_t b, ee_span *tok, int max) {
    int k = 0;
    int32_t i = a;
    while (i < b) {
        while (i < b && is_blank(t[i])) i++;
        if (i >= b) break;
        if (k == max - 1) {
            int32_t e = b;
            while (e > i && is_blank(t[e - 1])) e--;
            tok[k++] = (ee_span){i, e - i};
            return k;
        }
        int32_t j = i;
        while (j < b && !is_blank(t[j])) j++;
        tok[k++] = (ee_span){i, j - i};
        i = j;
    }
    return k;
}

/* The full parser's base time: \d{1,2}:\d{1,2}(:\d{1,2}(\.\d*)?)? */
static int is_time(const char *s, int32_t len) {
    int32_t i = 0;
    if (!digits(s, len, &i, 1, 2) || i >= len || s[i++] != ':' || !digits(s, len, &i, 1, 2)) return 0;
    if (i == len) return 1;
    if (s[i++] != ':' || !digits(s, len, &i, 1, 2)) return 0;
    if (i == len) return 1;
    if (s[i++] != '.') return 0;
    digits(s, len, &i, 0, len);
    return i == len;
}

/* The full parser's base dates: \d{1,2}/\d{1,2}/\d{1,4} and \d{4}-\d{1,2}-\d{1,2} */
static int is_date(const char *s, int32_t len) {
    int32_t i = 0;
    if (digits(s, len, &i, 1, 2) && i < len && s[i] == '/') {
        i++;
        return digits(s, len, &i, 1, 2) && i < len && s[i++] == '/' && digits(s, len, &i, 1, 4) && i == len;
    }
    i = 0;
    return digits(s, len, &i, 4, 4) && i < len && s[i++] == '-' && digits(s, len, &i, 1, 2) && i < len &&
           s[i++] == '-' && digits(s, len, &i, 1, 2) && i == len;
}

static int signal_line(const char *t, int32_t a, int32_t b, int32_t line, ee_hea_signal *s) {
    ee_span tok[EE_MAX_TOKENS];
    const int k = tokens(t, a, b, tok, EE_MAX_TOKENS);
    if (k < 8) return 0;
    const char *f = t + tok[0].off;
    const int32_t fl = tok[0].len;
    if (f[0] == '/' || f[0] == '\\' || f[0] == ':' || (fl > 1 && f[1] == ':') || (fl == 1 && f[0] == '~')) return 0;
    for (int32_t i = 0; i + 1 < fl; i++)
        if (f[i] == '.' && f[i + 1] == '.') return 0;
    s->file = tok[0];
    /* format: digits without a leading zero (the full parser normalises "016"), then optional x<spf>, :<skew>,
     * +<offset> in that order (the full parser's regex), each plain digits */
    const char *m = t + tok[1].off;
    const int32_t ml = tok[1].len;
    int32_t i = 0;
    int64_t v;
    digits(m, ml, &i, 0, ml);
    if (ml > 40 || !parse_int(m, i, 0, &v) || (m[0] == '0' && i > 1)) return 0;
    s->fmt = (ee_span){tok[1].off, i};
    s->spf = 1;
    s->skew = s->offset = 0;
    const char marks[3] = {'x', ':', '+'};
    int64_t *dest[3] = {&s->spf, &s->skew, &s->offset};
    for (int f = 0; f < 3 && i < ml; f++) {
        if (m[i] != marks[f]) continue;
        int32_t j = i + 1;
        digits(m, ml, &j, 0, ml);
        if (!parse_int(m + i + 1, j - i - 1, 0, dest[f])) return 0;
        i = j;
    }
    if (i != ml || s->spf < 1) return 0;
    /* gain[(baseline)][/units] */
    const char *g = t + tok[2].off;
    const int32_t gl = tok[2].len;
    i = 0;
    while (i < gl && g[i] != '(' && g[i] != '/') i++;
    if (!parse_float(g, i, &s->gain) || s->gain == 0.0 || s->gain < EE_MIN_GAIN || s->gain > EE_MAX_GAIN) return 0;
    s->has_baseline = 0;
    if (i < gl && g[i] == '(') {
        int32_t j = i + 1;
        while (j < gl && g[j] != ')' && g[j] != '/') j++;
        if (j >= gl || g[j] != ')') return 0;
        if (!parse_int(g + i + 1, j - i - 1, 1, &s->baseline)) return 0;
        if (s->baseline < -2147483648LL || s->baseline > 2147483647LL) return 0;
        s->has_baseline = 1;
        i = j + 1;
        if (i < gl && g[i] != '/') return 0;
    }
    s->units = (ee_span){0, 0};
    if (i < gl) { /* g[i] == '/' */
        if (i + 1 >= gl) return 0;
        s->units = (ee_span){tok[2].off + i + 1, gl - i - 1};
    }
    if (!parse_int(t + tok[3].off, tok[3].len, 0, &s->adc_res)) return 0;
    if (!parse_int(t + tok[4].off, tok[4].len, 1, &s->adc_zero) || s->adc_zero < -2147483648LL ||
        s->adc_zero > 2147483647LL)
        return 0;
    if (!parse_int(t + tok[5].off, tok[5].len, 1, &s->init)) return 0;
    if (!parse_int(t + tok[6].off, tok[6].len, 1, &s->checksum)) return 0;
    if (!parse_int(t + tok[7].off, tok[7].len, 0, &s->block)) return 0;
    s->desc = k > 8 ? tok[8] : (ee_span){0, 0};
    s->line = line;
    return 1;
}

int ee_parse_header(const char *text, int64_t n, ee_hea_record *rec, ee_hea_signal *sig, int max_sig, ee_span *com,
                    int max_com, int *n_com) {
    if (n < 0 || n > (1 << 24)) return -1;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)text[i];
        if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n')) return -1;
    }
    int have_record = 0, n_sig = 0;
    *n_com = 0;
    int32_t line = 0;
    for (int32_t a = 0; a <= (int32_t)n;) {
        int32_t b = a;
        while (b < (int32_t)n && text[b] != '\n') b++;
        line++;
        int32_t s = a, e = b;
        while (s < e && is_blank(text[s])) s++;
        while (e > s && is_blank(text[e - 1])) e--;
        a = b + 1;
        if (s == e) continue;
        if (text[s] == '#') {
            if (*n_com >= max_com) return -1;
            s++;
            while (s < e && is_blank(text[s])) s++;
            com[(*n_com)++] = (ee_span){s, e - s};
            continue;
        }
        if (!have_record) {
            ee_span tok[7];
            const int k = tokens(text, s, e, tok, 7);
            if (k < 2 || k > 6) return -1;
            for (int32_t i = 0; i < tok[0].len; i++)
                if (text[tok[0].off + i] == '/') return -1; /* segments */
            /* base time, then base date, each at most once, in the full parser's order; else it warns */
            rec->base_time = rec->base_date = (ee_span){0, 0};
            for (int j = 4; j < k; j++) {
                const char *w = text + tok[j].off;
                if (rec->base_time.len == 0 && is_time(w, tok[j].len))
                    rec->base_time = tok[j];
                else if (rec->base_date.len == 0 && is_date(w, tok[j].len))
                    rec->base_date = tok[j];
                else
                    return -1;
            }
            rec->name = tok[0];
            if (!parse_int(text + tok[1].off, tok[1].len, 0, &rec->n_signals) || rec->n_signals > max_sig) return -1;
            rec->has_fs = k > 2;
            rec->fs = 250.0;
            if (rec->has_fs && (!parse_float(text + tok[2].off, tok[2].len, &rec->fs) || rec->fs < EE_MIN_FS ||
                                rec->fs > EE_MAX_FS))
                return -1;
            rec->has_n_samples = k > 3;
            rec->n_samples = 0;
            if (rec->has_n_samples && !parse_int(text + tok[3].off, tok[3].len, 0, &rec->n_samples)) return -1;
            rec->line = line;
            have_record = 1;
            continue;
        }
        if (n_sig >= rec->n_signals) return -1; /* lines after the signals: the full parser warns */
        if (!signal_line(text, s, e, line, &sig[n_sig])) return -1;
        n_sig++;
    }
    if (!have_record || n_sig != rec->n_signals) return -1;
    return n_sig;
}
