package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"
)

// The chart's colours: backchannel blue, the peer orange.
var (
	colourBackchannel = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colourPeer        = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	colourAxis        = color.RGBA{0x33, 0x33, 0x33, 0xff}
	colourGrid        = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// WriteChart draws, as a PNG, the results of workload w against
// concurrency: flows/s in the left panel, the flow's p99 in ms in the
// right one; backchannel in blue, the peer in orange, each point the
// median over rounds. Axes are linear from 0 and labelled with numbers
// only (the standard library has no fonts): docs/performance.md gives
// the caption.
func WriteChart(out io.Writer, results []*Result, w Workload) error {
	type key struct {
		target string
		c      int
	}
	flows, p99 := map[key][]float64{}, map[key][]float64{}
	var levels []int
	for _, r := range results {
		if r.Workload != w || r.Concurrency == 0 {
			continue
		}
		k := key{r.Target, r.Concurrency}
		flows[k] = append(flows[k], r.FlowsPerSec())
		if l := r.Steps["flow"]; l != nil && l.Count() > 0 {
			p99[k] = append(p99[k], float64(l.Quantile(0.99))/1e6)
		}
		if !slices.Contains(levels, r.Concurrency) {
			levels = append(levels, r.Concurrency)
		}
	}
	if len(levels) == 0 {
		return fmt.Errorf("chart: no results of workload %s", w)
	}
	slices.Sort(levels)
	series := func(m map[key][]float64, target string) []point {
		var ps []point
		for _, c := range levels {
			if v := m[key{target, c}]; len(v) > 0 {
				ps = append(ps, point{float64(c), median(v)})
			}
		}
		return ps
	}
	const panelW, panelH = 480, 360
	img := image.NewRGBA(image.Rect(0, 0, 2*panelW, panelH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	maxC := float64(levels[len(levels)-1])
	for i, m := range []map[key][]float64{flows, p99} {
		bc, peer := series(m, "backchannel"), series(m, "peer")
		maxY := 0.0
		for _, p := range append(slices.Clone(bc), peer...) {
			maxY = max(maxY, p.y)
		}
		pl := plot{img: img, x0: i*panelW + 70, y0: panelH - 40, w: panelW - 100, h: panelH - 70, maxX: maxC, maxY: niceCeil(maxY)}
		pl.axes(levels)
		pl.line(peer, colourPeer)
		pl.line(bc, colourBackchannel)
	}
	return png.Encode(out, img)
}

type point struct{ x, y float64 }

// plot is one panel: its origin (x0, y0) is the bottom left corner of
// the plotting area, in image pixels.
type plot struct {
	img          *image.RGBA
	x0, y0, w, h int
	maxX, maxY   float64
}

func (p plot) at(pt point) (int, int) {
	return p.x0 + int(pt.x/p.maxX*float64(p.w)), p.y0 - int(pt.y/p.maxY*float64(p.h))
}

// axes draws the axes, a grid of five steps on y, and tick labels: the
// concurrency levels on x, the values on y.
func (p plot) axes(levels []int) {
	for i := 0; i <= 5; i++ {
		v := p.maxY * float64(i) / 5
		_, y := p.at(point{0, v})
		line(p.img, p.x0, y, p.x0+p.w, y, colourGrid)
		label := strconv.FormatFloat(v, 'f', -1, 64)
		text(p.img, p.x0-6-len(label)*8, y-5, label, colourAxis)
	}
	line(p.img, p.x0, p.y0, p.x0+p.w, p.y0, colourAxis)
	line(p.img, p.x0, p.y0, p.x0, p.y0-p.h, colourAxis)
	for _, c := range levels {
		x, _ := p.at(point{float64(c), 0})
		line(p.img, x, p.y0, x, p.y0+4, colourAxis)
		label := strconv.Itoa(c)
		text(p.img, x-len(label)*4, p.y0+8, label, colourAxis)
	}
}

// line draws ps joined by lines, each point marked with a square.
func (p plot) line(ps []point, c color.RGBA) {
	for i, pt := range ps {
		x, y := p.at(pt)
		for dx := -3; dx <= 3; dx++ {
			for dy := -3; dy <= 3; dy++ {
				p.img.SetRGBA(x+dx, y+dy, c)
			}
		}
		if i > 0 {
			px, py := p.at(ps[i-1])
			for d := -1; d <= 1; d++ {
				line(p.img, px, py+d, x, y+d, c)
			}
		}
	}
}

// line draws a straight line from (x0, y0) to (x1, y1).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		img.SetRGBA(x0+(x1-x0)*i/n, y0+(y1-y0)*i/n, c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// digits are 3×5 glyphs of the characters tick labels use, a row per
// 3-bit number (4 is the left pixel), drawn twice as large.
var digits = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0},
}

// text draws s at (x, y), its top left corner, 8 pixels per character.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g := digits[r]
		for row := range 5 {
			for col := range 3 {
				if g[row]&(4>>col) == 0 {
					continue
				}
				for d := range 4 {
					img.SetRGBA(x+2*col+d%2, y+2*row+d/2, c)
				}
			}
		}
		x += 8
	}
}
