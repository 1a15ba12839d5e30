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

/* Always inlined: a generic body inlined into an AVX2 function is compiled for AVX2. */
#if defined(__GNUC__)
#define EE_Q_INLINE static inline __attribute__((always_inline))
#else
#define EE_Q_INLINE static inline
#endif

/* Comparisons that pick the smaller or larger value as minimum and maximum instructions, without which GCC keeps
 * IEEE's rules for NaN and signed zeros (with branches): where no value is NaN, or none that matters. */
#if defined(__GNUC__) && !defined(__clang__)
#define EE_Q_MINMAX __attribute__((optimize("finite-math-only", "no-signed-zeros")))
#else
#define EE_Q_MINMAX
#endif

/* The passes over a lead's samples exist twice: plain C (which compilers vectorise for the baseline ISA, SSE2 or
 * NEON, as before), and on x86-64 with GCC >= 12 or clang an AVX2 version in explicit 8-float vectors (the vector
 * extensions), picked per call where the CPU has AVX2 (passes_for_cpu). The compilers' own vectorisation of these
 * loops did poorly, and 8-float vectors without AVX are worse still, hence two versions rather than target clones.
 * Both sum in the same lanes and order, and AVX2 brings no fused multiply-add: the same values to the bit. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(EE_NO_VECTOR_EXT) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (__GNUC__ >= 12))
#define EE_Q_AVX2 1
#define EE_Q_AVX2_FN __attribute__((target("avx2")))
typedef float ee_qf8 __attribute__((vector_size(32)));
typedef int32_t ee_qi8 __attribute__((vector_size(32)));
typedef double ee_qd8 __attribute__((vector_size(64)));
typedef float ee_qf8u __attribute__((vector_size(32), aligned(4), __may_alias__));
typedef int32_t ee_qi8u __attribute__((vector_size(32), aligned(4), __may_alias__));
typedef double ee_qd8u __attribute__((vector_size(64), aligned(8), __may_alias__));
#if defined(__clang__)
#define EE_SHUF2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define EE_SHUF8(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define EE_SHUF2(a, b, ...) __builtin_shuffle(a, b, (ee_qi8){__VA_ARGS__})
#define EE_SHUF8(v, ...) __builtin_shuffle(v, (ee_qi8){__VA_ARGS__})
#endif
/* (macros, not functions: a vector passed by value would warn of the ABI outside AVX2 functions) */
#define ld8(p) (*(const ee_qf8u *)(p))
#define ld8i(p) (*(const ee_qi8u *)(p))
#define splat8(v) ((ee_qf8){0, 0, 0, 0, 0, 0, 0, 0} + (v))
/* a where m (all ones), else b */
#define pick8(m, a, b) ((ee_qf8)(((m) & (ee_qi8)(a)) | (~(m) & (ee_qi8)(b))))
#endif

#define BLOCK_S 0.04
#define SEGMENT_S 2.5
#define HUM_SEGMENTS 4
#define HF_BLOCK 16

/* Python's round(): halves to even, as nearbyint does in the default rounding mode. */
static ptrdiff_t pround(double v) { return (ptrdiff_t)nearbyint(v); }

static ptrdiff_t maxp(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }

/* Order statistics of a few dozen to a few hundred block values run for every lead, and a sort or a branchy
 * selection (a mispredicted branch per comparison) cost more there than all the passes over the samples. */

/* The k-th smallest of v[0..m), m <= 16: the value with k values below it and more than k at most equal to it,
 * counted without branches. (NaN: none qualifies; v[k] is returned, so that nothing reads out of bounds.) */
static double select_small(const double *v, ptrdiff_t m, ptrdiff_t k) {
    for (ptrdiff_t i = 0; i < m; i++) {
        ptrdiff_t lt = 0, le = 0;
        for (ptrdiff_t j = 0; j < m; j++) lt += v[j] < v[i], le += v[j] <= v[i];
        if (lt <= k && k < le) return v[i];
    }
    return v[k];
}

