/* ecgedge fused preprocessing kernel: the pure-C core. See ecgedge_dsp.h for the layout. */
#include "ecgedge_dsp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops over leads are compiled for several ISAs and picked at load time where the compiler
 * and C library support it (GCC/clang on x86-64 Linux); elsewhere they are plain C99, which
 * compilers still vectorise for the baseline ISA (SSE2, NEON). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(EE_NO_CLONES) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (__GNUC__ >= 8))
#define EE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EE_HOT
#endif

/* ------------------------------------------------------------------------------------- load -- */
void ee_load(const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, const int32_t *gather,
             const double *gain, const double *baseline, int L, int has_invalid, int64_t invalid, double *out) {
    for (int l = 0; l < L; l++) {
        const ptrdiff_t c = gather ? gather[l] : l;
        const double b = baseline ? baseline[l] : 0.0;
        /* Division, not multiplication by 1/gain: (v - b) / gain is what wfdb and the reference
         * compute; a reciprocal would differ in the last bit. */
        const int exact = gain != NULL;
        const double gg = gain ? gain[l] : 1.0;
        switch (dtype) {
        case EE_I16: {
            const int16_t *p = (const int16_t *)src + c * s_c;
            for (ptrdiff_t t = 0; t < n; t++) {
                const int64_t v = p[t * s_t];
                out[t * L + l] = (has_invalid && v == invalid) ? NAN : (exact ? ((double)v - b) / gg : (double)v - b);
            }
            break;
        }
        case EE_I32: {
            const int32_t *p = (const int32_t *)src + c * s_c;
            for (ptrdiff_t t = 0; t < n; t++) {
                const int64_t v = p[t * s_t];
                out[t * L + l] = (has_invalid && v == invalid) ? NAN : (exact ? ((double)v - b) / gg : (double)v - b);
            }
            break;
        }
        case EE_F32: {
            const float *p = (const float *)src + c * s_c;
            for (ptrdiff_t t = 0; t < n; t++) out[t * L + l] = exact ? ((double)p[t * s_t] - b) / gg : (double)p[t * s_t] - b;
            break;
        }
        default: {
            const double *p = (const double *)src + c * s_c;
            for (ptrdiff_t t = 0; t < n; t++) out[t * L + l] = exact ? (p[t * s_t] - b) / gg : p[t * s_t] - b;
            break;
        }
        }
    }
}

int ee_fix_nonfinite(double *x, ptrdiff_t n, int L, int policy, ptrdiff_t max_gap, uint8_t *flags, ee_err *err) {
    for (int l = 0; l < L; l++) {
        ptrdiff_t t = 0;
        while (t < n) {
            if (isfinite(x[t * L + l])) {
                t++;
                continue;
            }
            ptrdiff_t end = t;
            while (end < n && !isfinite(x[end * L + l])) end++;
            const ptrdiff_t run = end - t;
            if (policy == 0 || run > max_gap || run == n) {
                if (err) {
                    err->lead = l;
                    err->sample = t;
                    err->length = run;
                }
                return policy == 0 ? EE_ENONFINITE : EE_EGAP;
            }
            const double left = t > 0 ? x[(t - 1) * L + l] : x[end * L + l];
            const double right = end < n ? x[end * L + l] : left;
            for (ptrdiff_t k = t; k < end; k++) {
                const double frac = (double)(k - t + 1) / (double)(run + 1);
                x[k * L + l] = left + (right - left) * frac;
            }
            if (flags) flags[l] |= 2;
            t = end;
        }
    }
    return EE_OK;
}

/* ---------------------------------------------------------------------------------- IIR (SOS) -- */
void ee_sosfilt_zi(const double *sos, int n_sections, double *zi) {
    double scale = 1.0;
    for (int s = 0; s < n_sections; s++) {
        const double *c = sos + 6 * s;
        const double a0 = c[3];
        const double b0 = c[0] / a0, b1 = c[1] / a0, b2 = c[2] / a0, a1 = c[4] / a0, a2 = c[5] / a0;
        /* lfilter_zi for a biquad: solve (I - companion(a)^T) zi = b[1:] - a[1:] * b0. */
        const double B1 = b1 - a1 * b0, B2 = b2 - a2 * b0;
        const double z0 = (B1 + B2) / (1.0 + a1 + a2);
        zi[2 * s] = scale * z0;
        zi[2 * s + 1] = scale * (B2 - a2 * z0);
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2);
    }
}

