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
// throughput of (b), (f), (c) and (d) as a percentage of (a) in the same run.
func drawChart(r *report, path string) error {
	const (
		w, h   = 1200, 600
		left   = 90
		right  = 20
		top    = 70
		bottom = 130
		ymax   = 150.0
	)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	series := []struct {
		key string
		c   color.RGBA
	}{
		{"b", color.RGBA{0xb0, 0xb0, 0xb0, 0xff}},
		{"f", color.RGBA{0x4c, 0x78, 0xa8, 0xff}},
		{"c", color.RGBA{0xf5, 0x85, 0x18, 0xff}},
		{"d", color.RGBA{0x54, 0xa2, 0x4b, 0xff}},
	}
	type group struct {
		label, workload string
		conc            int
	}
	var groups []group
	for _, wl := range []string{"read", "write", "search"} {
		for _, c := range []int{1, 32} {
			groups = append(groups, group{fmt.Sprintf("%s c=%d", wl, c), wl, c})
		}
	}
	groups = append(groups, group{"upload", "artifact-upload", 1}, group{"download", "artifact-download", 1})

	text(img, left, 20, 3, black, "Throughput as % of MLflow alone (a), same run")
	plotH := float64(h - top - bottom)
	y := func(v float64) int { return top + int(plotH*(1-min(v, ymax)/ymax)) }
	for v := 0.0; v <= ymax; v += 25 {
		fill(img, left, y(v), w-right, y(v)+1, grey)
		text(img, left-45, y(v)-7, 2, black, fmt.Sprintf("%3.0f", v))
	}
	fill(img, left, y(100)-1, w-right, y(100)+1, black)
	fill(img, left-1, top, left+1, h-bottom, black)

	gw := (w - left - right) / len(groups)
	bw := (gw - 24) / len(series)
	for gi, g := range groups {
		base := r.find("a", g.workload, g.conc)
		x0 := left + gi*gw + 12
		for si, s := range series {
			x := r.find(s.key, g.workload, g.conc)
			if base == nil || x == nil || base.value() == 0 {
				continue
			}
			v := x.value() / base.value() * 100
			bx := x0 + si*bw
			fill(img, bx+2, y(v), bx+bw-2, h-bottom, s.c)
			lbl := fmt.Sprintf("%.0f", v)
			text(img, bx+bw/2-len(lbl)*6/2, y(v)-12, 1, black, lbl)
		}
		text(img, x0+(gw-24)/2-len(g.label)*12/2, h-bottom+10, 2, black, g.label)
	}
	lx := left
	for _, s := range series {
		fill(img, lx, h-70, lx+20, h-56, s.c)
		lbl := "(" + s.key + ") " + map[string]string{"b": "basic-auth", "f": "plugin direct", "c": "gateway cookie", "d": "gateway access key"}[s.key]
		text(img, lx+28, h-70, 2, black, lbl)
		lx += 28 + len(lbl)*12 + 40
	}
	text(img, left, h-36, 2, black, fmt.Sprintf("%d CPUS, %d MLFLOW WORKERS, %s CELLS; SEARCH: (A) UNFILTERED", r.CPUs, r.Workers, r.Duration))

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
