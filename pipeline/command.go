package pipeline

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/track"
)

// commandKind runs any executable under this contract (documented in
// PIPELINES.md):
//
//   - each input's local file is in PLINTH_INPUT_<NAME> (upper case; a
//     dataset input lists its snapshot files separated by the path list
//     separator), the step's parameters are in PLINTH_PARAMS (JSON) and
//     one by one in PLINTH_PARAM_<NAME>, PLINTH_OUTPUT_DIR is an empty
//     folder for its outputs, PLINTH_RUN and PLINTH_STEP name it;
//   - it reports through lines on stdout: "plinth:metric NAME VALUE
//     [STEP]" and "plinth:param NAME VALUE" (other lines are its log);
//   - a model file it leaves in PLINTH_OUTPUT_DIR — model.json (plinth
//     native or XGBoost JSON), model.ubj is not read, model.txt (LightGBM)
//     — becomes the step's "model" output, checked by parsing it;
//   - exit status 0 is success; any other status is a user error (not
//     retried), death by a signal a system failure (retried).
//
// Its code version is the hash of the files named in with.code (default:
// the command's script arguments that are files), so editing the script
// invalidates the cache.
type commandKind struct{ s *Services }

// Inputs is open: any input name is passed on.
func (*commandKind) Inputs() map[string]Type { return nil }
func (*commandKind) Outputs() map[string]Type {
	return map[string]Type{"metrics": Metrics, "model": Model}
}
func (*commandKind) Optional(string) bool { return true }
func (*commandKind) Deterministic() bool  { return true }
func (*commandKind) openInputs()          {}

func commandArgs(with map[string]any) ([]string, error) {
	switch v := with["run"].(type) {
	case string:
		args := strings.Fields(v)
		if len(args) == 0 {
			return nil, fmt.Errorf("run: empty command")
		}
		return args, nil
	case []any:
		var args []string
		for i, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("run[%d]: want a string, got %T", i, a)
			}
			args = append(args, s)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("run: empty command")
		}
		return args, nil
	case nil:
		return nil, fmt.Errorf("run: required (the command and its arguments)")
	}
	return nil, fmt.Errorf("run: want a string or a list of strings")
}