EE_HOT void ee_sosfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L, double *zi) {
    for (int s = 0; s < n_sections; s++) {
        const double *c = sos + 6 * s;
        const double a0 = c[3];
        const double b0 = c[0] / a0, b1 = c[1] / a0, b2 = c[2] / a0, a1 = c[4] / a0, a2 = c[5] / a0;
        double *z0 = zi + (2 * s) * L;
        double *z1 = zi + (2 * s + 1) * L;
        /* One section over the whole record, leads innermost: the recurrence runs along t while
         * the L independent leads fill the vector lanes. */
        for (ptrdiff_t t = 0; t < n; t++) {
            double *row = x + t * L;
            for (int l = 0; l < L; l++) {
                const double xi = row[l];
                const double y = b0 * xi + z0[l];
                z0[l] = b1 * xi - a1 * y + z1[l];
                z1[l] = b2 * xi - a2 * y;
                row[l] = y;
            }
        }
    }
}

ptrdiff_t ee_filtfilt_padlen(const double *sos, int n_sections) {
    int zb = 0, za = 0;
    for (int s = 0; s < n_sections; s++) {
        zb += sos[6 * s + 2] == 0.0;
        za += sos[6 * s + 5] == 0.0;
    }
    return 3 * (2 * n_sections + 1 - (zb < za ? zb : za));
}

/* filtfilt on a buffer that holds n samples at offset pad and has room for pad samples either side. */
static void filtfilt_ext(const double *sos, int n_sections, double *buf, ptrdiff_t n, ptrdiff_t pad, int L,
                         double *zi_base, double *state) {
    double *x = buf + pad * L;
    /* odd extension: 2 * x[0] - x[pad .. 1] on the left, 2 * x[n-1] - x[n-2 .. n-1-pad] on the right */
    for (ptrdiff_t k = 1; k <= pad; k++) {
        for (int l = 0; l < L; l++) {
            buf[(pad - k) * L + l] = 2.0 * x[l] - x[k * L + l];
            x[(n - 1 + k) * L + l] = 2.0 * x[(n - 1) * L + l] - x[(n - 1 - k) * L + l];
        }
    }
    const ptrdiff_t m = n + 2 * pad;
    for (int s = 0; s < 2 * n_sections; s++)
        for (int l = 0; l < L; l++) state[s * L + l] = zi_base[s] * buf[l];
    ee_sosfilt(sos, n_sections, buf, m, L, state);
    /* backward pass: filter the reversed sequence; reversing rows in place keeps one buffer */
    for (ptrdiff_t i = 0, j = m - 1; i < j; i++, j--)
        for (int l = 0; l < L; l++) {
            const double tmp = buf[i * L + l];
            buf[i * L + l] = buf[j * L + l];
            buf[j * L + l] = tmp;
        }
    for (int s = 0; s < 2 * n_sections; s++)
        for (int l = 0; l < L; l++) state[s * L + l] = zi_base[s] * buf[l];
    ee_sosfilt(sos, n_sections, buf, m, L, state);
    for (ptrdiff_t i = 0, j = m - 1; i < j; i++, j--)
        for (int l = 0; l < L; l++) {
            const double tmp = buf[i * L + l];
            buf[i * L + l] = buf[j * L + l];
            buf[j * L + l] = tmp;
        }
}

int ee_sosfiltfilt(const double *sos, int n_sections, double *x, ptrdiff_t n, int L) {
    const ptrdiff_t pad = ee_filtfilt_padlen(sos, n_sections);
    if (n <= pad) return EE_ETOOSHORT;
    double *buf = malloc(sizeof(double) * (size_t)(n + 2 * pad) * (size_t)L);
    double *zi = malloc(sizeof(double) * (size_t)(2 * n_sections) * (size_t)(L + 1));
    if (!buf || !zi) {
        free(buf);
        free(zi);
        return EE_ENOMEM;
    }
    memcpy(buf + pad * L, x, sizeof(double) * (size_t)n * (size_t)L);
    double *state = zi + 2 * n_sections;
    ee_sosfilt_zi(sos, n_sections, zi);
    filtfilt_ext(sos, n_sections, buf, n, pad, L, zi, state);
    memcpy(x, buf + pad * L, sizeof(double) * (size_t)n * (size_t)L);
    free(buf);
    free(zi);
    return EE_OK;
}