/* Sorting networks: no branch to mispredict. Sorts 9 values (25 comparators). */
#define EE_CX(i, j)                                   \
    do {                                              \
        const double a_ = s[i], b_ = s[j];            \
        s[i] = a_ < b_ ? a_ : b_;                     \
        s[j] = b_ > a_ ? b_ : a_;                     \
    } while (0)
EE_Q_MINMAX static void sort9(double *s) {
    EE_CX(0, 1); EE_CX(3, 4); EE_CX(6, 7); EE_CX(1, 2); EE_CX(4, 5); EE_CX(7, 8); EE_CX(0, 1); EE_CX(3, 4);
    EE_CX(6, 7); EE_CX(0, 3); EE_CX(3, 6); EE_CX(0, 3); EE_CX(1, 4); EE_CX(4, 7); EE_CX(1, 4); EE_CX(2, 5);
    EE_CX(5, 8); EE_CX(2, 5); EE_CX(1, 3); EE_CX(5, 7); EE_CX(2, 6); EE_CX(4, 6); EE_CX(2, 4); EE_CX(2, 3);
    EE_CX(5, 6);
}
/* Sorts 8 values (19 comparators). */
EE_Q_MINMAX static void sort8(double *s) {
    EE_CX(0, 2); EE_CX(1, 3); EE_CX(4, 6); EE_CX(5, 7); EE_CX(0, 4); EE_CX(1, 5); EE_CX(2, 6); EE_CX(3, 7);
    EE_CX(0, 1); EE_CX(2, 3); EE_CX(4, 5); EE_CX(6, 7); EE_CX(2, 4); EE_CX(3, 5); EE_CX(1, 4); EE_CX(3, 6);
    EE_CX(1, 2); EE_CX(3, 4); EE_CX(5, 6);
}
#undef EE_CX

/* The k-th smallest of v[0..n) (v is not changed; t: 2n scratch). Three-way partitions out of place, between the
 * two halves of t, without branches: each value is stored at both ends and only its side's end advances (values
 * equal to the pivot are counted, not kept). The pivot is the value of rank about k in a sorted sample of 9, so
 * that the part holding rank k shrinks fast; every pass drops at least the pivot, so it ends (a NaN pivot ends it
 * at once, returning NaN). */
static double select_k(const double *v, ptrdiff_t n, ptrdiff_t k, double *t) {
    const double *src = v;
    double *dst = t;
    ptrdiff_t m = n;
    while (m > 16) {
        double s[9];
        for (int j = 0; j < 9; j++) s[j] = src[((ptrdiff_t)j * (m - 1)) >> 3];
        sort9(s);
        const double piv = s[(k * 8 + (m - 1) / 2) / (m - 1)];
        ptrdiff_t nl = 0, nh = 0;
        for (ptrdiff_t i = 0; i < m; i++) {
            const double x = src[i];
            dst[nl] = x;
            dst[m - 1 - nh] = x;
            nl += x < piv;
            nh += x > piv;
        }
        if (k < nl) {
            m = nl;
            src = dst;
        } else if (k >= m - nh) {
            k -= m - nh;
            src = dst + (m - nh);
            m = nh;
        } else {
            return piv;
        }
        dst = dst == t ? t + n : t;
    }
    return select_small(src, m, k);
}

/* The r-th largest of v[0..n), 1 <= r <= min(8, n), off a short running list of the largest values (descending): a
 * high quantile of a few hundred blocks (the 98th is the 6th largest of 250) is cheaper so than by selection. Where
 * there are 16 values or more and none is NaN, only those at least as large as the r-th largest of 8 lanes' maxima
 * reach the list (no fewer than r values do, so its r-th is the same): a lane pass without branches, then a branch
 * that is rarely taken, instead of one that a spiky envelope mispredicts. */
