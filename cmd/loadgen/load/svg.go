package load

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Series is one line of a LineChart.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (e.g. a limit).
	Dashed bool
}

// LineChart is a plain SVG line chart with axes, ticks and a legend.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// LogY uses a log10 y axis (values <= 0 are left out).
	LogY bool
	// YFormat formats y tick labels (default: %g).
	YFormat func(float64) string
	Width   int // default 760
	Height  int // default 320
}

// palette is colour-blind friendly (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

const (
	marginL = 78
	marginR = 20
	marginT = 34
	marginB = 64
)

// SVG renders the chart.
func (c LineChart) SVG() string {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 760
	}
	if h == 0 {
		h = 320
	}
	yf := c.YFormat
	if yf == nil {
		yf = plainFormat
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range s.X {
			if i >= len(s.Y) || !finite(s.Y[i]) || (c.LogY && s.Y[i] <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	var b strings.Builder
	header(&b, w, h, c.Title)
	if math.IsInf(xmin, 0) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#666">no data</text>`, w/2, h/2)
		b.WriteString("</svg>\n")
		return b.String()
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	var yticks []float64
	if c.LogY {
		ymin, ymax, yticks = logTicks(ymin, ymax)
	} else {
		ymin = math.Min(0, ymin)
		if ymax <= ymin {
			ymax = ymin + 1
		}
		yticks = niceTicks(ymin, ymax, 5)
		ymax = math.Max(ymax, yticks[len(yticks)-1])
	}
	xticks := niceTicks(xmin, xmax, 8)
	pw, ph := float64(w-marginL-marginR), float64(h-marginT-marginB)
	px := func(x float64) float64 { return marginL + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 {
		if c.LogY {
			return marginT + ph - (math.Log10(y)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))*ph
		}
		return marginT + ph - (y-ymin)/(ymax-ymin)*ph
	}
	// Grid and ticks.
	for _, t := range yticks {
		if t < ymin || t > ymax {
			continue
		}
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/>`, marginL, y, w-marginR, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, marginL-6, y, esc(yf(t)))
	}
	for _, t := range xticks {
		if t < xmin || t > xmax {
			continue
		}
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#f0f0f0"/>`, x, marginT, x, h-marginB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, h-marginB+16, esc(strconv.FormatFloat(t, 'g', 4, 64)))
	}
	axes(&b, w, h, c.XLabel, c.YLabel)
	// Lines.
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var pts []string
		for j := range s.X {
			if j >= len(s.Y) || !finite(s.Y[j]) || (c.LogY && s.Y[j] <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) == 1 {
			xy := strings.Split(pts[0], ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], col)
		} else if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`, col, dash, strings.Join(pts, " "))
		}
		// Legend entry.
		lx, ly := marginL+10+(i%4)*170, h-18+(i/4)*14-(len(c.Series)-1)/4*14
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`, lx, ly, lx+18, ly, col, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`, lx+24, ly, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// BarChart is a plain SVG bar chart with one bar per label.
type BarChart struct {
	Title, XLabel, YLabel string
	Labels                []string
	Values                []float64
	// LabelEvery prints every n-th label (default: about 10 labels).
	LabelEvery int
	Width      int // default 760
	Height     int // default 320
}

// SVG renders the chart.
func (c BarChart) SVG() string {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 760
	}
	if h == 0 {
		h = 320
	}
	var b strings.Builder
	header(&b, w, h, c.Title)
	if len(c.Values) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#666">no data</text></svg>`+"\n", w/2, h/2)
		return b.String()
	}
	ymax := 0.0
	for _, v := range c.Values {
		ymax = math.Max(ymax, v)
	}
	if ymax == 0 {
		ymax = 1
	}
	yticks := niceTicks(0, ymax, 5)
	ymax = math.Max(ymax, yticks[len(yticks)-1])
	pw, ph := float64(w-marginL-marginR), float64(h-marginT-marginB)
	py := func(y float64) float64 { return marginT + ph - y/ymax*ph }
	for _, t := range yticks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/>`, marginL, y, w-marginR, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, marginL-6, y, esc(plainFormat(t)))
	}
	n := len(c.Values)
	bw := pw / float64(n)
	every := c.LabelEvery
	if every <= 0 {
		every = max(1, n/10)
	}
	for i, v := range c.Values {
		x := marginL + float64(i)*bw
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
			x+0.5, py(v), math.Max(bw-1, 0.5), py(0)-py(v), palette[0], esc(label(c.Labels, i)), esc(strconv.FormatFloat(v, 'g', 6, 64)))
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, h-marginB+16, esc(label(c.Labels, i)))
		}
	}
	axes(&b, w, h, c.XLabel, c.YLabel)
	b.WriteString("</svg>\n")
	return b.String()
}

func label(labels []string, i int) string {
	if i < len(labels) {
		return labels[i]
	}
	return ""
}

func header(b *strings.Builder, w, h int, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#fff"/>`, w, h)
	fmt.Fprintf(b, `<text x="%d" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`, w/2, esc(title))
}

func axes(b *strings.Builder, w, h int, xl, yl string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, marginL, h-marginB, w-marginR, h-marginB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, marginL, marginT, marginL, h-marginB)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, marginL+(w-marginL-marginR)/2, h-marginB+32, esc(xl))
	fmt.Fprintf(b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`, marginT+(h-marginT-marginB)/2, esc(yl))
}

func esc(s string) string { return html.EscapeString(s) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v <= hi+step*0.999 && len(out) < 50; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// logTicks returns the decade-rounded range of [lo, hi] and ticks at 1, 2
// and 5 times each power of ten in it.
func logTicks(lo, hi float64) (float64, float64, []float64) {
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	var out []float64
	for d := lo; d < hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v <= hi*1.0001 {
				out = append(out, v)
			}
		}
	}
	return lo, hi, out
}

// plainFormat prints v without an exponent: 30000, 2.5, 0.125.
func plainFormat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// MillisFormat formats a y value in milliseconds.
func MillisFormat(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'g', 3, 64) + " s"
	case v < 1:
		return strconv.FormatFloat(v*1000, 'g', 3, 64) + " µs"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " ms"
}

// MiBFormat formats a y value in MiB.
func MiBFormat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) + " MiB" }
