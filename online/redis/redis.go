// Package redis stores online features in Redis (or a server that speaks its
// protocol and Lua scripting, such as Valkey): the online store for several
// serving replicas that share one set of features.
//
// # Key layout
//
//	PREFIX len(view) ":" view ":" key   ->  online.AppendRecord's encoding
//
// for example "plinth:online:7:weather:JFK". The decimal length of the view
// makes the split between view and key unambiguous, whatever bytes they
// hold. PREFIX (default "plinth:online:") lets several plinth deployments,
// or other applications, share one Redis database.
//
// # Writes
//
// Each record is written by a Lua script that reads the stored record's
// event time (GETRANGE of the 8 header bytes) and SETs the new record only
// if the stored one is not newer; Redis runs a script atomically, so the
// comparison and the write cannot be interleaved with another client's. The
// calls are pipelined with EVALSHA, up to writeChunk per round trip; Redis
// runs the commands of one connection in order, so of two records of the
// same key in one Write the later is compared with the earlier exactly as
// the contract says. A Write is atomic per record, not per call.
//
// Durability is Redis's: configure AOF (appendonly yes, appendfsync
// everysec or always) if features must survive a Redis restart. Lost
// records are restored by materializing again.
//
// # Reads
//
// Get is one MGET, one round trip, for any number of keys; records decode
// from the reply's strings without copying. Redis Cluster is not supported:
// the keys of one MGET would span slots.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/online"
)

var _ online.Store = (*Store)(nil)

const (
	// DefaultPrefix is the key prefix when Config.Prefix is empty.
	DefaultPrefix = "plinth:online:"
	// DefaultAddr is the server when Config.Addr is empty.
	DefaultAddr = "localhost:6379"

	writeChunk  = 10_000 // records per pipeline round trip
	deleteChunk = 1_000  // keys per SCAN page and UNLINK
)

// writeScript sets KEYS[1] to ARGV[1] unless the stored record's event time
// (bytes 1 to 8 of online's encoding, ordered as the times are) is later.
// A stored value too short to hold a header is overwritten. Bytes are
// compared one by one: Lua's string comparison follows the server's locale.
const writeScript = `
local old = redis.call('GETRANGE', KEYS[1], 0, 8)
local new = ARGV[1]
if #old == 9 then
  for i = 2, 9 do
    local o, n = string.byte(old, i), string.byte(new, i)
    if o ~= n then
      if o > n then return 0 end
      break
    end
  end
end
redis.call('SET', KEYS[1], new)
return 1
`

// Config locates a Redis database.
type Config struct {
	// Addr is host:port; DefaultAddr if empty.
	Addr string
	// DB is the database number.
	DB int
	// Username and Password authenticate (Redis 6 ACLs, or Password alone
	// for requirepass).
	Username string
	Password string
	// TLS connects with TLS.
	TLS bool
	// Prefix starts every key; DefaultPrefix if empty.
	Prefix string
	// PoolSize is the maximum number of connections; go-redis's default
	// (10 per CPU) if 0.
	PoolSize int
}

// ParseURL parses a store URL into a Config:
//
//	redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=PREFIX&pool_size=N]
//
// rediss:// connects with TLS. The port defaults to 6379, the database to 0.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Config{}, plinth.Invalid("url", "cannot parse: %v", err)
	}
	var cfg Config
	switch u.Scheme {
	case "redis":
	case "rediss":
		cfg.TLS = true
	default:
		return Config{}, plinth.Invalid("url", "scheme is %q, want redis://host:port/db", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return Config{}, plinth.Invalid("url", "want redis://host:port/db")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if cfg.DB, err = strconv.Atoi(db); err != nil || cfg.DB < 0 {
			return Config{}, plinth.Invalid("db", "%q is not a database number", db)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, plinth.Invalid("url", "query: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "prefix":
			cfg.Prefix = v
		case "pool_size":
			if cfg.PoolSize, err = strconv.Atoi(v); err != nil || cfg.PoolSize < 0 {
				return Config{}, plinth.Invalid("pool_size", "%q is not a number of connections", v)
			}
		default:
			return Config{}, plinth.Invalid("url", "unknown parameter %q (known: prefix, pool_size)", k)
		}
	}
	return cfg, nil
}

// OpenURL parses raw with ParseURL and opens the store it names.
func OpenURL(ctx context.Context, raw string) (*Store, error) {
	cfg, err := ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("open redis online store: %w", err)
	}
	return Open(ctx, cfg)
}

// Store is an online.Store over a Redis database. It is safe for concurrent
// use.
type Store struct {
	client *goredis.Client
	prefix string
	sha    string // of writeScript
}

