/* Self-contained test of the C core against naive implementations written here, for any
 * architecture: the test suite runs it natively and, where a cross compiler and qemu exist, on
 * aarch64. Exit status 0 and "selftest ok" on success. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecgedge_dsp.h"

static int failures = 0;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double urand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void check(int ok, const char *what, int a, int b) {
    if (!ok) {
        failures++;
        if (failures < 20) fprintf(stderr, "FAIL %s (%d, %d)\n", what, a, b);
    }
}

static double maxrel(const double *a, const double *b, size_t n) {
    double m = 0, s = 1e-300;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / s;
}

/* a stable random section: poles at radius r < 1 */
static void random_sos(double *sos, int S) {
    for (int s = 0; s < S; s++) {
        const double r = 0.3 + 0.65 * urand(), th = 3.14159 * urand();
        sos[6 * s + 0] = urand() - 0.5;
        sos[6 * s + 1] = urand() - 0.5;
        sos[6 * s + 2] = urand() - 0.5;
        sos[6 * s + 3] = 1.0;
        sos[6 * s + 4] = -2 * r * cos(th);
        sos[6 * s + 5] = r * r;
    }
}

static void naive_sosfilt(const double *sos, int S, double *x, ptrdiff_t n, int L, double *zi, int rev) {
    for (int l = 0; l < L; l++)
        for (ptrdiff_t tt = 0; tt < n; tt++) {
            const ptrdiff_t t = rev ? n - 1 - tt : tt;
            double v = x[t * L + l];
            for (int s = 0; s < S; s++) {
                const double *c = sos + 6 * s;
                double *z0 = zi + (2 * s) * L + l, *z1 = zi + (2 * s + 1) * L + l;
                const double y = c[0] * v + *z0;
                *z0 = c[1] * v - c[4] * y + *z1;
                *z1 = c[2] * v - c[5] * y;
                v = y;
            }
            x[t * L + l] = v;
        }
}