// CodeVersion hashes the files the command runs.
func (*commandKind) CodeVersion(with map[string]any) (string, error) {
	args, err := commandArgs(with)
	if err != nil {
		return "", err
	}
	dir, _ := with["dir"].(string)
	var files []string
	if code, ok := with["code"].([]any); ok {
		for _, c := range code {
			if s, ok := c.(string); ok {
				files = append(files, s)
			}
		}
	} else {
		for _, a := range args[1:] {
			files = append(files, a)
		}
	}
	var code []string
	for _, f := range files {
		if !filepath.IsAbs(f) && dir != "" {
			f = filepath.Join(dir, f)
		}
		if info, err := os.Stat(f); err == nil && info.Mode().IsRegular() {
			code = append(code, f)
		}
	}
	files = code
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintln(h, strings.Join(args, "\x00"))
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("code: %v", err)
		}
		fmt.Fprintln(h, f)
		_, err = io.Copy(h, file)
		file.Close()
		if err != nil {
			return "", fmt.Errorf("code: %v", err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (k *commandKind) Run(sc *StepContext) (map[string]Value, error) {
	args, err := commandArgs(sc.With)
	if err != nil {
		return nil, plinth.Invalid(sc.field("run"), "%v", err)
	}
	outDir := filepath.Join(sc.Dir, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(sc, args[0], args[1:]...)
	cmd.Dir, _ = sc.String("dir", "")
	// The command gets its own process group so a timeout or a
	// cancellation stops its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	params, _ := json.Marshal(sc.With)
	env := append(os.Environ(),
		"PLINTH_OUTPUT_DIR="+outDir, "PLINTH_PARAMS="+string(params), "PLINTH_RUN="+sc.Run.ID, "PLINTH_STEP="+sc.Step.Name)
	for name, v := range sc.With {
		if name == "run" || name == "env" || name == "code" || name == "dir" || name == "format" {
			continue
		}
		env = append(env, "PLINTH_PARAM_"+envName(name)+"="+paramText(v))
	}
	if extra, err := sc.Map("env"); err != nil {
		return nil, err
	} else {
		for n, v := range extra {
			env = append(env, n+"="+fmt.Sprint(v))
		}
	}
	// Tables are Parquet; format: csv hands the command CSV files instead,
	// for scripts that read them with the standard library.
	format, err := sc.String("format", "parquet")
	if err != nil {
		return nil, err
	}
	if format != "parquet" && format != "csv" {
		return nil, plinth.Invalid(sc.field("format"), "%q is not parquet or csv", format)
	}
	for name, v := range sc.Inputs {
		var files []string
		if v.Type == Dataset && k.s != nil {
			if files, err = k.s.datasetFiles(sc, v); err != nil {
				return nil, err
			}
		} else if v.Digest != "" && v.Type != Metrics {
			f, err := sc.File(name)
			if err != nil {
				return nil, err
			}
			if v.Type == Table && format == "csv" && k.s != nil {
				csvPath := filepath.Join(sc.Dir, "in-"+name+".csv")
				if err := (tables{k.s.DuckDB}).toCSV(sc, f, csvPath); err != nil {
					return nil, err
				}
				f = csvPath
			}
			files = []string{f}
		}
		env = append(env, "PLINTH_INPUT_"+envName(name)+"="+strings.Join(files, string(os.PathListSeparator)))
		if v.Metrics != nil {
			raw, _ := json.Marshal(v.Metrics)
			env = append(env, "PLINTH_INPUT_"+envName(name)+"_METRICS="+string(raw))
		}
	}
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = sc.Log
	if err := cmd.Start(); err != nil {
		return nil, plinth.Invalid(sc.field("run"), "%v", err)
	}
	metrics, reported := map[string]float64{}, map[string]any{}
	var protoErr error
	sr := bufio.NewScanner(stdout)
	sr.Buffer(make([]byte, 64<<10), 1<<20)
	for sr.Scan() {
		line := sr.Text()
		if err := parseReport(line, metrics, reported); err != nil {
			if protoErr == nil {
				protoErr = err
			}
			continue
		}
		if !strings.HasPrefix(line, "plinth:") {
			fmt.Fprintln(sc.Log, line)
		}
	}
	err = cmd.Wait()
	sc.AddChildCost(cmd.ProcessState)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && sc.Err() == nil {
				return nil, fmt.Errorf("%s was killed by %s", args[0], ws.Signal())
			}
			if sc.Err() == nil {
				return nil, &UserError{Err: fmt.Errorf("%s exited with status %d", args[0], exit.ExitCode())}
			}
		}
		return nil, err
	}
	if protoErr != nil {
		return nil, &UserError{Err: protoErr}
	}
	// The command's report becomes a tracked run, with its model file.
	var run *track.Run
	if k.s != nil {
		if run, err = k.s.startRun(sc, sc.Step.Name, "", reported); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"model.json", "model.txt"} {
		path := filepath.Join(outDir, name)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		m, format, err := readModelFile(path)
		if err != nil {
			return nil, &UserError{Err: fmt.Errorf("the command left %s, which is not a usable model: %v", name, err)}
		}
		sc.Logf("model: %s, %d features, %s", format, m.NumFeatures(), m.Objective.Name)
		return k.s.finishModelFile(sc, run, path, format, metrics, nil)
	}
	if err := k.s.endRun(sc, run, track.Finished, metrics, nil); err != nil {
		return nil, err
	}
	return map[string]Value{"metrics": {Type: Metrics, Metrics: metrics}}, nil
}

// parseReport reads one protocol line into metrics; lines that are not
// protocol lines are ignored.
func parseReport(line string, metrics map[string]float64, params map[string]any) error {
	rest, ok := strings.CutPrefix(line, "plinth:")
	if !ok {
		return nil
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return fmt.Errorf("empty report line %q", line)
	}
	switch f[0] {
	case "metric":
		if len(f) < 3 || len(f) > 4 {
			return fmt.Errorf("report line %q: want plinth:metric NAME VALUE [STEP]", line)
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return fmt.Errorf("report line %q: value %q is not a number", line, f[2])
		}
		metrics[f[1]] = v
	case "param":
		if len(f) < 3 {
			return fmt.Errorf("report line %q: want plinth:param NAME VALUE", line)
		}
		params[f[1]] = strings.Join(f[2:], " ")
	default:
		return fmt.Errorf("report line %q: unknown report %q (metric or param)", line, f[0])
	}
	return nil
}

func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// paramText is a parameter as an environment variable: lists joined with
// commas, everything else as Go prints it.
func paramText(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
