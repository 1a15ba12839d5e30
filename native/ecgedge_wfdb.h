/* WFDB signal-file decoding straight to physical units (ecgedge/io/wfdb_record.py's native path). */
#ifndef ECGEDGE_WFDB_H
#define ECGEDGE_WFDB_H

#include <stdint.h>

/* Format 16 (little-endian two's-complement int16, `width` signals interleaved frame by frame) to physical
 * float32, lead-major: out[s * frames + t] = ((float)d - base[s]) / gain[s], each operation rounded to
 * float32 as numpy's float32 arithmetic rounds it; d == -32768 (WFDB's invalid-sample code) gives NaN and is
 * counted in invalid[s]; sums[s] is the exact sum of signal s's digital samples (the header's checksum is
 * that sum modulo 65536); lo[s] and hi[s] are its smallest and largest digital samples (the record's physical
 * range without a second pass). buf holds at least 2 * frames * width bytes. Never fails. Returns the largest
 * |physical value| of the record, computed from lo and hi in the samples' own float32 arithmetic (so it is one of
 * them, exactly), or NaN when a sample is invalid (the caller then looks at every value). */
double ee_wfdb16(const uint8_t *buf, int64_t frames, int width, const float *base, const float *gain, float *out,
                 int64_t *sums, int64_t *invalid, int64_t *lo, int64_t *hi);

#endif