/* ------------------------------------------------------------------------------------- median -- */
/* Sliding median over a sorted window: each step removes the outgoing value and inserts the
 * incoming one by binary search and memmove, O(log k + k) with a tiny constant, against
 * O(k) selection with a full copy per output in scipy. */
static ptrdiff_t lower_bound(const double *a, ptrdiff_t len, double v) {
    ptrdiff_t lo = 0, hi = len;
    while (lo < hi) {
        const ptrdiff_t mid = (lo + hi) >> 1;
        if (a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void medfilt_lead(const double *x, ptrdiff_t xs, double *out, ptrdiff_t os, ptrdiff_t n, int k, double *win) {
    const int h = k / 2;
    /* initial window centred on sample 0: h zeros, then x[0 .. h] (zeros again past the end) */
    int len = 0;
    for (int i = -h; i <= h; i++) {
        const double v = (i < 0 || i >= n) ? 0.0 : x[i * xs];
        const ptrdiff_t pos = lower_bound(win, len, v);
        memmove(win + pos + 1, win + pos, sizeof(double) * (size_t)(len - pos));
        win[pos] = v;
        len++;
    }
    out[0] = win[h];
    for (ptrdiff_t t = 1; t < n; t++) {
        const ptrdiff_t gone = t - 1 - h, come = t + h;
        const double vo = (gone < 0 || gone >= n) ? 0.0 : x[gone * xs];
        const double vi = (come < 0 || come >= n) ? 0.0 : x[come * xs];
        if (vo != vi) {
            ptrdiff_t po = lower_bound(win, k, vo);
            ptrdiff_t pi = lower_bound(win, k, vi);
            if (pi > po) {
                /* shift (po, pi) left by one, insert at pi - 1 */
                memmove(win + po, win + po + 1, sizeof(double) * (size_t)(pi - 1 - po));
                win[pi - 1] = vi;
            } else {
                memmove(win + pi + 1, win + pi, sizeof(double) * (size_t)(po - pi));
                win[pi] = vi;
            }
        }
        out[t * os] = win[h];
    }
}

int ee_medfilt(const double *x, double *out, ptrdiff_t n, int L, int k) {
    if (k < 1 || (k & 1) == 0) return EE_EINVAL;
    double *win = malloc(sizeof(double) * (size_t)k);
    if (!win) return EE_ENOMEM;
    for (int l = 0; l < L; l++) medfilt_lead(x + l, L, out + l, L, n, k, win);
    free(win);
    return EE_OK;
}

int ee_remove_baseline(double *x, ptrdiff_t n, int L, int k1, int k2) {
    if (k1 <= 0 && k2 <= 0) return EE_OK;
    const int kmax = k1 > k2 ? k1 : k2;
    double *win = malloc(sizeof(double) * (size_t)kmax);
    double *a = malloc(sizeof(double) * (size_t)n);
    double *b = malloc(sizeof(double) * (size_t)n);
    if (!win || !a || !b) {
        free(win);
        free(a);
        free(b);
        return EE_ENOMEM;
    }
    for (int l = 0; l < L; l++) {
        const double *base;
        if (k1 > 0) {
            medfilt_lead(x + l, L, a, 1, n, k1, win);
            base = a;
        } else {
            for (ptrdiff_t t = 0; t < n; t++) a[t] = x[t * L + l];
            base = a;
        }
        if (k2 > 0) {
            medfilt_lead(base, 1, b, 1, n, k2, win);
            base = b;
        }
        for (ptrdiff_t t = 0; t < n; t++) x[t * L + l] -= base[t];
    }
    free(win);
    free(a);
    free(b);
    return EE_OK;
}

/* ---------------------------------------------------------------------------------- resample -- */
EE_HOT void ee_resample(const double *x, ptrdiff_t n, ptrdiff_t x_start, int L, const double *h, ptrdiff_t H, int up,
                        int down, ptrdiff_t pre_remove, ptrdiff_t j0, ptrdiff_t n_out, double *y) {
    for (ptrdiff_t j = 0; j < n_out; j++) {
        double *acc = y + j * L;
        for (int l = 0; l < L; l++) acc[l] = 0.0;
        /* upfirdn output m uses input p where 0 <= m*down - p*up < H */
        const ptrdiff_t t = (j0 + j + pre_remove) * (ptrdiff_t)down;
        ptrdiff_t p_hi = t / up;
        ptrdiff_t p_lo = t - (H - 1) <= 0 ? 0 : (t - (H - 1) + up - 1) / up;
        if (p_lo < x_start) p_lo = x_start;
        if (p_hi > x_start + n - 1) p_hi = x_start + n - 1;
        for (ptrdiff_t p = p_lo; p <= p_hi; p++) {
            const double c = h[t - p * up];
            const double *row = x + (p - x_start) * L;
            for (int l = 0; l < L; l++) acc[l] += c * row[l];
        }
    }
}

/* ------------------------------------------------------------------------------ normalisation -- */
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_sorted(const double *s, ptrdiff_t n, double q) {
    /* numpy.percentile's default ("linear") interpolation */
    const double pos = q * (double)(n - 1);
    const ptrdiff_t i = (ptrdiff_t)floor(pos);
    const double frac = pos - (double)i;
    if (i + 1 >= n) return s[n - 1];
    return s[i] + (s[i + 1] - s[i]) * frac;
}

void ee_normalize(double *x, ptrdiff_t n, int L, int method, uint8_t *flags) {
    if (method == EE_NORM_NONE || n == 0) return;
    double *tmp = method == EE_NORM_ROBUST ? malloc(sizeof(double) * (size_t)n) : NULL;
    for (int l = 0; l < L; l++) {
        double shift = 0.0, scale = 0.0;
        if (method == EE_NORM_ZSCORE) {
            double sum = 0.0;
            for (ptrdiff_t t = 0; t < n; t++) sum += x[t * L + l];
            const double mean = sum / (double)n;
            double ss = 0.0;
            for (ptrdiff_t t = 0; t < n; t++) {
                const double d = x[t * L + l] - mean;
                ss += d * d;
            }
            shift = mean;
            scale = sqrt(ss / (double)n);
        } else if (method == EE_NORM_MINMAX) {
            double lo = x[l], hi = x[l];
            for (ptrdiff_t t = 1; t < n; t++) {
                const double v = x[t * L + l];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            shift = lo;
            scale = hi - lo;
        } else if (method == EE_NORM_ROBUST) {
            if (!tmp) {
                scale = 0.0; /* out of memory: treated as flat, flagged, never garbage */
            } else {
                for (ptrdiff_t t = 0; t < n; t++) tmp[t] = x[t * L + l];
                qsort(tmp, (size_t)n, sizeof(double), cmp_double);
                shift = quantile_sorted(tmp, n, 0.5);
                scale = quantile_sorted(tmp, n, 0.75) - quantile_sorted(tmp, n, 0.25);
            }
        } else if (method == EE_NORM_L2) {
            double ss = 0.0;
            for (ptrdiff_t t = 0; t < n; t++) ss += x[t * L + l] * x[t * L + l];
            scale = sqrt(ss);
        }
        if (!(scale > 0.0) || !isfinite(scale)) {
            for (ptrdiff_t t = 0; t < n; t++) x[t * L + l] = 0.0;
            if (flags) flags[l] |= 1;
            continue;
        }
        for (ptrdiff_t t = 0; t < n; t++) x[t * L + l] = (x[t * L + l] - shift) / scale;
    }
    free(tmp);
}

/* ----------------------------------------------------------------------------------- windows -- */
ptrdiff_t ee_window_count(ptrdiff_t n, ptrdiff_t window, ptrdiff_t stride, int cover_tail) {
    if (n <= window) return 1;
    ptrdiff_t w = 1 + (n - window) / stride;
    if (cover_tail && (n - window) % stride) w++;
    return w;
}

void ee_windows(const double *x, ptrdiff_t n, int L, ptrdiff_t window, ptrdiff_t stride, int cover_tail, int pad,
                float *out) {
    const ptrdiff_t W = ee_window_count(n, window, stride, cover_tail);
    for (ptrdiff_t w = 0; w < W; w++) {
        ptrdiff_t start = w * stride;
        if (n > window && start + window > n) start = n - window; /* the tail window, aligned to the end */
        if (n <= window) start = 0;
        for (int l = 0; l < L; l++) {
            float *o = out + (w * L + l) * window;
            for (ptrdiff_t i = 0; i < window; i++) {
                const ptrdiff_t t = start + i;
                double v;
                if (t < n) v = x[t * L + l];
                else if (pad == EE_PAD_EDGE) v = x[(n - 1) * L + l];
                else if (pad == EE_PAD_WRAP) v = x[(t % n) * L + l];
                else v = 0.0;
                o[i] = (float)v;
            }
        }
    }
}

void ee_to_planar_f32(const double *x, ptrdiff_t n, int L, float *out) {
    for (int l = 0; l < L; l++)
        for (ptrdiff_t t = 0; t < n; t++) out[l * n + t] = (float)x[t * L + l];
}

/* ---------------------------------------------------------------------------- the fused chain -- */
ptrdiff_t ee_plan_out_len(const ee_plan *p, ptrdiff_t n) {
    if (!p->h) return n;
    const ptrdiff_t m = n * p->up;
    return m / p->down + (m % p->down != 0);
}

ptrdiff_t ee_plan_out_size(const ee_plan *p, ptrdiff_t n) {
    const ptrdiff_t m = ee_plan_out_len(p, n);
    if (p->window <= 0) return m * p->L;
    return ee_window_count(m, p->window, p->stride, p->cover_tail) * p->L * p->window;
}

static int filter_stage(const ee_plan *p, double *buf, ptrdiff_t n, ptrdiff_t pad, double *zi) {
    double *x = buf + pad * p->L;
    int rc = ee_remove_baseline(x, n, p->L, p->k1, p->k2);
    if (rc) return rc;
    if (!p->sos) return EE_OK;
    double *state = zi + 2 * p->n_sections;
    ee_sosfilt_zi(p->sos, p->n_sections, zi);
    if (p->zero_phase) {
        if (n <= pad) return EE_ETOOSHORT;
        filtfilt_ext(p->sos, p->n_sections, buf, n, pad, p->L, zi, state);
    } else {
        for (int s = 0; s < 2 * p->n_sections; s++)
            for (int l = 0; l < p->L; l++) state[s * p->L + l] = zi[s] * x[l];
        ee_sosfilt(p->sos, p->n_sections, x, n, p->L, state);
    }
    return EE_OK;
}

int ee_run(const ee_plan *p, const void *src, int dtype, ptrdiff_t n, ptrdiff_t s_t, ptrdiff_t s_c, float *out,
           uint8_t *flags, ee_err *err) {
    const int L = p->L;
    if (n <= 0) return EE_ETOOSHORT;
    const ptrdiff_t fpad = (p->sos && p->zero_phase) ? ee_filtfilt_padlen(p->sos, p->n_sections) : 0;
    const int resample = p->h != NULL;
    const ptrdiff_t pad1 = (p->filter_first || !resample) ? fpad : 0;
    const ptrdiff_t m = ee_plan_out_len(p, n);
    const ptrdiff_t pad2 = (!p->filter_first && resample) ? fpad : 0;
    int rc = EE_OK;
    double *buf1 = malloc(sizeof(double) * (size_t)(n + 2 * pad1) * (size_t)L);
    double *buf2 = resample ? malloc(sizeof(double) * (size_t)(m + 2 * pad2) * (size_t)L) : NULL;
    double *zi = malloc(sizeof(double) * (size_t)(2 * (p->n_sections + 1)) * (size_t)(L + 1));
    if (!buf1 || (resample && !buf2) || !zi) {
        rc = EE_ENOMEM;
        goto done;
    }
    for (int l = 0; l < L; l++) flags[l] = 0;
    double *x = buf1 + pad1 * L;
    ee_load(src, dtype, n, s_t, s_c, p->gather, p->gain, p->baseline, L, p->has_invalid, p->invalid, x);
    rc = ee_fix_nonfinite(x, n, L, p->nan_policy, p->max_gap, flags, err);
    if (rc) goto done;
    if (p->filter_first || !resample) {
        rc = filter_stage(p, buf1, n, pad1, zi);
        if (rc) goto done;
    }
    double *y = x;
    if (resample) {
        y = buf2 + pad2 * L;
        ee_resample(x, n, 0, L, p->h, p->H, p->up, p->down, p->pre_remove, 0, m, y);
        if (!p->filter_first) {
            rc = filter_stage(p, buf2, m, pad2, zi);
            if (rc) goto done;
        }
    }
    ee_normalize(y, m, L, p->norm, flags);
    if (p->window > 0) ee_windows(y, m, L, p->window, p->stride, p->cover_tail, p->pad, out);
    else ee_to_planar_f32(y, m, L, out);
done:
    free(buf1);
    free(buf2);
    free(zi);
    return rc;
}
