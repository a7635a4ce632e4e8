package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/plinthml/plinth/serve"
)

// spoolRecords adds records of the endpoint to a segment in dir, written
// out but not flushed, as a server that died would leave them, and
// returns the segment's path.
func spoolRecords(t testing.TB, dir, endpoint string, ids ...string) string {
	t.Helper()
	sink := newLogSink(nil, dir, nil)
	for i, id := range ids {
		sink.Add(context.Background(), serve.LogRecord{RequestID: id, Time: time.Now(), Endpoint: endpoint, Model: "score", Version: 1, Variant: "stable",
			Inputs:  serve.Inputs{Names: []string{"x"}, Values: []any{float64(i)}},
			Request: map[string]any{"entity_id": id}, Outputs: []float64{0.5}})
	}
	if err := sink.seg.close(); err != nil {
		t.Fatal(err)
	}
	return sink.seg.path
}

// The converter process runs at the lowest priority, and when it breaks
// the server converts in process, saying so, and starts a new one later.
func TestConverterProcess(t *testing.T) {
	dir := t.TempDir()
	var logged bytes.Buffer
	conv := &converter{logger: slog.New(slog.NewTextHandler(&logged, nil))}
	defer conv.Close()
	got, err := conv.convert(spoolRecords(t, dir, "score", "a", "b"), dir)
	if err != nil || len(got.Batches) != 1 || got.Batches[0].Rows != 2 {
		t.Fatalf("convert = %+v, %v", got, err)
	}
	if conv.cmd == nil {
		t.Fatal("no converter process")
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(conv.cmd.Process.Pid) + "/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	// The fields after the command's name, which is in parentheses; the
	// nice value is the 19th field of the line.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if nice := fields[16]; nice != "19" {
		t.Errorf("the converter runs at nice %s, want 19", nice)
	}

	conv.cmd.Process.Kill()
	got, err = conv.convert(spoolRecords(t, dir, "score", "c"), dir)
	if err != nil || len(got.Batches) != 1 || got.Batches[0].Rows != 1 {
		t.Fatalf("convert after the process died = %+v, %v", got, err)
	}
	if conv.cmd != nil || !conv.retryAt.After(time.Now()) || !strings.Contains(logged.String(), "converter process failed") {
		t.Errorf("after the process died: process %v, retry at %v, logged %q", conv.cmd, conv.retryAt, logged.String())
	}
}

// A converter process that does not answer is killed after the timeout,
// and the segment is converted in the server.
func TestConverterHangs(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	dir := t.TempDir()
	var logged bytes.Buffer
	conv := &converter{logger: slog.New(slog.NewTextHandler(&logged, nil)), timeout: 200 * time.Millisecond,
		command: func() *exec.Cmd { return exec.Command("sleep", "60") }}
	defer conv.Close()
	start := time.Now()
	got, err := conv.convert(spoolRecords(t, dir, "score", "a"), dir)
	if err != nil || len(got.Batches) != 1 || got.Batches[0].Rows != 1 {
		t.Fatalf("convert = %+v, %v", got, err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Errorf("waited %v for a hung converter", waited)
	}
	if conv.cmd != nil || !strings.Contains(logged.String(), "no answer in 200ms") {
		t.Errorf("process %v, logged %q", conv.cmd, logged.String())
	}
}

// A server killed with records spooled loses none of them that reached
// its segment: the next start stores them, up to a frame the kill tore,
// and stores once a segment whose files were recorded before the kill
// removed it.
func TestLogRecovery(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	n, err := Open(ctx, Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	dead := filepath.Join(data, "work", "prediction-log", strconv.Itoa(gone.Process.Pid))
	if err := os.MkdirAll(dead, 0o755); err != nil {
		t.Fatal(err)
	}
	// Stored, but killed before the segment was removed.
	stored := spoolRecords(t, dead, "score", "s1", "s2")
	copied, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	sink := newLogSink(n.Ingester, dead, nil)
	if got, err := sink.store(ctx, stored, false); got != 2 || err != nil {
		t.Fatalf("store = %d, %v", got, err)
	}
	if err := os.WriteFile(stored, copied, 0o644); err != nil {
		t.Fatal(err)
	}
	// Killed while writing a frame.
	torn := spoolRecords(t, dead, "score", "t1", "t2", "t3")
	whole, err := os.ReadFile(torn)
	if err != nil {
		t.Fatal(err)
	}
	extra := spoolRecords(t, t.TempDir(), "score", "lost")
	tail, _ := os.ReadFile(extra)
	if err := os.WriteFile(torn, append(whole, tail[:len(tail)-3]...), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(stored, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	n.Close()

	n, err = Open(ctx, Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, id := range []string{"s1", "s2", "t1", "t2", "t3"} {
		if recs, err := n.LookupPrediction(ctx, "score", id); err != nil || len(recs) != 1 {
			t.Errorf("LookupPrediction(%s) = %+v, %v", id, recs, err)
		}
	}
	vs, err := n.Meta.DatasetVersions(ctx, PredictionDataset("score"))
	if err != nil || len(vs) != 2 || vs[0].Rows+vs[1].Rows != 5 {
		t.Errorf("versions %+v, %v; want two, of five records", vs, err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead server's spool is still there: %v", err)
	}
}

// FuzzSegment converts arbitrary bytes as a segment: whatever a crash or
// a disk left, the converter does not panic, and each file it makes reads
// back with the rows it says. framed fuzzes the frames' payloads, which a
// checksum would otherwise keep from the decoder. Its seeds are in
// testdata/fuzz/FuzzSegment.
func FuzzSegment(f *testing.F) {
	seed := spoolRecords(f, f.TempDir(), "score", "a", "b")
	whole, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(whole, false)
	f.Fuzz(func(t *testing.T, data []byte, framed bool) {
		if framed {
			// The payloads between 0xFF bytes, framed with their checksums:
			// frames that reach the decoder.
			var segment []byte
			for _, p := range bytes.Split(data, []byte{0xFF}) {
				segment = appendFrame(segment, func(b []byte) []byte { return append(b, p...) })
			}
			data = segment
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "segment.spool")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		conv, err := convertSegment(path, dir)
		if err != nil {
			return
		}
		for _, b := range conv.Batches {
			file, err := os.ReadFile(b.File)
			if err != nil || int64(len(file)) != b.Info.Size {
				t.Fatalf("batch %+v: %d bytes, %v", b, len(file), err)
			}
			pf, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
			if err != nil || pf.NumRows() != b.Rows || b.Rows == 0 {
				t.Fatalf("batch of %d rows: reads back %v", b.Rows, err)
			}
		}
	})
}