// Open connects to the server, checks that it answers, and loads the write
// script. An unreachable server is an EUNAVAILABLE *plinth.Error.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.DB < 0 {
		return nil, fmt.Errorf("open redis online store: %w", plinth.Invalid("db", "%d is negative", cfg.DB))
	}
	opts := &goredis.Options{
		Addr:                  cfg.Addr,
		DB:                    cfg.DB,
		Username:              cfg.Username,
		Password:              cfg.Password,
		PoolSize:              cfg.PoolSize,
		ContextTimeoutEnabled: true,
		// The notifications are for Redis Enterprise/Cloud maintenance; in
		// "auto" mode the client probes for them and logs when a server
		// lacks them.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if cfg.TLS {
		opts.TLSConfig = tlsConfig(cfg.Addr)
	}
	client := goredis.NewClient(opts)
	s := &Store{client: client, prefix: cfg.Prefix}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("open redis online store: %w",
			plinth.Errorf(plinth.EUNAVAILABLE, "redis at %s does not answer: %v", cfg.Addr, err))
	}
	if err := s.loadScript(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("open redis online store: %w", err)
	}
	return s, nil
}

func (s *Store) loadScript(ctx context.Context) error {
	sha, err := s.client.ScriptLoad(ctx, writeScript).Result()
	if err != nil {
		return fmt.Errorf("load write script: %w", err)
	}
	s.sha = sha
	return nil
}

// Key returns the Redis key of (view, key).
func (s *Store) Key(view, key string) string {
	return string(s.appendKey(nil, view, key))
}

func (s *Store) appendKey(dst []byte, view, key string) []byte {
	dst = s.appendViewPrefix(dst, view)
	return append(dst, key...)
}

func (s *Store) appendViewPrefix(dst []byte, view string) []byte {
	dst = append(dst, s.prefix...)
	dst = strconv.AppendInt(dst, int64(len(view)), 10)
	dst = append(dst, ':')
	dst = append(dst, view...)
	return append(dst, ':')
}

// Write implements online.Store.
func (s *Store) Write(ctx context.Context, records []online.Record) error {
	if err := online.ValidateRecords(records); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write online records: %w", err)
	}
	for start := 0; start < len(records); start += writeChunk {
		chunk := records[start:min(start+writeChunk, len(records))]
		err := s.writeChunk(ctx, chunk)
		if isNoScript(err) {
			// The server lost its scripts (a restart, SCRIPT FLUSH): load
			// it again and repeat the chunk, which is idempotent.
			if err = s.loadScript(ctx); err == nil {
				err = s.writeChunk(ctx, chunk)
			}
		}
		if err != nil {
			return fmt.Errorf("write online records: %w", err)
		}
	}
	return nil
}

func (s *Store) writeChunk(ctx context.Context, records []online.Record) error {
	// The records end to end in one buffer, sized so it never moves; the
	// pipeline holds slices of it until it has run.
	size := 0
	for i := range records {
		size += online.RecordSize(records[i].Values)
	}
	vals := make([]byte, 0, size)
	keys := make([]string, len(records))
	var kbuf []byte
	pipe := s.client.Pipeline()
	for i := range records {
		r := &records[i]
		kbuf = s.appendKey(kbuf[:0], r.View, r.Key)
		keys[i] = string(kbuf)
		v0 := len(vals)
		vals = online.AppendRecord(vals, r.EventTime, r.Values)
		pipe.EvalSha(ctx, s.sha, keys[i:i+1], vals[v0:len(vals):len(vals)])
	}
	_, err := pipe.Exec(ctx) // the first failed command's error
	return err
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// Get implements online.Store.
func (s *Store) Get(ctx context.Context, view string, keys []string, dst []online.Result) error {
	if err := online.ValidateGet(view, keys, dst); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("get online records: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	buf := s.appendViewPrefix(make([]byte, 0, 128), view)
	prefix := len(buf)
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		buf = append(buf[:prefix], k...)
		rkeys[i] = string(buf)
	}
	replies, err := s.client.MGet(ctx, rkeys...).Result()
	if err != nil {
		return fmt.Errorf("get online records of view %q: %w", view, err)
	}
	if len(replies) != len(keys) {
		return fmt.Errorf("get online records of view %q: MGET of %d keys returned %d replies", view, len(keys), len(replies))
	}
	for i, reply := range replies {
		if reply == nil {
			dst[i] = online.Result{Values: dst[i].Values[:0]}
			continue
		}
		data, ok := reply.(string)
		if !ok {
			return fmt.Errorf("get online record: view %q key %q: reply of type %T", view, keys[i], reply)
		}
		t, values, err := online.DecodeRecord(data, dst[i].Values)
		if err != nil {
			dst[i] = online.Result{Values: values[:0]}
			return fmt.Errorf("get online record: view %q key %q: %w", view, keys[i], err)
		}
		dst[i] = online.Result{Found: true, EventTime: t, Values: values}
	}
	return nil
}

// DeleteView implements online.Store. It SCANs for the view's keys and
// UNLINKs them a page at a time, so it takes time in proportion to the
// number of keys in the database and does not block the server.
func (s *Store) DeleteView(ctx context.Context, view string) error {
	if err := online.ValidateView(view); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete online view %q: %w", view, err)
	}
	match := escapeGlob(string(s.appendViewPrefix(nil, view))) + "*"
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, match, deleteChunk).Result()
		if err != nil {
			return fmt.Errorf("delete online view %q: %w", view, err)
		}
		if len(keys) > 0 {
			if err := s.client.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("delete online view %q: %w", view, err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// escapeGlob escapes the characters Redis's MATCH patterns give a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func tlsConfig(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

// Close implements online.Store.
func (s *Store) Close() error { return s.client.Close() }