static double largest_r(const double *v, ptrdiff_t n, ptrdiff_t r) {
    double floor_ = 0.0;
    int filter = 0;
    if (n >= 16) {
        double s[8];
        int nan = 0;
        for (int j = 0; j < 8; j++) s[j] = v[j], nan |= v[j] != v[j];
        ptrdiff_t i = 8;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                const double x = v[i + j];
                s[j] = x > s[j] ? x : s[j];
                nan |= x != x;
            }
        for (; i < n; i++) s[0] = v[i] > s[0] ? v[i] : s[0], nan |= v[i] != v[i];
        if (!nan) {
            sort8(s);
            floor_ = s[8 - r];
            filter = 1;
        }
    }
    double top[8];
    ptrdiff_t have = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        const double x = v[i];
        if (filter && x < floor_) continue;
        if (have == r && !(x > top[r - 1])) continue;
        ptrdiff_t j = have < r ? have++ : r - 1;
        for (; j > 0 && top[j - 1] < x; j--) top[j] = top[j - 1];
        top[j] = x;
    }
    return top[r - 1];
}

/* The q quantile of v[0..n) (nearest rank below), using scratch t (2n). */
static double quantile(const double *v, ptrdiff_t n, double q, double *t) {
    if (n <= 0) return 0.0;
    const ptrdiff_t k = (ptrdiff_t)(q * (double)(n - 1)), r = n - k;  /* the r-th largest */
    return r <= 8 ? largest_r(v, n, r) : select_k(v, n, k, t);
}

