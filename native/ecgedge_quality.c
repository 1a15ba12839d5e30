/* Signal-quality features (see ecgedge_quality.h); every step mirrors ecgedge/quality.py's features(),
 * whose comments say why each one is there. Quantiles are the nearest rank below, as quality._quantile
 * takes them: element int(q * (n - 1)) of the sorted values. */
#include "ecgedge_quality.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ecgedge_dsp.h"

#define BLOCK_S 0.04
#define SEGMENT_S 2.5
#define HUM_SEGMENTS 4
#define HF_BLOCK 16

/* Python's round(): halves to even, as nearbyint does in the default rounding mode. */
static ptrdiff_t pround(double v) { return (ptrdiff_t)nearbyint(v); }

static ptrdiff_t maxp(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

/* The k-th smallest of a[0..n) (a is reordered): Hoare partitioning around a median of three. */
static double select_k(double *a, ptrdiff_t n, ptrdiff_t k) {
    ptrdiff_t lo = 0, hi = n - 1;
    while (hi > lo) {
        const ptrdiff_t mid = lo + (hi - lo) / 2;
        double p0 = a[lo], p1 = a[mid], p2 = a[hi], piv;
        if (p0 < p1) piv = p1 < p2 ? p1 : (p0 < p2 ? p2 : p0);
        else piv = p0 < p2 ? p0 : (p1 < p2 ? p2 : p1);
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i <= j) {
                const double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

/* The q quantile of v[0..n) (nearest rank below), using scratch t. A high quantile (the 98th of a few hundred
 * blocks is the 6th largest) is read off a short running list of the largest values: a selection's passes and
 * copy cost several times more. */
static double quantile(const double *v, ptrdiff_t n, double q, double *t) {
    if (n <= 0) return 0.0;
    const ptrdiff_t k = (ptrdiff_t)(q * (double)(n - 1)), r = n - k;  /* the r-th largest */
    if (r <= 8) {
        double top[8];  /* descending */
        ptrdiff_t have = 0;
        for (ptrdiff_t i = 0; i < n; i++) {
            const double x = v[i];
            if (have == r && !(x > top[r - 1])) continue;
            ptrdiff_t j = have < r ? have++ : r - 1;
            for (; j > 0 && top[j - 1] < x; j--) top[j] = top[j - 1];
            top[j] = x;
        }
        return top[r - 1];
    }
    memcpy(t, v, (size_t)n * sizeof(double));
    return select_k(t, n, k);
}

/* numpy.median of float32 values: the mean of the two middle ones for an even count, in float32. */
static float median_f32(const float *v, ptrdiff_t n, double *t) {
    for (ptrdiff_t i = 0; i < n; i++) t[i] = v[i];
    const double hi = select_k(t, n, n / 2);
    if (n % 2) return (float)hi;
    double lo = t[0];
    for (ptrdiff_t i = 1; i < n / 2; i++) lo = t[i] > lo ? t[i] : lo;  /* the largest of the lower half */
    const float sum = (float)lo + (float)hi;  /* as numpy's mean of the two: a float32 sum, then halved */
    return sum / 2.0f;
}

/* Longest run of values <= limit. */
static ptrdiff_t longest_at_most(const double *v, ptrdiff_t n, double limit) {
    ptrdiff_t run = 0, best = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        run = v[i] <= limit ? run + 1 : 0;
        best = run > best ? run : best;
    }
    return best;
}

/* Plateaus at one extreme: at[i] is x[i] >= edge (side > 0) or <= edge; k samples make a plateau. Returns the
 * plateau count and sets *held to the number of k-sample windows wholly at the extreme. */
static ptrdiff_t plateaus(const float *x, ptrdiff_t n, float edge, int side, ptrdiff_t k, ptrdiff_t *held) {
    ptrdiff_t run = 0, r = 0, h = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const int at = side > 0 ? x[i] >= edge : x[i] <= edge;
        run = at ? run + 1 : 0;
        if (run >= k) h++;
        if (run == k) r++;
    }
    *held = h;
    return r;
}

/* xm[j] = the mean of v[j * b .. (j + 1) * b), in float32 as the reference: the factors rates give (2 for 250 Hz,
 * 3 for 300, 4 for 360, 5 for 500, 10 for 1 kHz) as constants, which the compiler unrolls and vectorises. */
#define DECIMATE(B)                                                                 \
    case B:                                                                          \
        for (ptrdiff_t j = 0; j < nm; j++) {                                         \
            float s = 0.0f;                                                          \
            for (int k = 0; k < B; k++) s += v[j * B + k];                           \
            xm[j] = (double)(s * (1.0f / (float)B));                                 \
        }                                                                            \
        return;
static void decimate(const float *v, ptrdiff_t nm, ptrdiff_t b, double *xm) {
    switch (b) {
    case 1:
        for (ptrdiff_t j = 0; j < nm; j++) xm[j] = v[j];
        return;
        DECIMATE(2) DECIMATE(3) DECIMATE(4) DECIMATE(5) DECIMATE(8) DECIMATE(10)
    default:
        for (ptrdiff_t j = 0; j < nm; j++) {
            float s = 0.0f;
            for (ptrdiff_t k = 0; k < b; k++) s += v[j * b + k];
            xm[j] = (double)(s * (1.0f / (float)b));
        }
    }
}

/* out[k] = the energy of the second difference over block k of HF_BLOCK samples (its first difference starts
 * there), in two 8-lane halves: blocks of a fixed, vector-sized length keep this one vectorised pass. */
static void d2_energy(const float *v, ptrdiff_t nb, double *out) {
    for (ptrdiff_t k = 0; k < nb; k++) {
        const float *p = v + k * HF_BLOCK;
        float acc[8];
        for (int j = 0; j < 8; j++) {
            const float d = (p[j + 2] - p[j + 1]) - (p[j + 1] - p[j]);
            acc[j] = d * d;
        }
        for (int j = 0; j < 8; j++) {
            const float d = (p[j + 10] - p[j + 9]) - (p[j + 9] - p[j + 8]);
            acc[j] += d * d;
        }
        out[k] = (double)(((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])));
    }
}

