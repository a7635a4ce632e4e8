package track

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// DetectCode returns the git commit of the repository around dir and whether
// its work tree has uncommitted changes. Outside a repository, or without
// git, it returns the zero Code: code version is best effort, never a reason
// to fail a run.
func DetectCode(dir string) Code {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	git := func(args ...string) (string, bool) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err == nil
	}
	commit, ok := git("rev-parse", "HEAD")
	if !ok {
		return Code{}
	}
	c := Code{Commit: commit}
	if status, ok := git("status", "--porcelain", "--untracked-files=no"); ok && status != "" {
		c.Dirty = true
	}
	if remote, ok := git("config", "--get", "remote.origin.url"); ok {
		c.Repo = remote
	} else if top, ok := git("rev-parse", "--show-toplevel"); ok {
		c.Repo = top
	}
	return c
}

// DetectEnv describes the environment a run executes in.
func DetectEnv() map[string]string {
	env := map[string]string{
		"os":         runtime.GOOS,
		"arch":       runtime.GOARCH,
		"cpus":       strconv.Itoa(runtime.NumCPU()),
		"go_version": runtime.Version(),
	}
	if h, err := os.Hostname(); err == nil {
		env["hostname"] = h
	}
	if u, err := user.Current(); err == nil {
		env["user"] = u.Username
	}
	if wd, err := os.Getwd(); err == nil {
		env["workdir"] = wd
	}
	return env
}