/* numpy.median of float32 values: the mean of the two middle ones for an even count, in float32. d: n scratch, t: 2n. */
static float median_f32(const float *v, ptrdiff_t n, double *d, double *t) {
    for (ptrdiff_t i = 0; i < n; i++) d[i] = v[i];
    const double hi = select_k(d, n, n / 2, t);
    if (n % 2) return (float)hi;
    /* the lower middle one: hi itself if fewer than n / 2 values lie below it, else the largest of those */
    ptrdiff_t below = 0;
    double lo = -INFINITY;
    for (ptrdiff_t i = 0; i < n; i++) {
        below += d[i] < hi;
        lo = d[i] < hi && d[i] > lo ? d[i] : lo;
    }
    if (below < n / 2) lo = hi;
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

/* ------------------------------------------------------------------------------ passes over samples -- */

/* Maximum and minimum in 8 lanes, and whether any value is NaN or infinite (its exponent bits all set: an integer
 * test, which the finite math the max/min instructions need cannot fold away). The extremes are only used when no
 * value is (the caller rescans otherwise). */
EE_Q_MINMAX static int extremes_c(const float *x, ptrdiff_t n, float *mx, float *mn) {
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

/* out[k] = the energy of the second difference over block k of HF_BLOCK samples (its first difference starts
 * there), in two 8-lane halves. */
static void d2_energy_c(const float *v, ptrdiff_t nb, double *out) {
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

/* The 12 dot products of a hum segment with the basis rows. */
static void dots12_c(const float *seg, const float *basis, ptrdiff_t m, double *p) {
    for (int r = 0; r < 12; r++) p[r] = dot(seg, basis + (size_t)r * (size_t)m, m);
}

/* How many of v[0..n) are >= hi and <= lo (int32 and branch-free: compilers vectorise it). */
EE_Q_INLINE void edge_counts_body(const float *v, ptrdiff_t n, float hi, float lo, int32_t *at_hi, int32_t *at_lo) {
    int32_t h = 0, l = 0;
    for (ptrdiff_t i = 0; i < n; i++) h += v[i] >= hi, l += v[i] <= lo;
    *at_hi = h, *at_lo = l;
}
static void edge_counts_c(const float *v, ptrdiff_t n, float hi, float lo, int32_t *at_hi, int32_t *at_lo) {
    edge_counts_body(v, n, hi, lo, at_hi, at_lo);
}

/* xm[j] = the mean of v[j * b .. (j + 1) * b), in float32 as the reference: the factors rates give (2 for 250 Hz,
 * 3 for 300, 4 for 360, 5 for 500, 10 for 1 kHz) as constants, which the compiler unrolls. The first j0 means are
 * there already. */
#define DECIMATE(B)                                                                 \
    case B:                                                                          \
        for (ptrdiff_t j = j0; j < nm; j++) {                                        \
            float s = 0.0f;                                                          \
            for (int k = 0; k < B; k++) s += v[j * B + k];                           \
            xm[j] = (double)(s * (1.0f / (float)B));                                 \
        }                                                                            \
        return;
EE_Q_INLINE void decimate_body(const float *v, ptrdiff_t nm, ptrdiff_t b, double *xm, ptrdiff_t j0) {
    switch (b) {
    case 1:
        for (ptrdiff_t j = j0; j < nm; j++) xm[j] = v[j];
        return;
        DECIMATE(2) DECIMATE(3) DECIMATE(4) DECIMATE(5) DECIMATE(8) DECIMATE(10)
    default:
        for (ptrdiff_t j = j0; j < nm; j++) {
            float s = 0.0f;
            for (ptrdiff_t k = 0; k < b; k++) s += v[j * b + k];
            xm[j] = (double)(s * (1.0f / (float)b));
        }
    }
}
#undef DECIMATE
static void decimate_c(const float *v, ptrdiff_t nm, ptrdiff_t b, double *xm) { decimate_body(v, nm, b, xm, 0); }

/* Whether lead y equals its formula of leads I (a) and II (b) to within rounding: 0.01 mV and 0.1 % of its range.
 * NaN anywhere makes it unequal (the comparison fails), so a lead with gaps is measured on its own. */
EE_Q_INLINE int derived_from_body(const float *y, const float *a, const float *b, ptrdiff_t n, int code, float range) {
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
static int derived_from_c(const float *y, const float *a, const float *b, ptrdiff_t n, int code, float range) {
    return derived_from_body(y, a, b, n, code, range);
}

#ifdef EE_Q_AVX2
EE_Q_MINMAX EE_Q_AVX2_FN static int extremes_avx2(const float *x, ptrdiff_t n, float *mx, float *mn) {
    ee_qf8 hi = splat8(-FLT_MAX), lo = splat8(FLT_MAX), hi2 = hi, lo2 = lo;
    ee_qi8 bad = {0, 0, 0, 0, 0, 0, 0, 0}, bad2 = bad;
    const ee_qi8 exp = {0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000,
                        0x7f800000};
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {  /* two sets of lanes: the comparisons' latency overlaps */
        const ee_qf8 v = ld8(x + i), w = ld8(x + i + 8);
        bad |= (ld8i(x + i) & exp) == exp;
        bad2 |= (ld8i(x + i + 8) & exp) == exp;
        hi = pick8(v > hi, v, hi), hi2 = pick8(w > hi2, w, hi2);
        lo = pick8(v < lo, v, lo), lo2 = pick8(w < lo2, w, lo2);
    }
    hi = pick8(hi2 > hi, hi2, hi), lo = pick8(lo2 < lo, lo2, lo), bad |= bad2;
    for (; i + 8 <= n; i += 8) {
        const ee_qf8 v = ld8(x + i);
        bad |= (ld8i(x + i) & exp) == exp;
        hi = pick8(v > hi, v, hi);
        lo = pick8(v < lo, v, lo);
    }
    /* lanes to one by shuffles (extracting lanes one by one keeps the vectors in memory): halves, quarters, pairs */
    ee_qf8 h = EE_SHUF8(hi, 4, 5, 6, 7, 0, 1, 2, 3), l = EE_SHUF8(lo, 4, 5, 6, 7, 0, 1, 2, 3);
    ee_qi8 bb = EE_SHUF8(bad, 4, 5, 6, 7, 0, 1, 2, 3);
    hi = pick8(h > hi, h, hi), lo = pick8(l < lo, l, lo), bad |= bb;
    h = EE_SHUF8(hi, 2, 3, 0, 1, 6, 7, 4, 5), l = EE_SHUF8(lo, 2, 3, 0, 1, 6, 7, 4, 5);
    bb = EE_SHUF8(bad, 2, 3, 0, 1, 6, 7, 4, 5);
    hi = pick8(h > hi, h, hi), lo = pick8(l < lo, l, lo), bad |= bb;
    h = EE_SHUF8(hi, 1, 0, 3, 2, 5, 4, 7, 6), l = EE_SHUF8(lo, 1, 0, 3, 2, 5, 4, 7, 6);
    bb = EE_SHUF8(bad, 1, 0, 3, 2, 5, 4, 7, 6);
    hi = pick8(h > hi, h, hi), lo = pick8(l < lo, l, lo), bad |= bb;
    float top = hi[0], bottom = lo[0];
    int b = bad[0] != 0;
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        b |= (u & 0x7f800000u) == 0x7f800000u;
        top = x[i] > top ? x[i] : top;
        bottom = x[i] < bottom ? x[i] : bottom;
    }
    *mx = top, *mn = bottom;
    return b;
}

EE_Q_AVX2_FN static void d2_energy_avx2(const float *v, ptrdiff_t nb, double *out) {
    for (ptrdiff_t k = 0; k < nb; k++) {
        const float *p = v + k * HF_BLOCK;
        const ee_qf8 a0 = ld8(p), a1 = ld8(p + 1), a2 = ld8(p + 2), b0 = ld8(p + 8), b1 = ld8(p + 9), b2 = ld8(p + 10);
        const ee_qf8 d = (a2 - a1) - (a1 - a0), f = (b2 - b1) - (b1 - b0);
        ee_qf8 acc = d * d;
        acc += f * f;
        /* ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)), as d2_energy_c sums the lanes */
        acc += EE_SHUF8(acc, 4, 5, 6, 7, 0, 1, 2, 3);
        acc += EE_SHUF8(acc, 2, 3, 0, 1, 6, 7, 4, 5);
        out[k] = (double)(acc[0] + acc[1]);
    }
}

/* The 12 dot products in one pass over the segment, each in the 8 lanes and order of dot(). */
EE_Q_AVX2_FN static void dots12_avx2(const float *seg, const float *basis, ptrdiff_t m, double *p) {
    ptrdiff_t i = 0;
    ee_qf8 acc[12];
    for (int r = 0; r < 12; r++) acc[r] = splat8(0.0f);
    for (; i + 8 <= m; i += 8) {
        const ee_qf8 x = ld8(seg + i);
        for (int r = 0; r < 12; r++) acc[r] += x * ld8(basis + (size_t)r * (size_t)m + i);
    }
    for (int r = 0; r < 12; r++) {
        const float *b = basis + (size_t)r * (size_t)m;
        double s = 0.0;
        for (ptrdiff_t k = i; k < m; k++) s += (double)(seg[k] * b[k]);
        for (int j = 0; j < 8; j++) s += acc[r][j];
        p[r] = s;
    }
}

EE_Q_AVX2_FN static void edge_counts_avx2(const float *v, ptrdiff_t n, float hi, float lo, int32_t *at_hi,
                                          int32_t *at_lo) {
    ptrdiff_t i = 0;
    ee_qi8 ch = {0, 0, 0, 0, 0, 0, 0, 0}, cl = ch;  /* a true comparison is -1 */
    const ee_qf8 hv = splat8(hi), lv = splat8(lo);
    for (; i + 8 <= n; i += 8) {
        const ee_qf8 x = ld8(v + i);
        ch += x >= hv;
        cl += x <= lv;
    }
    ch += EE_SHUF8(ch, 4, 5, 6, 7, 0, 1, 2, 3), cl += EE_SHUF8(cl, 4, 5, 6, 7, 0, 1, 2, 3);
    ch += EE_SHUF8(ch, 2, 3, 0, 1, 6, 7, 4, 5), cl += EE_SHUF8(cl, 2, 3, 0, 1, 6, 7, 4, 5);
    int32_t h, l;
    edge_counts_body(v + i, n - i, hi, lo, &h, &l);
    *at_hi = h - (ch[0] + ch[1]), *at_lo = l - (cl[0] + cl[1]);
}

/* c[k][j] = v[B j + k] (k, j < 8): an 8 x 8 transpose of the rows v[B j .. B j + 8) */
#define EE_COLUMNS8(v, B, c)                                                         \
    do {                                                                             \
        ee_qf8 r_[8], t_[8], u_[8];                                                  \
        for (int j_ = 0; j_ < 8; j_++) r_[j_] = ld8((v) + (B) * j_);                 \
        for (int j_ = 0; j_ < 8; j_ += 2) {                                          \
            t_[j_] = EE_SHUF2(r_[j_], r_[j_ + 1], 0, 8, 1, 9, 4, 12, 5, 13);          \
            t_[j_ + 1] = EE_SHUF2(r_[j_], r_[j_ + 1], 2, 10, 3, 11, 6, 14, 7, 15);    \
        }                                                                            \
        for (int j_ = 0; j_ < 8; j_ += 4) {                                          \
            u_[j_] = EE_SHUF2(t_[j_], t_[j_ + 2], 0, 1, 8, 9, 4, 5, 12, 13);          \
            u_[j_ + 1] = EE_SHUF2(t_[j_], t_[j_ + 2], 2, 3, 10, 11, 6, 7, 14, 15);    \
            u_[j_ + 2] = EE_SHUF2(t_[j_ + 1], t_[j_ + 3], 0, 1, 8, 9, 4, 5, 12, 13);  \
            u_[j_ + 3] = EE_SHUF2(t_[j_ + 1], t_[j_ + 3], 2, 3, 10, 11, 6, 7, 14, 15);\
        }                                                                            \
        for (int k_ = 0; k_ < 4; k_++) {                                             \
            (c)[k_] = EE_SHUF2(u_[k_], u_[k_ + 4], 0, 1, 2, 3, 8, 9, 10, 11);         \
            (c)[k_ + 4] = EE_SHUF2(u_[k_], u_[k_ + 4], 4, 5, 6, 7, 12, 13, 14, 15);   \
        }                                                                            \
    } while (0)

/* Factors 3 to 8 (300, 360 and 500 Hz): 8 means at a time from the columns of an 8 x 8 transpose (a strided
 * gather the compilers do not vectorise), each summed in the order of decimate_body; the rest as there. */
#define DECIMATE8(B)                                                                \
    case B:                                                                          \
        for (; B * (j + 7) + 8 <= nm * B; j += 8) {                                  \
            ee_qf8 c[8], s = splat8(0.0f);                                           \
            EE_COLUMNS8(v + B * j, B, c);                                            \
            for (int k = 0; k < B; k++) s += c[k];                                   \
            *(ee_qd8u *)(xm + j) = __builtin_convertvector(s * splat8(1.0f / (float)B), ee_qd8); \
        }                                                                            \
        break;
EE_Q_AVX2_FN static void decimate_avx2(const float *v, ptrdiff_t nm, ptrdiff_t b, double *xm) {
    ptrdiff_t j = 0;
    switch (b) { DECIMATE8(3) DECIMATE8(4) DECIMATE8(5) DECIMATE8(8) default: break; }
    decimate_body(v, nm, b, xm, j);
}
#undef DECIMATE8
#undef EE_COLUMNS8

EE_Q_AVX2_FN static int derived_from_avx2(const float *y, const float *a, const float *b, ptrdiff_t n, int code,
                                          float range) {
    return derived_from_body(y, a, b, n, code, range);
}
#endif

typedef struct {
    int (*extremes)(const float *x, ptrdiff_t n, float *mx, float *mn);
    void (*d2_energy)(const float *v, ptrdiff_t nb, double *out);
    void (*dots12)(const float *seg, const float *basis, ptrdiff_t m, double *p);
    void (*edge_counts)(const float *v, ptrdiff_t n, float hi, float lo, int32_t *at_hi, int32_t *at_lo);
    void (*decimate)(const float *v, ptrdiff_t nm, ptrdiff_t b, double *xm);
    int (*derived_from)(const float *y, const float *a, const float *b, ptrdiff_t n, int code, float range);
} passes;

static const passes PASSES_C = {extremes_c, d2_energy_c, dots12_c, edge_counts_c, decimate_c, derived_from_c};
#ifdef EE_Q_AVX2
static const passes PASSES_AVX2 = {extremes_avx2,     d2_energy_avx2, dots12_avx2, edge_counts_avx2,
                                   decimate_avx2,     derived_from_avx2};
#endif

static const passes *passes_for_cpu(void) {
#ifdef EE_Q_AVX2
    __builtin_cpu_init();  /* (initialised once; needed if this ran before the library's constructors) */
    if (__builtin_cpu_supports("avx2")) return &PASSES_AVX2;
#endif
    return &PASSES_C;
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
static void lead_features(const passes *P, const float *v, ptrdiff_t n, const ee_qspec *q, const geometry *g, float mx,
                          float mn, double *o, double *e, double *med, double *xm, double *t, double *blocks) {
    const double fs = q->fs;
    /* noise above 40 Hz: the median energy of the second difference per 40-ms block */
    if (fs >= 200 && n >= 3 * HF_BLOCK + 2) {
        const ptrdiff_t nb2 = (n - 2) / HF_BLOCK;
        P->d2_energy(v, nb2, blocks);
        o[EE_Q_HF] = sqrt(quantile(blocks, nb2, 0.5, t) / (6.0 * HF_BLOCK));
    }
    /* block means to about 100 Hz, then the 40-ms total variation envelope */
    P->decimate(v, g->nm, g->b0, xm);
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
    int32_t at_hi = 0, at_lo = 0;
    P->edge_counts(v, n, hi_edge, lo_edge, &at_hi, &at_lo);
    for (int side = 1; side >= -1; side -= 2) {
        const float edge = side > 0 ? hi_edge : lo_edge;
        if ((side > 0 ? at_hi : at_lo) < need) continue;
        if (!have_median) {
            md = median_f32(v, n, blocks, t);
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
            P->dots12(seg, q->basis, m, p);
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
    const passes *P = passes_for_cpu();
    const int too_short = g.nb < 3;
    const ptrdiff_t S = g.S, nb = too_short ? 0 : g.nb;
    /* scratch: a repaired copy of a lead, the block means, per-lead envelopes and segment medians, order
     * statistics' scratch (twice the longest list) and small per-block (or per-lead) arrays */
    const size_t big = (size_t)(n > 16 ? n : 16) > (size_t)L ? (size_t)(n > 16 ? n : 16) : (size_t)L;
    float *w = malloc(big * sizeof(float));
    double *xm = malloc((size_t)(g.nm + 1) * sizeof(double));
    double *e = malloc(((size_t)L * (size_t)(nb + 1)) * sizeof(double));
    double *med = malloc(((size_t)L * (size_t)S + 1) * sizeof(double));
    double *t = malloc(2 * big * sizeof(double));
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
        const int nonfinite = P->extremes(row, n, &mx, &mn);
        if (have_limbs && q->derive[l] != EE_Q_OWN && !nonfinite &&
            P->derived_from(row, x + (size_t)q->lead_i * (size_t)n, x + (size_t)q->lead_ii * (size_t)n, n, q->derive[l],
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
        lead_features(P, v, n, q, &g, mx, mn, o, e + (size_t)l * (size_t)nb, med + (size_t)l * (size_t)S, xm, t,
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
            if (a >= q->flat_mV) blocks[live++] = a;
            top = a > top ? a : top;
        }
        const double rec = live ? select_k(blocks, live, (ptrdiff_t)(0.5 * (double)(live - 1)), t) : top;
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
