package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plinthml/plinth"
)

// ServerConfig configures the NATS server embedded in a plinth process.
type ServerConfig struct {
	// Dir is where JetStream keeps its streams (under Dir/jetstream). A
	// server started again on the same Dir finds the tasks it held.
	Dir string
	// Listen is the host:port to accept clients on, so that `plinth worker`
	// processes on other machines can connect; port 0 picks a free one.
	// Empty means in-process only: no socket, reached through
	// Config.Server.
	Listen string
	// Token is the secret clients must present, in their URL as
	// nats://TOKEN@host:port (URL includes it). Required when Listen is not
	// a loopback address: whoever can publish tasks can make workers run
	// commands.
	Token string
	// SyncAlways makes JetStream fsync every write, so acknowledged tasks
	// survive a power loss and not only a crash of the process. It costs a
	// disk flush per publish and acknowledgement.
	SyncAlways bool
	// Log receives the server's warnings and errors; nil discards them.
	Log *slog.Logger
}

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	ns    *server.Server
	url   string // "" when in-process only
	fatal chan error
}

// StartServer starts an embedded NATS server with JetStream storing under
// cfg.Dir and waits until it accepts clients or ctx ends. Shut it down with
// Shutdown.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" {
		return nil, plinth.Invalid("dir", "a directory for the queue's data is required")
	}
	opts := &server.Options{
		ServerName: "plinth",
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: cfg.SyncAlways,
		// The process, not the server, owns the signals.
		NoSigs:        true,
		Authorization: cfg.Token,
	}
	var host string
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		h, p, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, plinth.Invalid("listen", "%q: %v", cfg.Listen, err)
		}
		port, err := strconv.Atoi(p)
		if err != nil || port < 0 || port > 65535 {
			return nil, plinth.Invalid("listen", "%q: bad port", cfg.Listen)
		}
		if cfg.Token == "" && !isLoopback(h) {
			return nil, plinth.Invalid("token", "required to listen on %q, beyond loopback", cfg.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT // for nats-server, 0 means its default port 4222
		}
		host, opts.Host, opts.Port = h, h, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	s := &Server{ns: ns, fatal: make(chan error, 1)}
	ns.SetLoggerV2(&logger{log: cfg.Log, fatal: s.fatal}, false, false, false)
	ns.Start()
	// ReadyForConnections waits out its whole timeout when the listener
	// failed, so poll in short steps and watch for the fatal error.
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		select {
		case err := <-s.fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		case <-ctx.Done():
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS server: not ready: %w", ctx.Err())
		default:
		}
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		select {
		case err := <-s.fatal:
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		default:
			return nil, errors.New("embedded NATS server: JetStream did not start")
		}
	}
	if !opts.DontListen {
		_, port, _ := net.SplitHostPort(ns.Addr().String())
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1" // listening everywhere: reach it locally on loopback
		}
		u := url.URL{Scheme: "nats", Host: net.JoinHostPort(host, port)}
		if cfg.Token != "" {
			u.User = url.User(cfg.Token)
		}
		s.url = u.String()
	}
	return s, nil
}

// URL is the client URL of the server, with the token if one is set, for
// Config.URL; "" for a server that is in-process only. On a server listening
// on all interfaces it names 127.0.0.1: workers elsewhere use the machine's
// own name with the same port.
func (s *Server) URL() string { return s.url }

// Shutdown stops the server and waits until its files are closed, so a new
// server may open the same Dir. Clients see a disconnect.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// logger passes the server's warnings and errors to a slog.Logger, and hands
// the first fatal error to StartServer: the server reports a port in use or
// an unusable store directory only through its logger.
type logger struct {
	log   *slog.Logger
	fatal chan error
	once  sync.Once
}

func (l *logger) Noticef(string, ...any) {}
func (l *logger) Debugf(string, ...any)  {}
func (l *logger) Tracef(string, ...any)  {}

func (l *logger) Warnf(format string, v ...any) {
	if l.log != nil {
		l.log.Warn("nats: " + fmt.Sprintf(format, v...))
	}
}

func (l *logger) Errorf(format string, v ...any) {
	if l.log != nil {
		l.log.Error("nats: " + fmt.Sprintf(format, v...))
	}
}

func (l *logger) Fatalf(format string, v ...any) {
	err := fmt.Errorf(format, v...)
	if l.log != nil {
		l.log.Error("nats: " + err.Error())
	}
	l.once.Do(func() { l.fatal <- err })
}
