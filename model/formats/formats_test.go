package formats

import (
	"os"
	"testing"

	"github.com/plinthml/plinth"
)

func TestDetectAndParse(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"../testdata/xgboost/adult_binary.model.json", XGBoost},
		{"../testdata/lightgbm/multiclass.model", LightGBM},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(data); got != tc.want {
			t.Fatalf("Detect(%s) = %q, want %q", tc.file, got, tc.want)
		}
		m, err := Parse(data, "")
		if err != nil {
			t.Fatalf("Parse(%s): %v", tc.file, err)
		}
		// The native encoding of an imported model reads back as native.
		f, err := os.CreateTemp(t.TempDir(), "native-*.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Encode(f); err != nil {
			t.Fatal(err)
		}
		f.Seek(0, 0)
		back, format, err := Read(f, "")
		f.Close()
		if err != nil || format != Native || back.NumFeatures() != m.NumFeatures() {
			t.Fatalf("native round trip of %s: format %q, %v", tc.file, format, err)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, bad := range []string{"", "hello", `{"neither": 1}`, "\x00\x01"} {
		if _, err := Parse([]byte(bad), ""); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("Parse(%q) error = %v, want invalid", bad, err)
		}
	}
	if _, err := Parse([]byte("{}"), "onnx"); !plinth.IsCode(err, plinth.EINVALID) {
		t.Errorf("unknown format accepted")
	}
}
