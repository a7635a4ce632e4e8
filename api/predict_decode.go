package api

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// decodePredict reads a prediction request. The common one — instances of
// flat values, as by-entity and raw-feature requests are — is read by a
// narrow fast path (parsePredict), a fifth of encoding/json's cost on the
// serving path. Whatever that path does not take on (explain, time,
// escapes, nesting, non-ASCII text, errors of any kind) goes through
// DecodeJSON, so every request decodes, and every error reads, as before.
func decodePredict(w http.ResponseWriter, r *http.Request, req *PredictRequest) error {
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody { // a rare huge batch is not kept
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		return decodeError(err)
	}
	if parsePredict(buf.Bytes(), req) {
		return nil
	}
	*req = PredictRequest{}
	return DecodeJSON(bytes.NewReader(buf.Bytes()), req)
}

// bodyPool holds request bodies while they are parsed; the parsed request
// copies what it keeps.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 1 << 20

// parsePredict parses {"instances": [{"name": value, ...}, ...]}, where
// each value is a string of printable ASCII without escapes, a number, true,
// false or null, into req as encoding/json would. It reports false for
// anything else, leaving req in any state.
func parsePredict(b []byte, req *PredictRequest) bool {
	p := predictParser{b: b}
	if !p.byte('{') || !p.key("instances") || !p.byte('[') {
		return false
	}
	req.Instances = []map[string]any{}
	if !p.byte(']') {
		for {
			inst, ok := p.instance()
			if !ok {
				return false
			}
			req.Instances = append(req.Instances, inst)
			if p.byte(']') {
				break
			}
			if !p.byte(',') {
				return false
			}
		}
	}
	if !p.byte('}') {
		return false
	}
	p.space()
	return p.i == len(p.b)
}

type predictParser struct {
	b []byte
	i int
}

func (p *predictParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c after any white space.
func (p *predictParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// key consumes "name":.
func (p *predictParser) key(name string) bool {
	s, ok := p.string()
	return ok && s == name && p.byte(':')
}

// string consumes a string of printable ASCII without escapes.
func (p *predictParser) string() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *predictParser) instance() (map[string]any, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := make(map[string]any, 4)
	if p.byte('}') {
		return m, true
	}
	for {
		k, ok := p.string()
		if !ok || !p.byte(':') {
			return nil, false
		}
		if m[k], ok = p.value(); !ok {
			return nil, false
		}
		if p.byte('}') {
			return m, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

func (p *predictParser) value() (any, bool) {
	p.space()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.string()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	switch {
	case p.literal("true"):
		return true, true
	case p.literal("false"):
		return false, true
	case p.literal("null"):
		return nil, true
	}
	return nil, false
}

// literal consumes s if the input continues with it.
func (p *predictParser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// number consumes a number in JSON's grammar, -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?,
// as a float64; one out of float64's range is left to encoding/json's error.
func (p *predictParser) number() (any, bool) {
	start := p.i
	p.skip('-')
	switch {
	case p.skip('0'):
	case p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9':
		p.digits()
	default:
		return nil, false
	}
	if p.skip('.') && !p.digits() {
		return nil, false
	}
	if p.skip('e') || p.skip('E') {
		if !p.skip('+') {
			p.skip('-')
		}
		if !p.digits() {
			return nil, false
		}
	}
	x, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	return x, err == nil
}

func (p *predictParser) skip(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits consumes one or more decimal digits.
func (p *predictParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
