package main

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotPeers draws origin copies per segment against the number of viewers,
// HTTP only and with peers, from the measured rows, as a PNG.
func plotPeers(path string, rows []peersRow) error {
	p := plot.New()
	p.Title.Text = "fusioncast: origin copies per segment (steady state)"
	p.X.Label.Text = "viewers (Go, loopback)"
	p.Y.Label.Text = "origin copies per segment"
	p.Legend.Top, p.Legend.Left = true, true
	var httpOnly, peers plotter.XYs
	for _, r := range rows {
		httpOnly = append(httpOnly, plotter.XY{X: float64(r.N), Y: r.HTTPOnly.SteadyCopiesPerSegment})
		peers = append(peers, plotter.XY{X: float64(r.N), Y: r.Peers.SteadyCopiesPerSegment})
	}
	if err := plotutil.AddLinePoints(p, "HTTP only (the baseline)", httpOnly, "with peers", peers); err != nil {
		return err
	}
	target := plotter.NewFunction(func(float64) float64 { return 1.5 })
	target.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(target)
	p.Legend.Add("target 1.5", target)
	p.Y.Min = 0
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	return nil
}
