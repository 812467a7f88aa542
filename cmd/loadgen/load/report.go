package load

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Report is a Markdown document with SVG figures, written to a directory
// as report.md and one NAME.svg per figure. Not safe for concurrent use.
type Report struct {
	dir   string
	b     strings.Builder
	files map[string]string
}

// NewReport starts a report titled title, to be written into dir.
func NewReport(dir, title string) *Report {
	r := &Report{dir: dir, files: map[string]string{}}
	fmt.Fprintf(&r.b, "# %s\n\n", title)
	return r
}

// Heading adds a heading of level 2 or more.
func (r *Report) Heading(level int, text string) {
	fmt.Fprintf(&r.b, "%s %s\n\n", strings.Repeat("#", max(level, 2)), text)
}

// Para adds a paragraph.
func (r *Report) Para(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteString("\n\n")
}

// Bullets adds a bulleted list.
func (r *Report) Bullets(items ...string) {
	for _, it := range items {
		fmt.Fprintf(&r.b, "- %s\n", it)
	}
	r.b.WriteString("\n")
}

// Code adds a fenced code block.
func (r *Report) Code(text string) {
	fmt.Fprintf(&r.b, "```\n%s\n```\n\n", strings.TrimRight(text, "\n"))
}

// Table adds a table.
func (r *Report) Table(header []string, rows [][]string) {
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	r.b.WriteString("|")
	for _, h := range header {
		r.b.WriteString(" " + cell(h) + " |")
	}
	r.b.WriteString("\n|")
	for range header {
		r.b.WriteString("---|")
	}
	r.b.WriteString("\n")
	for _, row := range rows {
		r.b.WriteString("|")
		for _, c := range row {
			r.b.WriteString(" " + cell(c) + " |")
		}
		r.b.WriteString("\n")
	}
	r.b.WriteString("\n")
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// FileName turns s into a file name.
func FileName(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// Figure adds an SVG figure saved as name.svg.
func (r *Report) Figure(name, alt, svg string) {
	name = FileName(name) + ".svg"
	r.files[name] = svg
	fmt.Fprintf(&r.b, "![%s](%s)\n\n", alt, name)
}

// Write writes report.md and the figures into the report's directory.
func (r *Report) Write() error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	// Figures of an earlier report in the directory that this one does
	// not have would be left dangling: remove them.
	old, _ := filepath.Glob(filepath.Join(r.dir, "*.svg"))
	for _, f := range old {
		if _, keep := r.files[filepath.Base(f)]; !keep {
			os.Remove(f)
		}
	}
	for name, svg := range r.files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(r.b.String()), 0o644)
}

// SummaryHeader is the header of SummaryRow.
var SummaryHeader = []string{"run", "mode", "sent/s", "ok/s", "ok", "step errors", "rejected", "failed", "unsent",
	"p50", "p95", "p99", "max", "peak RSS", "peak goroutines"}

// SummaryRow is the figures of res in one table row.
func SummaryRow(res *Result) []string {
	mode := "open " + FormatRate(res.Rate) + "/s"
	if res.Mode == "closed" {
		mode = fmt.Sprintf("closed ×%d", res.Concurrency)
	}
	unsent := fmt.Sprint(res.Unsent)
	if res.Abandoned > 0 {
		unsent += fmt.Sprintf(" (+%d abandoned)", res.Abandoned)
	}
	gor := "n/a"
	if g := res.PeakGauge(func(s Second) int { return s.Goroutines }); g >= 0 {
		gor = fmt.Sprint(g)
	}
	return []string{res.Label, mode, FormatRate(res.Offered()), FormatRate(res.Throughput()),
		fmt.Sprint(res.OK), fmt.Sprint(res.StepErrors), fmt.Sprint(res.Rejected), fmt.Sprint(res.Failed), unsent,
		FormatDuration(res.Latency.Quantile(0.5)), FormatDuration(res.Latency.Quantile(0.95)),
		FormatDuration(res.Latency.Quantile(0.99)), FormatDuration(res.Latency.Max()),
		FormatBytes(res.PeakRSS()), gor}
}

