package track

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plinthml/plinth"
)

// A filter expression selects runs, for example
//
//	metrics.auc > 0.9 and params.depth = "6"
//	tags.team in ("search", "ads") or not (status = "failed")
//	params.lr <= 0.01 and attributes.start_time > "2026-11-01T00:00:00Z"
//	metrics.`val loss` is not null and name like "baseline-%"
//
// Fields are metrics.NAME (the latest value of the series), params.NAME,
// tags.NAME and attributes.NAME (or a bare attribute name): id, name, status,
// experiment_id, parent_id, note, start_time, end_time. A name with spaces
// or operators in it is quoted with backticks. Strings take single or double
// quotes. Keywords are case-insensitive.
//
// Metrics compare as numbers. Params and tags compare as strings, except
// that <, <=, > and >= against a number compare numerically (runs whose
// value is not a number do not match). Times take RFC 3339 strings or unix
// milliseconds. A comparison on a param, tag or metric a run lacks is false;
// "is null" selects the runs that lack it.

// Kind is what a filter field refers to.
type Kind string

const (
	KindMetric    Kind = "metrics"
	KindParam     Kind = "params"
	KindTag       Kind = "tags"
	KindAttribute Kind = "attributes"
)

// Field is a filter or ordering field such as metrics.auc.
type Field struct {
	Kind Kind
	Name string
}

func (f Field) String() string { return string(f.Kind) + "." + f.Name }

// AttrType is the type of a run attribute.
type AttrType int

const (
	AttrString AttrType = iota
	AttrTime
)

// Attributes lists the run attributes a filter or ordering may use.
var Attributes = map[string]AttrType{
	"id": AttrString, "name": AttrString, "status": AttrString, "experiment_id": AttrString,
	"parent_id": AttrString, "note": AttrString, "start_time": AttrTime, "end_time": AttrTime,
}

// Expr is a node of a parsed filter: *And, *Or, *Not or *Cmp.
type Expr interface{ expr() }

// And matches when every term matches.
type And struct{ Terms []Expr }

// Or matches when any term matches.
type Or struct{ Terms []Expr }

// Not matches when X does not.
type Not struct{ X Expr }

// Op is a comparison operator.
type Op string

const (
	OpEq        Op = "="
	OpNe        Op = "!="
	OpLt        Op = "<"
	OpLe        Op = "<="
	OpGt        Op = ">"
	OpGe        Op = ">="
	OpLike      Op = "like"
	OpILike     Op = "ilike"
	OpIn        Op = "in"
	OpNotIn     Op = "not in"
	OpIsNull    Op = "is null"
	OpIsNotNull Op = "is not null"
)

// Cmp compares a field with one value (Values for in / not in; none for the
// null tests). Numeric is set when the comparison is between numbers; then
// Num holds the value (a time as unix microseconds).
type Cmp struct {
	Field   Field
	Op      Op
	Numeric bool
	Num     float64
	Str     string
	Values  []string
}

func (*And) expr() {}
func (*Or) expr()  {}
func (*Not) expr() {}
func (*Cmp) expr() {}

// Filter is a parsed filter expression. A nil Expr matches every run.
type Filter struct {
	Expr Expr
}

// MaxFilterLen bounds the filter text so a request cannot make the parser or
// the database do unbounded work.
const MaxFilterLen = 8 << 10

// ParseFilter parses a filter expression. An empty string matches all runs.
func ParseFilter(s string) (*Filter, error) {
	if len(s) > MaxFilterLen {
		return nil, plinth.Invalid("filter", "longer than %d bytes", MaxFilterLen)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return &Filter{}, nil
	}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return &Filter{Expr: e}, nil
}

// OrderKey is one ordering term.
type OrderKey struct {
	Field Field
	Desc  bool
}