/* Dot product of float32 vectors in 8 float lanes (as float32 BLAS accumulates), summed in double at the end. */
static double dot(const float *a, const float *b, ptrdiff_t m) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= m; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    double s = 0.0;
    for (; i < m; i++) s += (double)(a[i] * b[i]);
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

/* Maximum and minimum in 8 lanes, and whether any value is NaN or infinite (its exponent bits all set: an
 * integer test, so that the finite-math the max/min need cannot fold it away). The results are only used when
 * no value is (the caller rescans otherwise), which lets GCC treat the comparisons as max/min instructions:
 * IEEE NaN rules would keep them scalar. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("finite-math-only", "no-signed-zeros")))
#endif
static int extremes(const float *x, ptrdiff_t n, float *mx, float *mn) {
    float hi[8], lo[8];
    uint32_t bad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < 8; j++) hi[j] = -FLT_MAX, lo[j] = FLT_MAX;
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            uint32_t u;
            memcpy(&u, x + i + j, 4);
            bad[j] |= (u & 0x7f800000u) == 0x7f800000u;
            hi[j] = x[i + j] > hi[j] ? x[i + j] : hi[j];
            lo[j] = x[i + j] < lo[j] ? x[i + j] : lo[j];
        }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        bad[0] |= (u & 0x7f800000u) == 0x7f800000u;
        hi[0] = x[i] > hi[0] ? x[i] : hi[0];
        lo[0] = x[i] < lo[0] ? x[i] : lo[0];
    }
    for (int j = 1; j < 8; j++) {
        bad[0] |= bad[j];
        hi[0] = hi[j] > hi[0] ? hi[j] : hi[0];
        lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
    }
    *mx = hi[0], *mn = lo[0];
    return bad[0] != 0;
}

typedef struct {
    ptrdiff_t b0, nm, b, nb, ns, S, seglen;
    double fm, block_s;
} geometry;

static geometry geometry_of(ptrdiff_t n, double fs) {
    geometry g;
    g.b0 = maxp(1, pround(fs / 100.0));
    g.nm = n / g.b0;
    g.fm = fs / (double)g.b0;
    g.b = maxp(1, pround(BLOCK_S * g.fm));
    g.nb = g.nm >= 1 ? (g.nm - 1) / g.b : 0;
    g.ns = maxp(1, pround(SEGMENT_S * g.fm / (double)g.b));
    g.S = g.nb >= g.ns ? maxp(1, g.nb / g.ns) : 1;
    g.seglen = g.nb >= g.ns ? g.ns : g.nb;
    g.block_s = (double)g.b / g.fm;
    return g;
}

/* Phase one for one lead: everything that needs only the lead. Writes its features, its envelope e[nb] and
 * the median of each segment med[S]. v is the lead, repaired (finite, sane) already. */
