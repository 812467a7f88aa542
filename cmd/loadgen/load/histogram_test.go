package load

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketBoundsAreContiguous(t *testing.T) {
	for i := 0; i < nBuckets-1; i++ {
		require.Equal(t, bucketHigh(i)+1, bucketLow(i+1), "bucket %d", i)
		require.Equal(t, i, bucketOf(bucketLow(i)), "low of %d", i)
		require.Equal(t, i, bucketOf(bucketHigh(i)), "high of %d", i)
	}
	assert.Equal(t, nBuckets-1, bucketOf(math.MaxUint64))
}

func TestQuantilesWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	var h Histogram
	samples := make([]time.Duration, 20000)
	for i := range samples {
		// Log-normal-ish latencies from 10 µs to seconds.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5+8)) * time.Microsecond
		samples[i] = d
		h.Record(d)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	s := h.Snapshot()
	require.EqualValues(t, len(samples), s.Count())
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := s.Quantile(q)
		assert.GreaterOrEqual(t, got, exact.Truncate(time.Microsecond), "q=%v", q)
		assert.LessOrEqual(t, float64(got), float64(exact)*(1+1.0/64)+float64(time.Microsecond), "q=%v", q)
	}
	assert.Equal(t, samples[len(samples)-1].Truncate(time.Microsecond), s.Max())
}

func TestSnapshotMergeAndJSON(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 100; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
		b.Record(time.Duration(i+100) * time.Millisecond)
	}
	s := a.Snapshot()
	s.Merge(b.Snapshot())
	assert.EqualValues(t, 200, s.Count())
	assert.Equal(t, 200*time.Millisecond, s.Max())
	assert.Equal(t, time.Millisecond, time.Duration(s.MinUS)*time.Microsecond)
	assert.InDelta(t, float64(100*time.Millisecond), float64(s.Quantile(0.5)), float64(2*time.Millisecond))

	js, err := json.Marshal(s)
	require.NoError(t, err)
	var back Snapshot
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, s.Quantile(0.99), back.Quantile(0.99))

	var empty Snapshot
	assert.Zero(t, empty.Quantile(0.99))
	assert.Nil(t, empty.Bins(10))
}

func TestBinsCountEverySample(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(i*i+1) * time.Microsecond)
	}
	var n uint64
	bins := h.Snapshot().Bins(40)
	require.Len(t, bins, 40)
	for _, b := range bins {
		n += b.Count
	}
	assert.EqualValues(t, 1000, n)
}

func TestRecordConcurrently(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	assert.EqualValues(t, 8000, s.Count())
	assert.Equal(t, 7999*time.Microsecond, s.Max())
	assert.Zero(t, s.MinUS)
}
