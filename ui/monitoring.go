package ui

import (
	"net/http"
	"sort"

	"github.com/plinthml/plinth/monitor"
)

// The Monitoring section holds its place in the navigation. Until its own
// pages arrive (drift per feature over time, data quality, performance with
// delayed labels), it lists the monitors and their alerts and links each
// endpoint's report, which the API renders.

type monitoringPage struct {
	Monitors []monitor.Spec
	Alerts   []monitor.Alert
	Enabled  bool
}

func (s *server) monitoring(w http.ResponseWriter, r *http.Request) error {
	var p monitoringPage
	if s.Monitors != nil {
		specs, err := s.Monitors.Monitors(r.Context())
		if err != nil {
			return err
		}
		sort.Slice(specs, func(i, j int) bool { return specs[i].Endpoint < specs[j].Endpoint })
		p.Monitors, p.Enabled = specs, true
	}
	if s.Alerts != nil {
		alerts, err := s.Alerts.Alerts(r.Context(), "", 50)
		if err != nil {
			return err
		}
		p.Alerts = alerts
	}
	return s.render(w, r, "monitoring", "Monitoring", "monitoring", p)
}