static void lead_features(const float *v, ptrdiff_t n, const ee_qspec *q, const geometry *g, float mx, float mn,
                          double *o, double *e, double *med, double *xm, double *t, double *blocks) {
    const double fs = q->fs;
    /* noise above 40 Hz: the median energy of the second difference per 40-ms block */
    if (fs >= 200 && n >= 3 * HF_BLOCK + 2) {
        const ptrdiff_t nb2 = (n - 2) / HF_BLOCK;
        d2_energy(v, nb2, blocks);
        o[EE_Q_HF] = sqrt(quantile(blocks, nb2, 0.5, t) / (6.0 * HF_BLOCK));
    }
    /* block means to about 100 Hz, then the 40-ms total variation envelope */
    decimate(v, g->nm, g->b0, xm);
    for (ptrdiff_t k = 0; k < g->nb; k++) {
        const double *p = xm + k * g->b;
        double s = 0.0;
        for (ptrdiff_t j = 0; j < g->b; j++) s += fabs(p[j + 1] - p[j]);
        e[k] = s;
    }
    o[EE_Q_ACTIVITY] = quantile(e, g->nb, 0.98, t);
    /* constant stretches, measured where enough constant blocks could hold a quarter-second one */
    ptrdiff_t still = 0;
    for (ptrdiff_t k = 0; k < g->nb; k++) still += e[k] <= 1e-7;
    o[EE_Q_STILL_S] = (double)still >= 0.25 * g->fm / (double)g->b
                          ? (double)longest_at_most(e, g->nb, 1e-7) * g->block_s : 0.0;
    for (ptrdiff_t s = 0; s < g->S; s++) med[s] = quantile(e + s * g->seglen, g->seglen, 0.5, t);
    /* baseline: 0.2-s means in groups of 12 (2.4 s), their range and largest step */
    const ptrdiff_t bm = maxp(1, pround(0.2 * g->fm)), nmm = g->nm / bm;
    if (nmm >= 2) {
        const ptrdiff_t per = nmm >= 12 ? 12 : nmm, G = nmm / per;
        double *ranges = blocks, *jumps = blocks + G;
        for (ptrdiff_t grp = 0; grp < G; grp++) {
            double lo = INFINITY, hi = -INFINITY, jump = 0.0, prev = 0.0;
            for (ptrdiff_t k = grp * per; k < (grp + 1) * per; k++) {
                double s = 0.0;
                for (ptrdiff_t j = k * bm; j < (k + 1) * bm; j++) s += xm[j];
                s /= (double)bm;
                lo = s < lo ? s : lo;
                hi = s > hi ? s : hi;
                if (k > grp * per) jump = fabs(s - prev) > jump ? fabs(s - prev) : jump;
                prev = s;
            }
            ranges[grp] = hi - lo;
            jumps[grp] = jump;
        }
        o[EE_Q_BASELINE] = quantile(ranges, G, 0.75, t);
        o[EE_Q_JUMP] = quantile(jumps, G, 0.75, t);
    }
    /* saturation: plateaus at an extreme that is an excursion from the median */
    const float tol = (mx - mn) * 0.002f;
    const ptrdiff_t need = maxp(4, (ptrdiff_t)(q->clip_share * (double)n));
    const ptrdiff_t kk = maxp(2, (ptrdiff_t)ceil(0.01 * fs));
    int have_median = 0;
    float md = 0.0f;
    const float hi_edge = mx - tol, lo_edge = mn + tol;
    int32_t at_hi = 0, at_lo = 0;  /* int32 and branch-free: the compiler vectorises it */
    for (ptrdiff_t i = 0; i < n; i++) at_hi += v[i] >= hi_edge, at_lo += v[i] <= lo_edge;
    for (int side = 1; side >= -1; side -= 2) {
        const float edge = side > 0 ? hi_edge : lo_edge;
        if ((side > 0 ? at_hi : at_lo) < need) continue;
        if (!have_median) {
            md = median_f32(v, n, t);
            have_median = 1;
        }
        if (!((side > 0 ? mx - md : md - mn) >= 0.25f * (mx - mn))) continue;
        ptrdiff_t held;
        const ptrdiff_t r = plateaus(v, n, edge, side, kk, &held);
        const double share = (double)(held + (kk - 1) * r) / (double)n;
        o[EE_Q_CLIP_SHARE] = share > o[EE_Q_CLIP_SHARE] ? share : o[EE_Q_CLIP_SHARE];
        o[EE_Q_CLIP_RUNS] = (double)r > o[EE_Q_CLIP_RUNS] ? (double)r : o[EE_Q_CLIP_RUNS];
    }
    /* mains hum: the line's excess over its sides, median over up to 4 half-second segments */
    if (q->basis && q->m >= 8 && n >= q->m) {
        const ptrdiff_t m = q->m, S = n / m, step = maxp(1, S / HUM_SEGMENTS);
        ptrdiff_t cnt = 0;
        double *h50 = blocks, *h60 = blocks + HUM_SEGMENTS;
        for (ptrdiff_t s = 0; s < S && cnt < HUM_SEGMENTS; s += step, cnt++) {
            const float *seg = v + s * m;
            double amp[6], p[12];
            for (int r = 0; r < 12; r++) p[r] = dot(seg, q->basis + (size_t)r * (size_t)m, m);
            for (int f = 0; f < 6; f++) amp[f] = 2.0 / q->wsum * sqrt(p[2 * f] * p[2 * f] + p[2 * f + 1] * p[2 * f + 1]);
            const double a = amp[0] - q->hum_over_sides * 0.5 * (amp[1] + amp[2]);
            const double b = amp[3] - q->hum_over_sides * 0.5 * (amp[4] + amp[5]);
            h50[cnt] = a > 0.0 ? a : 0.0;
            h60[cnt] = b > 0.0 ? b : 0.0;
        }
        o[EE_Q_HUM50] = quantile(h50, cnt, 0.5, t);
        o[EE_Q_HUM60] = quantile(h60, cnt, 0.5, t);
    }
    /* rhythm: crossings of 30 % of each segment's 98th percentile, a 0.2-s refractory period */
    ptrdiff_t beats = 0, n_rr = 0, n_good = 0, last_rise = -1, last_beat = -1;
    int prev_above = 0;
    for (ptrdiff_t s = 0; s < g->S; s++) {
        const double *es = e + s * g->seglen;
        const double thr = 0.3 * quantile(es, g->seglen, 0.98, t);
        for (ptrdiff_t k = 0; k < g->seglen; k++) {
            const int above = es[k] > thr;
            const ptrdiff_t at = s * g->seglen + k;
            if (above && !prev_above) {
                if (last_rise < 0 || (double)(at - last_rise) * g->block_s >= 0.2) {
                    if (last_beat >= 0) {
                        const double rr = (double)(at - last_beat) * g->block_s;
                        n_rr++;
                        n_good += rr >= 0.24 && rr <= 2.4;
                    }
                    beats++;
                    last_beat = at;
                }
                last_rise = at;
            }
            prev_above = above;
        }
    }
    o[EE_Q_BPM] = (double)beats / ((double)(g->S * g->seglen) * g->block_s) * 60.0;
    o[EE_Q_RR_OK] = n_rr >= 2 ? (double)n_good / (double)n_rr : 1.0;
}

