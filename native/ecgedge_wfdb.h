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

/* A span of the header text: [off, off + len). */
typedef struct {
    int32_t off, len;
} ee_span;

/* One signal line of the common WFDB header form: "file fmt[xspf][:skew][+offset] gain[(baseline)][/units] adcres
 * adczero init checksum blocksize [description]". */
typedef struct {
    ee_span file, fmt, units, desc; /* units.len == 0: no "/units" (the caller's default); fmt: its digits */
    double gain;
    int64_t spf, skew, offset, baseline, adc_res, adc_zero, init, checksum, block;
    int32_t has_baseline, line;
} ee_hea_signal;

/* The record line: "name nsig [fs [nsamples [time] [date]]]". */
typedef struct {
    ee_span name, base_time, base_date; /* len 0: absent */
    int64_t n_signals, n_samples;
    double fs;
    int32_t has_fs, has_n_samples, line;
} ee_hea_record;

/* Parse the common form of a WFDB header (printable ASCII, tab, CR, LF; '#' comment lines; a record line
 * without segments or counter frequency, with at most a base time and a base date in the forms the full parser
 * knows; exactly n_signals signal lines of 8 or 9 fields whose numbers are plain decimals in range, a relative file
 * name, a non-zero gain).
 * Returns the number of signals (0..max_sig) with rec, sig[] and com[] (*n_com comment texts, '#' and blanks
 * stripped) filled in, or -1 where the header is anything else: the caller's full parser then reads it (and names
 * what is wrong, if anything is). Fields hold exactly what Python's int()/float() give for the same tokens. */
int ee_parse_header(const char *text, int64_t n, ee_hea_record *rec, ee_hea_signal *sig, int max_sig, ee_span *com,
                    int max_com, int *n_com);

#endif
