package monitor

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeProfile feeds arbitrary bytes to the profile decoder. Whatever
// the input it returns a profile or an error and never panics; a profile
// it accepts survives a round trip, merges with itself, and can be
// compared for drift and quality. Seeds: testdata/fuzz/FuzzDecodeProfile.
//
//	go test ./monitor -run '^$' -fuzz FuzzDecodeProfile -fuzztime 30s
func FuzzDecodeProfile(f *testing.F) {
	f.Add([]byte(`{"format_version":1,"rows":0,"features":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProfile(data)
		if err != nil {
			if p != nil {
				t.Fatal("a profile and an error")
			}
			return
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("encode a decoded profile: %v", err)
		}
		back, err := DecodeProfile(enc)
		if err != nil {
			t.Fatalf("decode an encoded profile: %v\n%s", err, enc)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(enc) {
			t.Fatalf("the round trip changed the profile:\n%s\n%s", enc, again)
		}
		if _, err := DetectDrift(p, back, DriftOptions{}); err != nil {
			t.Fatalf("drift of a profile against itself: %v", err)
		}
		if _, err := CheckQuality(p, back, QualityOptions{Range: [2]float64{0.05, 0.95}}); err != nil {
			t.Fatalf("quality of a profile against itself: %v", err)
		}
		if err := back.Merge(p); err != nil {
			t.Fatalf("merge a profile with itself: %v", err)
		}
		for i := range back.Features {
			if q := back.Features[i].Quantiles; q != nil {
				q.Quantiles([]float64{0, 0.5, 1})
				q.Add(1)
			}
			if c := back.Features[i].Distinct; c != nil {
				c.Estimate()
			}
		}
	})
}