static int cmpd(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    const int leads[] = {1, 2, 3, 4, 5, 8, 12, 13, 16};
    /* causal SOS, forward and (through filtfilt) backward, every lead count and 1..6 sections */
    for (size_t li = 0; li < sizeof leads / sizeof *leads; li++)
        for (int S = 1; S <= 6; S++) {
            const int L = leads[li];
            const ptrdiff_t n = 700;
            double sos[36], *x = malloc(sizeof(double) * n * L), *y = malloc(sizeof(double) * n * L);
            double *z1 = calloc(2 * S * L, sizeof(double)), *z2 = calloc(2 * S * L, sizeof(double));
            random_sos(sos, S);
            for (ptrdiff_t i = 0; i < n * L; i++) x[i] = y[i] = urand() - 0.5;
            ee_sosfilt(sos, S, x, n, L, z1);
            naive_sosfilt(sos, S, y, n, L, z2, 0);
            check(maxrel(x, y, n * L) < 1e-12, "sosfilt", L, S);
            check(maxrel(z1, z2, 2 * S * L) < 1e-12, "sosfilt state", L, S);
            free(x), free(y), free(z1), free(z2);
        }
    /* zero-phase against odd extension + steady state + forward + backward done naively */
    for (size_t li = 0; li < sizeof leads / sizeof *leads; li++) {
        const int L = leads[li], S = 2;
        const ptrdiff_t n = 500, pad = ee_filtfilt_padlen((double[]){0.1, 0.2, 0.3, 1, -1.2, 0.5, 0.1, 0.2, 0.3, 1, -1.1, 0.4}, 2);
        double sos[12] = {0.1, 0.2, 0.3, 1, -1.2, 0.5, 0.1, 0.2, 0.3, 1, -1.1, 0.4}, zi[4];
        double *x = malloc(sizeof(double) * n * L), *e = malloc(sizeof(double) * (n + 2 * pad) * L);
        double *st = malloc(sizeof(double) * 4 * L);
        for (ptrdiff_t i = 0; i < n * L; i++) x[i] = urand() - 0.5;
        const ptrdiff_t m = n + 2 * pad;
        for (int l = 0; l < L; l++)
            for (ptrdiff_t t = 0; t < m; t++) {
                const ptrdiff_t q = t - pad;
                e[t * L + l] = q < 0 ? 2 * x[l] - x[-q * L + l]
                             : q >= n ? 2 * x[(n - 1) * L + l] - x[(2 * (n - 1) - q) * L + l] : x[q * L + l];
            }
        ee_sosfilt_zi(sos, S, zi);
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < L; l++) st[s * L + l] = zi[s] * e[l];
        naive_sosfilt(sos, S, e, m, L, st, 0);
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < L; l++) st[s * L + l] = zi[s] * e[(m - 1) * L + l];
        naive_sosfilt(sos, S, e, m, L, st, 1);
        check(ee_sosfiltfilt(sos, S, x, n, L) == EE_OK, "filtfilt rc", L, 0);
        check(maxrel(x, e + pad * L, n * L) < 1e-12, "filtfilt", L, 0);
        free(x), free(e), free(st);
    }
    /* resampling against the direct upfirdn sum */
    const int ratios[][2] = {{1, 5}, {1, 2}, {5, 18}, {1, 3}, {100, 257}, {2, 5}, {5, 1}};
    for (size_t ri = 0; ri < sizeof ratios / sizeof *ratios; ri++)
        for (size_t li = 0; li < sizeof leads / sizeof *leads; li++) {
            const int up = ratios[ri][0], down = ratios[ri][1], L = leads[li];
            const ptrdiff_t n = 400, H = 61, pre = 7, n_out = (n * up + down - 1) / down;
            double *x = malloc(sizeof(double) * n * L), *h = malloc(sizeof(double) * H);
            double *y = malloc(sizeof(double) * n_out * L), *r = calloc(n_out * L, sizeof(double));
            for (ptrdiff_t i = 0; i < n * L; i++) x[i] = urand() - 0.5;
            for (ptrdiff_t i = 0; i < H; i++) h[i] = urand() - 0.5;
            ee_resample(x, n, 0, L, h, H, up, down, pre, 0, n_out, y);
            for (ptrdiff_t j = 0; j < n_out; j++)
                for (int l = 0; l < L; l++)
                    for (ptrdiff_t p = 0; p < n; p++) {
                        const ptrdiff_t k = (j + pre) * down - p * up;
                        if (k >= 0 && k < H) r[j * L + l] += h[k] * x[p * L + l];
                    }
            check(maxrel(y, r, n_out * L) < 1e-12, "resample", up * 1000 + down, L);
            free(x), free(h), free(y), free(r);
        }
    /* medians against sorting each zero-padded window, with ties, both algorithms */
    const int ks[] = {1, 3, 5, 15, 17, 31, 101};
    const ptrdiff_t ns[] = {1, 2, 7, 50, 333, 2000};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            const int k = ks[ki], L = 3;
            const ptrdiff_t n = ns[ni];
            double *x = malloc(sizeof(double) * n * L), *y = malloc(sizeof(double) * n * L), w[101];
            for (ptrdiff_t i = 0; i < n * L; i++) x[i] = (i % 3 == 1) ? floor(urand() * 4) : urand() - 0.5;
            check(ee_medfilt(x, y, n, L, k) == EE_OK, "medfilt rc", k, (int)n);
            for (int l = 0; l < L; l++)
                for (ptrdiff_t t = 0; t < n; t++) {
                    for (int i = 0; i < k; i++) {
                        const ptrdiff_t q = t - k / 2 + i;
                        w[i] = (q < 0 || q >= n) ? 0.0 : x[q * L + l];
                    }
                    qsort(w, k, sizeof(double), cmpd);
                    check(y[t * L + l] == w[k / 2], "medfilt", k, (int)n);
                }
            free(x), free(y);
        }
    /* two-stage baseline removal (one shared sort) against two brute-force medians, with ties, a huge
     * spike (every other value crowds into one key) and records spanning several segments */
    {
        const int k1s[] = {17, 101, 31}, k2s[] = {45, 301, 17};
        const ptrdiff_t ns[] = {3, 60, 1000, 12000};
        for (size_t ki = 0; ki < 3; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
                const int k1 = k1s[ki], k2 = k2s[ki], L = 2;
                const ptrdiff_t n = ns[ni];
                double *x = malloc(sizeof(double) * n * L), *y = malloc(sizeof(double) * n * L);
                double *m1 = malloc(sizeof(double) * n), *w = malloc(sizeof(double) * 301);
                for (ptrdiff_t i = 0; i < n * L; i++) x[i] = (i % 2) ? floor(urand() * 8) : (urand() - 0.5) * 1e-3;
                x[(n / 2) * L] = 1e12;
                memcpy(y, x, sizeof(double) * n * L);
                check(ee_remove_baseline(y, n, L, k1, k2) == EE_OK, "remove_baseline rc", k1, (int)n);
                for (int l = 0; l < L; l++) {
                    for (ptrdiff_t t = 0; t < n; t++) {
                        for (int i = 0; i < k1; i++) {
                            const ptrdiff_t q = t - k1 / 2 + i;
                            w[i] = (q < 0 || q >= n) ? 0.0 : x[q * L + l];
                        }
                        qsort(w, k1, sizeof(double), cmpd);
                        m1[t] = w[k1 / 2];
                    }
                    for (ptrdiff_t t = 0; t < n; t++) {
                        for (int i = 0; i < k2; i++) {
                            const ptrdiff_t q = t - k2 / 2 + i;
                            w[i] = (q < 0 || q >= n) ? 0.0 : m1[q];
                        }
                        qsort(w, k2, sizeof(double), cmpd);
                        check(y[t * L + l] == x[t * L + l] - w[k2 / 2], "remove_baseline", k1, (int)n);
                    }
                }
                free(x), free(y), free(m1), free(w);
            }
    }
    /* normalisation and windows */
    {
        const int L = 5;
        const ptrdiff_t n = 300;
        double x[1500];
        uint8_t flags[5] = {0};
        for (ptrdiff_t i = 0; i < n * L; i++) x[i] = (i % L == 2) ? 0.42 : urand() * 3 - 1;
        ee_normalize(x, n, L, EE_NORM_ZSCORE, flags);
        check(flags[2] == 1 && flags[0] == 0, "flat flag", flags[2], flags[0]);
        double mean = 0, ss = 0;
        for (ptrdiff_t t = 0; t < n; t++) mean += x[t * L];
        mean /= n;
        for (ptrdiff_t t = 0; t < n; t++) ss += (x[t * L] - mean) * (x[t * L] - mean);
        check(fabs(mean) < 1e-12 && fabs(ss / n - 1) < 1e-12, "zscore", 0, 0);
        for (ptrdiff_t t = 0; t < n; t++) check(x[t * L + 2] == 0.0, "flat zero", (int)t, 0);
        const ptrdiff_t W = ee_window_count(n, 100, 40, 1);
        float *o = malloc(sizeof(float) * W * L * 100);
        ee_windows(x, n, L, 100, 40, 1, EE_PAD_ZEROS, o);
        check(W == 6, "window count", (int)W, 6);
        check(o[((W - 1) * L + 1) * 100 + 99] == (float)x[(n - 1) * L + 1], "tail window", 0, 0);
        free(o);
    }
    if (failures) {
        fprintf(stderr, "selftest: %d failure(s)\n", failures);
        return 1;
    }
    printf("selftest ok\n");
    return 0;
}