// ParseOrder parses ordering terms such as "metrics.auc desc" or
// "start_time". The default is newest first.
func ParseOrder(terms []string) ([]OrderKey, error) {
	if len(terms) > 8 {
		return nil, plinth.Invalid("order_by", "at most 8 ordering terms, have %d", len(terms))
	}
	var keys []OrderKey
	for i, term := range terms {
		fieldName := fmt.Sprintf("order_by[%d]", i)
		toks, err := lex(term)
		if err != nil {
			return nil, plinth.Invalid(fieldName, "%s", plinth.ErrorMessage(err))
		}
		if toks[0].kind != tIdent || len(toks) > 3 || len(toks) == 3 && toks[1].kind != tIdent {
			return nil, plinth.Invalid(fieldName, "want FIELD [asc|desc], have %q", term)
		}
		f, err := fieldOf(toks[0].text)
		if err != nil {
			return nil, plinth.Invalid(fieldName, "%s", plinth.ErrorMessage(err))
		}
		k := OrderKey{Field: f}
		if len(toks) == 3 {
			switch strings.ToLower(toks[1].text) {
			case "asc":
			case "desc":
				k.Desc = true
			default:
				return nil, plinth.Invalid(fieldName, "direction %q is not asc or desc", toks[1].text)
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		keys = []OrderKey{{Field: Field{KindAttribute, "start_time"}, Desc: true}}
	}
	return keys, nil
}

func fieldOf(ident string) (Field, error) {
	prefix, name, ok := strings.Cut(ident, ".")
	if !ok {
		prefix, name = "attributes", ident
	}
	var k Kind
	switch strings.ToLower(prefix) {
	case "metrics", "metric":
		k = KindMetric
	case "params", "param":
		k = KindParam
	case "tags", "tag":
		k = KindTag
	case "attributes", "attribute", "attr":
		k = KindAttribute
		if name == "run_id" {
			name = "id"
		}
		if _, ok := Attributes[name]; !ok {
			return Field{}, plinth.Invalid("filter", "unknown attribute %q (have id, name, status, experiment_id, parent_id, note, start_time, end_time)", name)
		}
	default:
		return Field{}, plinth.Invalid("filter", "unknown field kind %q in %q (use metrics., params., tags. or attributes.)", prefix, ident)
	}
	if name == "" {
		return Field{}, plinth.Invalid("filter", "field %q has no name after the dot", ident)
	}
	return Field{Kind: k, Name: name}, nil
}

// --- lexer ---

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
	tKeyword
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of filter"
	}
	return strconv.Quote(t.text)
}

var keywords = map[string]bool{"and": true, "or": true, "not": true, "in": true, "like": true, "ilike": true, "is": true, "null": true}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '=' || c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '<' && s[j] == '>')) {
				j++
			}
			op := s[i:j]
			switch op {
			case "=", "==":
				op = "="
			case "!=", "<>":
				op = "!="
			case "<", "<=", ">", ">=":
			default:
				return nil, plinth.Invalid("filter", "bad operator %q at offset %d", s[i:j], i)
			}
			toks = append(toks, token{tOp, op, i})
			i = j
		case c == '\'' || c == '"':
			str, n, err := lexString(s[i:], c)
			if err != nil {
				return nil, plinth.Invalid("filter", "%v at offset %d", err, i)
			}
			toks = append(toks, token{tString, str, i})
			i += n
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789.eE+-", s[j]) >= 0 {
				if (s[j] == '+' || s[j] == '-') && s[j-1] != 'e' && s[j-1] != 'E' {
					break
				}
				j++
			}
			if _, err := strconv.ParseFloat(s[i:j], 64); err != nil {
				return nil, plinth.Invalid("filter", "bad number %q at offset %d", s[i:j], i)
			}
			toks = append(toks, token{tNumber, s[i:j], i})
			i = j
		case isIdentStart(c):
			start := i
			var b strings.Builder
			for i < len(s) {
				if s[i] == '`' {
					str, n, err := lexString(s[i:], '`')
					if err != nil {
						return nil, plinth.Invalid("filter", "%v at offset %d", err, i)
					}
					b.WriteString(str)
					i += n
					continue
				}
				if !isIdentChar(s[i]) {
					break
				}
				b.WriteByte(s[i])
				i++
			}
			word := b.String()
			if keywords[strings.ToLower(word)] {
				toks = append(toks, token{tKeyword, strings.ToLower(word), start})
			} else {
				toks = append(toks, token{tIdent, word, start})
			}
		default:
			return nil, plinth.Invalid("filter", "unexpected character %q at offset %d", c, i)
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '/' || c == ':'
}

// lexString reads a quoted string starting at s[0]; a doubled quote inside
// stands for itself. It returns the text and the bytes consumed.
func lexString(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteByte(s[i])
	}
	return "", 0, fmt.Errorf("unterminated %c-quoted string", q)
}

// --- parser ---

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return plinth.Invalid("filter", "%s at offset %d", fmt.Sprintf(format, args...), t.pos)
}

func (p *parser) isKeyword(word string) bool {
	t := p.peek()
	return t.kind == tKeyword && t.text == word
}

func (p *parser) or(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek(), "nested deeper than %d", maxDepth)
	}
	var terms []Expr
	for {
		e, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
		if !p.isKeyword("or") {
			break
		}
		p.next()
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &Or{Terms: terms}, nil
}