/* Whether lead y equals its formula of leads I (a) and II (b) to within rounding: 0.01 mV and 0.1 % of its range.
 * NaN anywhere makes it unequal (the comparison fails), so a lead with gaps is measured on its own. */
static int derived_from(const float *y, const float *a, const float *b, ptrdiff_t n, int code, float range) {
    const float tol = 0.01f + 0.001f * range;
    int32_t off = 0;
#define OFF(EXPR) for (ptrdiff_t i = 0; i < n; i++) off += !(fabsf(y[i] - (EXPR)) <= tol);
    switch (code) {  /* one loop per formula: a switch inside the loop would keep it scalar */
    case EE_Q_III: OFF(b[i] - a[i]) break;
    case EE_Q_AVR: OFF(-(a[i] + b[i]) * 0.5f) break;
    case EE_Q_AVL: OFF(a[i] - b[i] * 0.5f) break;
    default: OFF(b[i] - a[i] * 0.5f) break;
    }
#undef OFF
    return off == 0;
}

static double cap(double r) { return r < 100.0 ? r : 100.0; } /* inf and NaN count as the worst */

/* quality.lead_ratios() and rhythm_ratio() of one lead's features o (the same operations in the same order, so
 * the same doubles): the worst ratio, the rhythm ratio and whether an unusable-signal fault is there. */
