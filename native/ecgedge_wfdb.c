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
