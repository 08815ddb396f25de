package report

import (
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Width and Height are the plots' size in pixels.
const (
	Width  = 960
	Height = 420
)

// dpi is the resolution the plots are drawn at: gonum's default for PNG.
const dpi = 96

// figure is one plot of the report.
type figure struct {
	file, title, caption string
	draw                 func(p *plot.Plot) error
	headroom             bool // raise the top of the y axis for the legend
}

func (f figure) save(path string) error {
	p := plot.New()
	p.Title.Text = f.title
	p.Legend.Top = true
	p.Legend.Left = true
	if err := f.draw(p); err != nil {
		return err
	}
	if f.headroom {
		p.Y.Max *= 1.25 // room for the legend above the lines
	}
	return p.Save(Width*vg.Inch/dpi, Height*vg.Inch/dpi, path)
}

// plots are the report's figures, in the order the Markdown shows them.
func plots(in Input) []figure {
	ax := axisOf(in.Demand.Duration())
	xAt := func(k int) float64 { return float64(time.Duration(k)*in.Demand.Step) / float64(ax.unit) }
	// steps is a downsampled curve as a step line's points, closed at its
	// last bucket's end.
	steps := func(bs []Bucket) plotter.XYs {
		xy := make(plotter.XYs, 0, len(bs)+1)
		for _, b := range bs {
			xy = append(xy, plotter.XY{X: xAt(b.From), Y: b.V})
		}
		if len(bs) > 0 {
			xy = append(xy, plotter.XY{X: xAt(bs[len(bs)-1].To), Y: bs[len(bs)-1].V})
		}
		return xy
	}
	line := func(p *plot.Plot, name string, bs []Bucket, c color.Color, width vg.Length) error {
		l, err := plotter.NewLine(steps(bs))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		l.StepStyle = plotter.PostStep
		l.Color, l.Width = c, width
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	frame := func(p *plot.Plot, y string) {
		p.X.Label.Text = ax.label
		p.Y.Label.Text = y
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
	}
	return []figure{
		{
			file: DemandPlot, title: "Demand and ready supply", headroom: true,
			caption: "The instances the workload needs for its SLO (demand, black) and the instances each policy had ready.",
			draw: func(p *plot.Plot) error {
				frame(p, "instances")
				if err := line(p, "demand", Downsample(in.Demand.V, MaxPoints, Max), color.Black, vg.Points(2)); err != nil {
					return err
				}
				for i, s := range in.Series {
					if err := line(p, s.Policy+" ready", Downsample(s.Ready.V, MaxPoints, Max), plotutil.Color(i), vg.Points(1)); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			file: RunningPlot, title: "Running (billed) instances", headroom: true,
			caption: "The instances each policy paid for: ready, booting and draining.",
			draw: func(p *plot.Plot) error {
				frame(p, "instances")
				for i, s := range in.Series {
					if err := line(p, s.Policy, Downsample(s.Running.V, MaxPoints, Max), plotutil.Color(i), vg.Points(1)); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			file: ViolationsPlot, title: "SLO violations",
			caption: "One lane per policy, shaded where the workload's SLO was violated.",
			draw: func(p *plot.Plot) error {
				p.X.Label.Text = ax.label
				p.Legend.Top, p.Legend.Left = false, false
				var ticks plot.ConstantTicks
				for i, s := range in.Series {
					lane := float64(len(in.Series) - 1 - i)
					v := flags(s.Violating)
					c := plotutil.Color(i)
					r, g, b, _ := c.RGBA()
					light := color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 90}
					for _, band := range []struct {
						agg Agg
						c   color.Color
					}{{Max, light}, {Mean, c}} {
						poly, err := plotter.NewPolygon(outline(steps(Downsample(v, MaxPoints, band.agg)), lane))
						if err != nil {
							return fmt.Errorf("%s: %w", s.Policy, err)
						}
						poly.Color = band.c
						poly.LineStyle.Width = 0
						p.Add(poly)
					}
					ticks = append(ticks, plot.Tick{Value: lane + laneHeight/2, Label: s.Policy})
				}
				p.Y.Tick.Marker = ticks
				p.Y.Min, p.Y.Max = -0.1, float64(len(in.Series))
				p.Add(plotter.NewGrid())
				return nil
			},
		},
		{
			file: ArrivalsPlot, title: "Arrival rate", headroom: true,
			caption: "The trace's arrivals per second, as scaled and compressed for the run.",
			draw: func(p *plot.Plot) error {
				frame(p, "arrivals/s")
				p.Legend = plot.NewLegend()
				return line(p, "rate", rateBuckets(in.Trace, len(in.Demand.V), in.Demand.Step, MaxPoints), color.Black, vg.Points(1))
			},
		},
	}
}

// laneHeight is the height of a full violation bar in a lane of 1.
const laneHeight = 0.8

// outline is the closed step outline of a 0–1 curve drawn in the lane
// starting at y = lane: the bars over the baseline.
func outline(xy plotter.XYs, lane float64) plotter.XYs {
	out := make(plotter.XYs, 0, 2*len(xy)+2)
	for i := 0; i+1 < len(xy); i++ {
		y := lane + laneHeight*xy[i].Y
		out = append(out, plotter.XY{X: xy[i].X, Y: y}, plotter.XY{X: xy[i+1].X, Y: y})
	}
	if len(xy) > 0 {
		out = append(out, plotter.XY{X: xy[len(xy)-1].X, Y: lane}, plotter.XY{X: xy[0].X, Y: lane})
	}
	return out
}

// axis is the time axis' unit.
type axis struct {
	unit  time.Duration
	label string
}

// axisOf picks minutes for runs up to 3 hours, hours up to 3 days, days
// beyond.
func axisOf(d time.Duration) axis {
	switch {
	case d <= 3*time.Hour:
		return axis{time.Minute, "time (min)"}
	case d <= 72*time.Hour:
		return axis{time.Hour, "time (h)"}
	default:
		return axis{24 * time.Hour, "time (days)"}
	}
}