static void verdict_inputs(double *o, double duration, const double *lim) {
    const double act = o[EE_Q_ACTIVITY], ref0 = o[EE_Q_REFERENCE];
    const double yard = act > 0.5 * ref0 ? (act > 1e-12 ? act : 1e-12) : (0.5 * ref0 > 1e-12 ? 0.5 * ref0 : 1e-12);
    const double ref = ref0 > 1e-12 ? ref0 : 1e-12;
    double hum_at = lim[EE_L_HUM] * ref < lim[EE_L_HUM_MV] ? lim[EE_L_HUM] * ref : lim[EE_L_HUM_MV];
    double hf_at = lim[EE_L_HF] * ref < lim[EE_L_HF_MV] ? lim[EE_L_HF] * ref : lim[EE_L_HF_MV];
    hum_at = hum_at > 1e-12 ? hum_at : 1e-12;
    hf_at = hf_at > 1e-12 ? hf_at : 1e-12;
    double still_lim = lim[EE_L_STILL_S] < 0.8 * duration ? lim[EE_L_STILL_S] : 0.8 * duration;
    still_lim = still_lim > 1e-12 ? still_lim : 1e-12;
    const double a = o[EE_Q_INVALID] * (1.0 / lim[EE_L_INVALID]), b = o[EE_Q_GAP_S] * (1.0 / lim[EE_L_GAP_S]);
    const double f1 = o[EE_Q_FLOOR] * (1.0 / lim[EE_L_FLOOR]), f2 = o[EE_Q_BUSY] * (1.0 / lim[EE_L_BUSY]);
    const double b1 = o[EE_Q_BASELINE] * (1.0 / lim[EE_L_BASELINE]), b2 = o[EE_Q_JUMP] * (1.0 / lim[EE_L_JUMP]);
    const double r[11] = {
        cap(a > b ? a : b),
        cap(o[EE_Q_RANGE] * (1.0 / lim[EE_L_RANGE])),
        cap(lim[EE_L_FLAT] / (act > 1e-9 ? act : 1e-9)),
        cap(o[EE_Q_STILL_S] / still_lim),
        cap(o[EE_Q_CLIP_RUNS] >= lim[EE_L_CLIP_RUNS] ? o[EE_Q_CLIP_SHARE] * (1.0 / lim[EE_L_CLIP_SHARE]) : 0.0),
        cap(o[EE_Q_HUM50] / hum_at),
        cap(o[EE_Q_HUM60] / hum_at),
        cap(o[EE_Q_HF] / hf_at),
        cap(f1 > f2 ? f1 : f2),
        cap(o[EE_Q_OWN_FLOOR] * (1.0 / lim[EE_L_OWN_FLOOR])),
        cap((b1 > b2 ? b1 : b2) / yard),
    };
    double worst = r[0];
    for (int k = 1; k < 11; k++) worst = r[k] > worst ? r[k] : worst;
    o[EE_Q_WORST] = worst;
    o[EE_Q_UNUSABLE] = r[0] >= 1.0 || r[1] >= 1.0 || r[2] >= 1.0;
    const double least = (double)(long long)(duration * lim[EE_L_MIN_BPM] / 60.0);
    if (least < 1) {
        o[EE_Q_RHYTHM] = 0.0;
        return;
    }
    const double bpm = o[EE_Q_BPM], rr_ok = o[EE_Q_RR_OK], beats = bpm * duration / 60.0;
    const double slow = least / (beats > 1e-2 ? beats : 1e-2), fast = bpm / lim[EE_L_MAX_BPM];
    const double irregular = rr_ok < 0.5 ? 1.0 + (0.5 - rr_ok) : 0.0;
    double m = slow > fast ? slow : fast;
    m = irregular > m ? irregular : m;
    o[EE_Q_RHYTHM] = cap(m);
}