// FormatRate prints a rate per second: whole above 10, else with up to
// two decimals.
func FormatRate(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// LatencyOverTime charts the per-second p50, p99 and max of res's
// successes (by completion second), on a log scale.
func LatencyOverTime(res *Result) string {
	var x, p50, p99, mx []float64
	for _, s := range res.Seconds {
		if s.OK == 0 {
			continue
		}
		x = append(x, float64(s.T+1))
		p50 = append(p50, ms(s.P50))
		p99 = append(p99, ms(s.P99))
		mx = append(mx, ms(s.Max))
	}
	return LineChart{
		Title: res.Label + ": latency of successful steps over time", XLabel: "time (s, by completion)", YLabel: "latency",
		LogY: true, YFormat: MillisFormat,
		Series: []Series{{Name: "p50", X: x, Y: p50}, {Name: "p99", X: x, Y: p99}, {Name: "max", X: x, Y: mx}},
	}.SVG()
}

// LatencyHistogram charts the distribution of res's success latencies in
// 40 log-spaced bins.
func LatencyHistogram(res *Result) string {
	bins := res.Latency.Bins(40)
	c := BarChart{Title: res.Label + ": latency histogram (successful steps, log-spaced bins)",
		XLabel: "latency (bin lower bound)", YLabel: "steps", LabelEvery: 5}
	for _, b := range bins {
		c.Labels = append(c.Labels, FormatDuration(b.Low))
		c.Values = append(c.Values, float64(b.Count))
	}
	return c.SVG()
}

// ThroughputOverTime charts sends, successes and rejections per second.
func ThroughputOverTime(res *Result) string {
	var x, sent, ok, rej, errs []float64
	for _, s := range res.Seconds {
		x = append(x, float64(s.T+1))
		sent = append(sent, float64(s.Sent))
		ok = append(ok, float64(s.OK))
		rej = append(rej, float64(s.Rejected))
		errs = append(errs, float64(s.StepErrors+s.Failed))
	}
	return LineChart{Title: res.Label + ": per second", XLabel: "time (s)", YLabel: "per second",
		Series: []Series{{Name: "sent (intended)", X: x, Y: sent}, {Name: "ok", X: x, Y: ok},
			{Name: "rejected", X: x, Y: rej}, {Name: "errors", X: x, Y: errs}}}.SVG()
}

// RSSOverTime charts RSS (MiB) of one or more runs over time; ok is
// false when none has RSS samples.
func RSSOverTime(title string, runs ...*Result) (string, bool) {
	var series []Series
	for _, res := range runs {
		var x, y []float64
		for _, s := range res.Seconds {
			if s.RSS >= 0 {
				x = append(x, float64(s.T+1))
				y = append(y, float64(s.RSS)/(1<<20))
			}
		}
		if len(x) > 0 {
			series = append(series, Series{Name: res.Label, X: x, Y: y})
		}
	}
	if len(series) == 0 {
		return "", false
	}
	return LineChart{Title: title, XLabel: "time (s)", YLabel: "RSS", YFormat: MiBFormat, Series: series}.SVG(), true
}

// GaugeOverTime charts one integer gauge of one or more runs over time;
// ok is false when none has samples.
func GaugeOverTime(title, ylabel string, f func(Second) int, runs ...*Result) (string, bool) {
	var series []Series
	for _, res := range runs {
		var x, y []float64
		for _, s := range res.Seconds {
			if v := f(s); v >= 0 {
				x = append(x, float64(s.T+1))
				y = append(y, float64(v))
			}
		}
		if len(x) > 0 {
			series = append(series, Series{Name: res.Label, X: x, Y: y})
		}
	}
	if len(series) == 0 {
		return "", false
	}
	return LineChart{Title: title, XLabel: "time (s)", YLabel: ylabel, Series: series}.SVG(), true
}

// RunSection adds a run's summary, error codes and figures.
func (r *Report) RunSection(res *Result) {
	r.Table(SummaryHeader, [][]string{SummaryRow(res)})
	var notes []string
	if res.StoppedBy != "" {
		notes = append(notes, "stopped early: "+res.StoppedBy)
	}
	if res.Late > 0 {
		notes = append(notes, fmt.Sprintf("%d sends left the generator more than 1 ms after their intended time (their latency counts from the intended time)", res.Late))
	}
	if res.Rejected > 0 {
		notes = append(notes, fmt.Sprintf("rejections: %.0f/s, rejection latency p50 %s p99 %s max %s", res.RejectionsPerSecond(),
			FormatDuration(res.Rejection.Quantile(0.5)), FormatDuration(res.Rejection.Quantile(0.99)), FormatDuration(res.Rejection.Max())))
	}
	if res.StepErrors > 0 {
		notes = append(notes, fmt.Sprintf("step errors: p50 %s p99 %s max %s; every admitted step (successes and step errors): p50 %s p99 %s max %s",
			FormatDuration(res.Errors.Quantile(0.5)), FormatDuration(res.Errors.Quantile(0.99)), FormatDuration(res.Errors.Max()),
			FormatDuration(res.Accepted.Quantile(0.5)), FormatDuration(res.Accepted.Quantile(0.99)), FormatDuration(res.Accepted.Max())))
	}
	for _, c := range res.SortedCodes() {
		notes = append(notes, fmt.Sprintf("`%s`: %d", c, res.Codes[c]))
	}
	for _, e := range res.FirstErrors {
		notes = append(notes, "error: "+e)
	}
	if len(res.ByType) > 1 {
		for _, t := range res.Types {
			s := res.ByType[t]
			notes = append(notes, fmt.Sprintf("type `%s`: %d ok, p50 %s p95 %s p99 %s", t, s.Count(),
				FormatDuration(s.Quantile(0.5)), FormatDuration(s.Quantile(0.95)), FormatDuration(s.Quantile(0.99))))
		}
	}
	if len(notes) > 0 {
		r.Bullets(notes...)
	}
	name := FileName(res.Label)
	r.Figure(name+"-latency", res.Label+" latency over time", LatencyOverTime(res))
	r.Figure(name+"-histogram", res.Label+" latency histogram", LatencyHistogram(res))
	if res.Rejected > 0 || res.StepErrors > 0 || res.Failed > 0 || res.Mode == "open" {
		r.Figure(name+"-rate", res.Label+" per second", ThroughputOverTime(res))
	}
	if svg, ok := RSSOverTime(res.Label+": RSS", res); ok {
		r.Figure(name+"-rss", res.Label+" RSS", svg)
	}
	if svg, ok := GaugeOverTime(res.Label+": goroutines", "goroutines", func(s Second) int { return s.Goroutines }, res); ok {
		r.Figure(name+"-goroutines", res.Label+" goroutines", svg)
	}
}