func (p *parser) and(depth int) (Expr, error) {
	var terms []Expr
	for {
		e, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
		if !p.isKeyword("and") {
			break
		}
		p.next()
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &And{Terms: terms}, nil
}

func (p *parser) unary(depth int) (Expr, error) {
	switch t := p.peek(); {
	case t.kind == tKeyword && t.text == "not":
		p.next()
		if depth+1 > maxDepth {
			return nil, p.errorf(t, "nested deeper than %d", maxDepth)
		}
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case t.kind == tLParen:
		p.next()
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errorf(c, "want ) to close the ( at offset %d, have %s", t.pos, c)
		}
		return e, nil
	case t.kind == tIdent:
		return p.comparison()
	default:
		return nil, p.errorf(t, "want a field such as metrics.auc, have %s", t)
	}
}

func (p *parser) comparison() (Expr, error) {
	ft := p.next()
	f, err := fieldOf(ft.text)
	if err != nil {
		return nil, plinth.Invalid("filter", "%s at offset %d", plinth.ErrorMessage(err), ft.pos)
	}
	c := &Cmp{Field: f}
	opTok := p.next()
	switch {
	case opTok.kind == tOp:
		c.Op = Op(opTok.text)
	case opTok.kind == tKeyword && (opTok.text == "like" || opTok.text == "ilike" || opTok.text == "in"):
		c.Op = Op(opTok.text)
	case opTok.kind == tKeyword && opTok.text == "not" && p.isKeyword("in"):
		p.next()
		c.Op = OpNotIn
	case opTok.kind == tKeyword && opTok.text == "is":
		c.Op = OpIsNull
		if p.isKeyword("not") {
			p.next()
			c.Op = OpIsNotNull
		}
		if n := p.next(); n.kind != tKeyword || n.text != "null" {
			return nil, p.errorf(n, "want null after is, have %s", n)
		}
		return c, nil
	default:
		return nil, p.errorf(opTok, "want an operator after %s, have %s", f, opTok)
	}

	if c.Op == OpIn || c.Op == OpNotIn {
		return c, p.valueList(c)
	}
	vt := p.next()
	if vt.kind != tString && vt.kind != tNumber {
		return nil, p.errorf(vt, "want a number or a quoted string after %s %s, have %s", f, c.Op, vt)
	}
	return c, p.typeCheck(c, vt)
}

func (p *parser) valueList(c *Cmp) error {
	if t := p.next(); t.kind != tLParen {
		return p.errorf(t, "want ( after %s, have %s", c.Op, t)
	}
	for {
		v := p.next()
		if v.kind != tString && v.kind != tNumber {
			return p.errorf(v, "want a value in the %s list, have %s", c.Op, v)
		}
		c.Values = append(c.Values, v.text)
		switch t := p.next(); t.kind {
		case tComma:
			continue
		case tRParen:
			if c.Field.Kind == KindMetric || Attributes[c.Field.Name] == AttrTime && c.Field.Kind == KindAttribute {
				return p.errorf(t, "%s cannot be used with %s", c.Op, c.Field)
			}
			return nil
		default:
			return p.errorf(t, "want , or ) in the %s list, have %s", c.Op, t)
		}
	}
}

// typeCheck validates the value against the field's type and fills the
// comparison's typed value.
func (p *parser) typeCheck(c *Cmp, vt token) error {
	ordering := c.Op == OpLt || c.Op == OpLe || c.Op == OpGt || c.Op == OpGe
	isLike := c.Op == OpLike || c.Op == OpILike
	switch {
	case c.Field.Kind == KindMetric:
		if isLike {
			return p.errorf(vt, "%s cannot be used with metric %s", c.Op, c.Field)
		}
		if vt.kind != tNumber {
			return p.errorf(vt, "metric %s compares with a number, have %s", c.Field, vt)
		}
		c.Numeric = true
		c.Num, _ = strconv.ParseFloat(vt.text, 64)
	case c.Field.Kind == KindAttribute && Attributes[c.Field.Name] == AttrTime:
		if isLike {
			return p.errorf(vt, "%s cannot be used with %s", c.Op, c.Field)
		}
		c.Numeric = true
		if vt.kind == tNumber {
			ms, _ := strconv.ParseFloat(vt.text, 64)
			c.Num = ms * 1000
			break
		}
		ts, err := time.Parse(time.RFC3339Nano, vt.text)
		if err != nil {
			return p.errorf(vt, "%s compares with an RFC 3339 time or unix milliseconds, have %s", c.Field, vt)
		}
		c.Num = float64(ts.UnixMicro())
	case ordering && vt.kind == tNumber && c.Field.Kind != KindAttribute:
		c.Numeric = true
		c.Num, _ = strconv.ParseFloat(vt.text, 64)
	default:
		c.Str = vt.text
	}
	return nil
}