int ee_quality(const float *x, ptrdiff_t n, int L, const ee_qspec *q, double *out, int *poor, double *score) {
    if (!x || !q || !out || n < 1 || L < 1 || !(q->fs > 0) || (q->basis && q->m < 1)) return EE_EINVAL;
    const int have_limbs = q->derive && q->lead_i >= 0 && q->lead_i < L && q->lead_ii >= 0 && q->lead_ii < L;
    const geometry g = geometry_of(n, q->fs);
    const int too_short = g.nb < 3;
    const ptrdiff_t S = g.S, nb = too_short ? 0 : g.nb;
    /* scratch: a repaired copy of a lead, the block means, per-lead envelopes and segment medians, order
     * statistics' scratch and small per-block arrays */
    const size_t big = (size_t)(n > 16 ? n : 16);
    float *w = malloc(big * sizeof(float));
    double *xm = malloc((size_t)(g.nm + 1) * sizeof(double));
    double *e = malloc(((size_t)L * (size_t)(nb + 1)) * sizeof(double));
    double *med = malloc(((size_t)L * (size_t)S + 1) * sizeof(double));
    double *t = malloc(big * sizeof(double));
    double *blocks = malloc(big * sizeof(double));
    if (!w || !xm || !e || !med || !t || !blocks) {
        free(w), free(xm), free(e), free(med), free(t), free(blocks);
        return EE_ENOMEM;
    }
    memset(out, 0, (size_t)L * EE_Q_N * sizeof(double));
    for (int l = 0; l < L; l++) {
        const float *row = x + (size_t)l * (size_t)n;
        double *o = out + (size_t)l * EE_Q_N;
        float mx = 0.0f, mn = 0.0f;
        ptrdiff_t bad = 0, run = 0, longest = 0;
        const int nonfinite = extremes(row, n, &mx, &mn);
        if (have_limbs && q->derive[l] != EE_Q_OWN && !nonfinite &&
            derived_from(row, x + (size_t)q->lead_i * (size_t)n, x + (size_t)q->lead_ii * (size_t)n, n, q->derive[l],
                         mx - mn)) {
            o[EE_Q_DERIVED] = 1.0;
            continue;
        }
        if (nonfinite) {
            mx = -INFINITY, mn = INFINITY;
            for (ptrdiff_t i = 0; i < n; i++) {
                const float v = row[i];
                if (!isfinite(v)) {
                    bad++;
                    run++;
                    longest = run > longest ? run : longest;
                    continue;
                }
                run = 0;
                mx = v > mx ? v : mx;
                mn = v < mn ? v : mn;
            }
        }
        const float *v = row;
        if (bad) {  /* bridge gaps linearly (np.interp: the nearest valid value beyond the ends) */
            ptrdiff_t prev = -1;
            for (ptrdiff_t i = 0; i <= n; i++) {
                if (i < n && !isfinite(row[i])) continue;
                for (ptrdiff_t j = prev + 1; j < i; j++) {
                    double y;
                    if (prev < 0 && i == n) y = 0.0;
                    else if (prev < 0) y = row[i];
                    else if (i == n) y = row[prev];
                    else y = row[prev] + (row[i] - (double)row[prev]) * (double)(j - prev) / (double)(i - prev);
                    w[j] = (float)y;
                }
                if (i < n) w[i] = row[i];
                prev = i;
            }
            v = w;
            if (bad == n) mx = mn = 0.0f;
        }
        o[EE_Q_INVALID] = (double)bad / (double)n;
        o[EE_Q_GAP_S] = (double)longest / q->fs;
        o[EE_Q_RANGE] = (double)mx - (double)mn;
        if (!(o[EE_Q_RANGE] <= 1e6)) {  /* no amplifier gives these: judged on zeros, so that the rest stays finite */
            memset(w, 0, (size_t)n * sizeof(float));
            v = w;
            mx = mn = 0.0f;
        }
        if (too_short) {
            o[EE_Q_ACTIVITY] = o[EE_Q_RANGE] > 1e-9 ? o[EE_Q_RANGE] : 1e-9;
            o[EE_Q_REFERENCE] = o[EE_Q_ACTIVITY];
            o[EE_Q_BPM] = 60.0;
            o[EE_Q_RR_OK] = 1.0;
            continue;
        }
        lead_features(v, n, q, &g, mx, mn, o, e + (size_t)l * (size_t)nb, med + (size_t)l * (size_t)S, xm, t,
                      blocks);
    }
    if (!too_short) {
        /* phase two: the record's reference activity (median over the leads that are not flat) and the noise
         * measures against it */
        ptrdiff_t live = 0;
        double top = 0.0;
        for (int l = 0; l < L; l++) {
            if (out[(size_t)l * EE_Q_N + EE_Q_DERIVED] != 0.0) continue;
            const double a = out[(size_t)l * EE_Q_N + EE_Q_ACTIVITY];
            if (a >= q->flat_mV) t[live++] = a;
            top = a > top ? a : top;
        }
        const double rec = live ? select_k(t, live, (ptrdiff_t)(0.5 * (double)(live - 1))) : top;
        for (int l = 0; l < L; l++) {
            double *o = out + (size_t)l * EE_Q_N;
            if (o[EE_Q_DERIVED] != 0.0) continue;
            const double own = o[EE_Q_ACTIVITY] > 1e-9 ? o[EE_Q_ACTIVITY] : 1e-9, yard = own > rec ? own : rec;
            const double m75 = quantile(med + (size_t)l * (size_t)S, S, 0.75, t);
            o[EE_Q_REFERENCE] = rec > 1e-9 ? rec : 1e-9;
            o[EE_Q_FLOOR] = m75 / yard;
            o[EE_Q_OWN_FLOOR] = m75 / own;
            const double *el = e + (size_t)l * (size_t)nb;
            for (ptrdiff_t s = 0; s < S; s++) {
                ptrdiff_t c = 0;
                for (ptrdiff_t k = 0; k < g.seglen; k++) c += el[s * g.seglen + k] > 0.2 * yard;
                blocks[s] = (double)c / (double)g.seglen;
            }
            o[EE_Q_BUSY] = quantile(blocks, S, 0.75, t);
        }
    }
    if (q->limits) {  /* the verdict, as quality.judge() reaches it */
        const double duration = (double)n / q->fs;
        double worst = 0.0, rhythm = -1.0;
        int faulty = 0;
        for (int l = 0; l < L; l++) {
            double *o = out + (size_t)l * EE_Q_N;
            if (o[EE_Q_DERIVED] != 0.0) continue;
            verdict_inputs(o, duration, q->limits);
            worst = o[EE_Q_WORST] > worst ? o[EE_Q_WORST] : worst;
            faulty |= o[EE_Q_WORST] >= 1.0;
            if (o[EE_Q_UNUSABLE] == 0.0) rhythm = rhythm < 0.0 || o[EE_Q_RHYTHM] < rhythm ? o[EE_Q_RHYTHM] : rhythm;
        }
        rhythm = rhythm < 0.0 ? 0.0 : rhythm;
        if (poor) *poor = faulty || rhythm >= 1.0;
        if (score) *score = worst > rhythm ? worst : rhythm;
    }
    free(w), free(xm), free(e), free(med), free(t), free(blocks);
    return EE_OK;
}
