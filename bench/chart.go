package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"unicode"
)

// drawChart draws grouped bars: for each workload and concurrency, the
// throughput of every configuration as a percentage of MLflow alone (a) in
// the same run; for the UI page loads, the speed (a's time / its time).
func drawChart(r *report, path string) error {
	const (
		w, h   = 1600, 640
		left   = 90
		right  = 20
		top    = 70
		bottom = 150
		ymax   = 200.0
	)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	palette := map[string]color.RGBA{
		"b": {0xb0, 0xb0, 0xb0, 0xff},
		"g": {0x79, 0x79, 0x79, 0xff},
		"f": {0x4c, 0x78, 0xa8, 0xff},
		"c": {0xf5, 0x85, 0x18, 0xff},
		"d": {0x54, 0xa2, 0x4b, 0xff},
		"h": {0xb2, 0x79, 0xa2, 0xff},
		"i": {0x9d, 0x75, 0x5d, 0xff},
	}
	type serie struct {
		key string
		c   color.RGBA
	}
	var series []serie
	for _, k := range []string{"b", "g", "f", "c", "d", "h", "i"} {
		if r.has(k) {
			series = append(series, serie{k, palette[k]})
		}
	}
	// value of config k in group g as a percentage of (a), or -1.
	type group struct {
		label string
		value func(k string) float64
	}
	cell := func(workload string, conc int) func(string) float64 {
		return func(k string) float64 {
			base, x := r.find("a", workload, conc), r.find(k, workload, conc)
			if base == nil || x == nil || base.value() == 0 {
				return -1
			}
			return x.value() / base.value() * 100
		}
	}
	page := func(ln, kind string) func(string) float64 {
		return func(k string) float64 {
			base, x := r.ui("a", ln, kind), r.ui(k, ln, kind)
			if base == nil || x == nil {
				return -1
			}
			return base.Ms / x.Ms * 100
		}
	}
	var groups []group
	for _, wl := range []string{"read", "write", "search"} {
		for _, c := range r.Concs {
			groups = append(groups, group{fmt.Sprintf("%s %d", wl, c), cell(wl, c)})
		}
	}
	if r.find("a", "artifact-upload", 1) != nil {
		groups = append(groups, group{"upload", cell("artifact-upload", 1)}, group{"download", cell("artifact-download", 1)})
	}
	for _, ln := range r.uiLinks() {
		name := "lo"
		if ln != "loopback" {
			name = "link"
		}
		groups = append(groups, group{"ui cold " + name, page(ln, "cold")}, group{"ui warm " + name, page(ln, "warm")})
	}

	text(img, left, 20, 3, black, "Throughput (UI: page load speed) as % of MLflow alone (a), same run")
	plotH := float64(h - top - bottom)
	y := func(v float64) int { return top + int(plotH*(1-min(v, ymax)/ymax)) }
	for v := 0.0; v <= ymax; v += 25 {
		fill(img, left, y(v), w-right, y(v)+1, grey)
		text(img, left-45, y(v)-7, 2, black, fmt.Sprintf("%3.0f", v))
	}
	fill(img, left, y(100)-1, w-right, y(100)+1, black)
	fill(img, left-1, top, left+1, h-bottom, black)

	gw := (w - left - right) / max(len(groups), 1)
	bw := (gw - 12) / max(len(series), 1)
	for gi, g := range groups {
		x0 := left + gi*gw + 6
		for si, s := range series {
			v := g.value(s.key)
			if v < 0 {
				continue
			}
			bx := x0 + si*bw
			fill(img, bx+1, y(v), bx+bw-1, h-bottom, s.c)
			if v > ymax {
				text(img, bx, y(ymax)-10, 1, black, ">")
			}
		}
		text(img, x0+(gw-12)/2-len(g.label)*6/2, h-bottom+10, 1, black, g.label)
	}
	lx, ly := left, h-110
	for _, s := range series {
		lbl := "(" + s.key + ") " + shortLabels[s.key]
		if lx+28+len(lbl)*12 > w-right {
			lx, ly = left, ly+26
		}
		fill(img, lx, ly, lx+20, ly+14, s.c)
		text(img, lx+28, ly, 2, black, lbl)
		lx += 28 + len(lbl)*12 + 30
	}
	text(img, left, h-30, 2, black, fmt.Sprintf("%d CPUS, %d MLFLOW WORKERS, %s CELLS; SEARCH: (A) AND (I) UNFILTERED; UI LINK: %s", r.CPUs, r.Workers, r.Duration, r.UILink))

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
}

// text draws s with the 5×7 font at scale; each cell is 6×8 pixels.
func text(img *image.RGBA, x, y, scale int, c color.Color, s string) {
	for _, ch := range s {
		g, ok := glyphs[unicode.ToUpper(ch)]
		if ok {
			for row, bits := range g {
				for col := range 5 {
					if bits&(1<<(4-col)) != 0 {
						fill(img, x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale, c)
					}
				}
			}
		}
		x += 6 * scale
	}
}
