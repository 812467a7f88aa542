package load

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in log-linear buckets, HDR style: exact below
// 128 µs, then 64 buckets per power of two, so a quantile is within 1/64
// (1.6 %) of the true value. The maximum and minimum are exact. Record is
// safe for concurrent use and never allocates; read with Snapshot.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
	min    atomic.Uint64 // µs + 1; 0 means none yet
}

const (
	subBuckets = 128
	halfSub    = subBuckets / 2
	maxShift   = 40 // 2^47 µs: four years
	nBuckets   = subBuckets + halfSub*maxShift
)

// bucketOf returns the bucket of v microseconds.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	if shift > maxShift {
		return nBuckets - 1
	}
	return subBuckets + (shift-1)*halfSub + int(v>>uint(shift)) - halfSub
}

// bucketLow returns the smallest value of bucket i.
func bucketLow(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	i -= subBuckets
	shift := i/halfSub + 1
	return uint64(i%halfSub+halfSub) << uint(shift)
}

// bucketHigh returns the largest value of bucket i.
func bucketHigh(i int) uint64 {
	if i >= nBuckets-1 {
		return math.MaxUint64
	}
	return bucketLow(i+1) - 1
}

// Record adds one duration (negative counts as 0).
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0) / time.Microsecond)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// Snapshot returns a copy of the histogram's current counts.
func (h *Histogram) Snapshot() *Snapshot {
	s := &Snapshot{Counts: make([]uint64, nBuckets)}
	for i := range h.counts {
		c := h.counts[i].Load()
		s.Counts[i] = c
		s.N += c
	}
	s.SumUS = h.sum.Load()
	s.MaxUS = h.max.Load()
	if m := h.min.Load(); m > 0 {
		s.MinUS = m - 1
	}
	return s
}

// Snapshot is a histogram's counts at one moment; it serialises to JSON so
// a child process can hand its histograms to its parent.
type Snapshot struct {
	Counts []uint64 `json:"-"` // by bucket
	N      uint64   `json:"n"`
	SumUS  uint64   `json:"sum_us"`
	MinUS  uint64   `json:"min_us"`
	MaxUS  uint64   `json:"max_us"`
}

// snapshotJSON is Snapshot's wire form: the non-empty buckets as
// [bucket, count] pairs ("counts", every bucket, is read too).
type snapshotJSON struct {
	Buckets [][2]uint64 `json:"buckets"`
	Counts  []uint64    `json:"counts,omitempty"`
	N       uint64      `json:"n"`
	SumUS   uint64      `json:"sum_us"`
	MinUS   uint64      `json:"min_us"`
	MaxUS   uint64      `json:"max_us"`
}

// MarshalJSON writes the non-empty buckets only.
func (s *Snapshot) MarshalJSON() ([]byte, error) {
	w := snapshotJSON{Buckets: [][2]uint64{}, N: s.N, SumUS: s.SumUS, MinUS: s.MinUS, MaxUS: s.MaxUS}
	for i, c := range s.Counts {
		if c > 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var w snapshotJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Snapshot{Counts: make([]uint64, nBuckets), N: w.N, SumUS: w.SumUS, MinUS: w.MinUS, MaxUS: w.MaxUS}
	copy(s.Counts, w.Counts)
	for _, bc := range w.Buckets {
		if bc[0] >= nBuckets {
			return fmt.Errorf("histogram bucket %d out of range", bc[0])
		}
		s.Counts[bc[0]] += bc[1]
	}
	return nil
}

// Merge adds o's counts to s.
func (s *Snapshot) Merge(o *Snapshot) {
	if o == nil || o.N == 0 {
		return
	}
	if s.Counts == nil {
		s.Counts = make([]uint64, nBuckets)
	}
	for i, c := range o.Counts {
		s.Counts[i] += c
	}
	if s.N == 0 || o.MinUS < s.MinUS {
		s.MinUS = o.MinUS
	}
	s.N += o.N
	s.SumUS += o.SumUS
	s.MaxUS = max(s.MaxUS, o.MaxUS)
}

// Quantile returns the q-quantile (0 < q <= 1): the highest value of the
// bucket holding the ceil(q*N)-th smallest sample, never above the maximum.
// It is 0 for an empty snapshot.
func (s *Snapshot) Quantile(q float64) time.Duration {
	if s == nil || s.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	rank = min(max(rank, 1), s.N)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), s.MinUS), s.MaxUS)) * time.Microsecond
		}
	}
	return s.Max()
}

// Max returns the largest sample.
func (s *Snapshot) Max() time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(s.MaxUS) * time.Microsecond
}

// Mean returns the mean sample.
func (s *Snapshot) Mean() time.Duration {
	if s == nil || s.N == 0 {
		return 0
	}
	return time.Duration(s.SumUS/s.N) * time.Microsecond
}

// Count returns the number of samples.
func (s *Snapshot) Count() uint64 {
	if s == nil {
		return 0
	}
	return s.N
}

// Bin is one bar of a coarse histogram: Count samples in [Low, High].
type Bin struct {
	Low, High time.Duration
	Count     uint64
}

// Bins regroups the snapshot into at most n bins of equal width on a log
// scale between its minimum and maximum, for plotting.
func (s *Snapshot) Bins(n int) []Bin {
	if s == nil || s.N == 0 || n < 1 {
		return nil
	}
	lo := math.Log(float64(max(s.MinUS, 1)))
	hi := math.Log(float64(max(s.MaxUS, 2)))
	if hi <= lo {
		hi = lo + math.Log(2)
	}
	step := (hi - lo) / float64(n)
	bins := make([]Bin, n)
	for i := range bins {
		bins[i].Low = time.Duration(math.Exp(lo+step*float64(i))) * time.Microsecond
		bins[i].High = time.Duration(math.Exp(lo+step*float64(i+1))) * time.Microsecond
	}
	// Spread each bucket's count over the bins its value range overlaps,
	// in proportion (on the log scale), so that narrow buckets do not
	// alias into alternating bars.
	frac := make([]float64, n)
	lmin, lmax := float64(max(s.MinUS, 1)), float64(max(s.MaxUS, 1))
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		a := math.Log(min(max(float64(bucketLow(i)), lmin), lmax))
		b := math.Log(min(max(float64(bucketHigh(i))+1, lmin), lmax+1))
		if b <= a {
			j := min(max(int((a-lo)/step), 0), n-1)
			frac[j] += float64(c)
			continue
		}
		for j := min(max(int((a-lo)/step), 0), n-1); j < n; j++ {
			bl, bh := lo+step*float64(j), lo+step*float64(j+1)
			if j == n-1 {
				bh = math.Inf(1)
			}
			if bl >= b {
				break
			}
			if ov := min(b, bh) - max(a, bl); ov > 0 {
				frac[j] += float64(c) * ov / (b - a)
			}
		}
	}
	// Round so that the counts still add up to N.
	var acc float64
	var given uint64
	for j := range bins {
		acc += frac[j]
		want := uint64(math.Round(acc))
		bins[j].Count = want - given
		given = want
	}
	return bins
}
