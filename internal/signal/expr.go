package signal

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// DefaultWindow is what window functions read when neither the call nor the
// derived signal says.
const DefaultWindow = time.Minute

// Ready is a name every expression may read besides the group's signals: how
// many instances are serving. Dividing a total by it gives a per-instance
// value that follows the group's size, as Kubernetes' AverageValue targets do.
const Ready = "ready"

// windowFuncs are the functions that read a signal's history. Their first
// argument names a signal; the compiler passes the name, not the value.
var windowFuncs = map[string]func(s *Series, now time.Time, w time.Duration) (float64, bool){
	"rate":  (*Series).Rate,
	"deriv": (*Series).Deriv,
	"avg":   (*Series).Avg,
}

// Env is what an expression reads while it is evaluated.
type Env interface {
	// Value returns a signal's current value, or for Ready the number of
	// serving instances; false when missing.
	Value(name string) (float64, bool)
	// Series returns a signal's recent samples, or nil when none are kept.
	Series(name string) *Series
}

// windowCall is one use of a window function in an expression.
type windowCall struct {
	signal string
	window time.Duration // 0: the expression's default window
}

// Expr is a compiled expression over a group's signals. Evaluating it is not
// safe for concurrent use: each group owns its expressions.
type Expr struct {
	src     string
	program *vm.Program
	vars    []string     // signals read by current value, sorted
	calls   []windowCall // window function uses
	window  time.Duration

	// Evaluation state, reused between ticks.
	machine vm.VM
	env     map[string]any
	now     time.Time
	cur     Env
	gap     string // first series that lacked data during this evaluation
}

// Compile parses src. known reports whether a name is a signal of the group;
// any other identifier is an error, so typos surface when the config is
// loaded rather than at the first tick.
func Compile(src string, known func(name string) bool) (*Expr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("expression is empty")
	}
	e := &Expr{src: src, window: DefaultWindow}
	p := &patcher{e: e, notVars: map[*ast.IdentifierNode]bool{}}
	opts := []expr.Option{
		expr.Patch(p),
		expr.AsFloat64(),
		expr.Function("rate", e.windowFunc("rate"), new(func(string) float64), new(func(string, string) float64)),
		expr.Function("deriv", e.windowFunc("deriv"), new(func(string) float64), new(func(string, string) float64)),
		expr.Function("avg", e.windowFunc("avg"), new(func(string) float64), new(func(string, string) float64)),
	}
	// A first compile without an environment finds the names the expression
	// reads; the second checks types against exactly those names.
	_, err := expr.Compile(src, append(opts, expr.AllowUndefinedVariables())...)
	if p.err != nil { // ours explain window functions better than the checker's
		return nil, p.err
	}
	if err != nil {
		return nil, cleanErr(err)
	}
	for _, id := range p.idents {
		if p.notVars[id] {
			continue
		}
		if !slices.Contains(e.vars, id.Value) {
			e.vars = append(e.vars, id.Value)
		}
	}
	sort.Strings(e.vars)
	var unknown []string
	for _, n := range e.Deps() {
		if !known(n) && n != Ready {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown signal %s", strings.Join(unknown, ", "))
	}
	e.env = make(map[string]any, len(e.vars))
	for _, v := range e.vars {
		e.env[v] = 0.0
	}
	p.reset()
	prog, err := expr.Compile(src, append(opts, expr.Env(e.env))...)
	if err != nil {
		return nil, cleanErr(err)
	}
	e.program = prog
	return e, nil
}

// cleanErr keeps expr's message, which already points at the column.
func cleanErr(err error) error {
	return fmt.Errorf("invalid expression: %s", strings.TrimSpace(err.Error()))
}

// SetWindow sets the window for calls that do not name one.
func (e *Expr) SetWindow(d time.Duration) {
	if d > 0 {
		e.window = d
	}
}

// String returns the source.
func (e *Expr) String() string { return e.src }

// Deps returns every signal the expression reads, sorted. Ready is not a
// signal and is not listed.
func (e *Expr) Deps() []string {
	out := slices.DeleteFunc(slices.Clone(e.vars), func(n string) bool { return n == Ready })
	for _, c := range e.calls {
		if !slices.Contains(out, c.signal) {
			out = append(out, c.signal)
		}
	}
	sort.Strings(out)
	return out
}

// Windows returns, for each signal read through a window function, the
// longest window read: how much history the engine must keep.
func (e *Expr) Windows() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, c := range e.calls {
		w := c.window
		if w == 0 {
			w = e.window
		}
		out[c.signal] = max(out[c.signal], w)
	}
	return out
}

// Eval computes the expression at now. ok is false, with the reason in
// missing, when an input is missing, a window has too few samples, or the
// result is not a finite number.
func (e *Expr) Eval(now time.Time, env Env) (v float64, missing string, ok bool) {
	for _, name := range e.vars {
		x, ok := env.Value(name)
		if !ok {
			return 0, name + " is missing", false
		}
		e.env[name] = x
	}
	e.now, e.cur, e.gap = now, env, ""
	out, err := e.machine.Run(e.program, e.env)
	e.cur = nil
	if e.gap != "" {
		return 0, e.gap, false
	}
	if err != nil {
		return 0, "evaluation failed: " + err.Error(), false
	}
	f, isFloat := out.(float64)
	if !isFloat || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("%s is not a finite number", e.src), false
	}
	return f, "", true
}

// windowFunc returns the implementation of rate, deriv or avg bound to e.
func (e *Expr) windowFunc(name string) func(params ...any) (any, error) {
	fn := windowFuncs[name]
	return func(params ...any) (any, error) {
		sig, _ := params[0].(string)
		w := e.window
		if len(params) > 1 {
			s, _ := params[1].(string)
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("%s(%s, %q): window must be a duration such as \"5m\"", name, sig, s)
			}
			w = d
		}
		if e.cur == nil { // type-checking pass: no data
			return 0.0, nil
		}
		series := e.cur.Series(sig)
		if series == nil {
			if e.gap == "" {
				e.gap = fmt.Sprintf("%s(%s) has no history", name, sig)
			}
			return 0.0, nil
		}
		v, ok := fn(series, e.now, w)
		if !ok {
			if e.gap == "" {
				e.gap = fmt.Sprintf("%s(%s) has too few samples in %s", name, sig, model.FormatDuration(w))
			}
			return 0.0, nil
		}
		return v, nil
	}
}

// patcher rewrites rate(x) into rate("x") so the function receives the
// signal's name, and records which identifiers the expression reads.
type patcher struct {
	e       *Expr
	idents  []*ast.IdentifierNode
	notVars map[*ast.IdentifierNode]bool // callees and window-function arguments
	err     error
}

func (p *patcher) reset() {
	p.idents = nil
	p.notVars = map[*ast.IdentifierNode]bool{}
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		p.idents = append(p.idents, n)
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		p.notVars[callee] = true
		if _, isWindow := windowFuncs[callee.Value]; !isWindow {
			return
		}
		p.windowCall(callee.Value, n)
	}
}

func (p *patcher) windowCall(name string, n *ast.CallNode) {
	fail := func(format string, args ...any) {
		if p.err == nil {
			p.err = fmt.Errorf(format, args...)
		}
	}
	if len(n.Arguments) < 1 || len(n.Arguments) > 2 {
		fail("%s takes a signal and an optional window, e.g. %s(x) or %s(x, \"5m\")", name, name, name)
		return
	}
	var sig string
	switch a := n.Arguments[0].(type) {
	case *ast.IdentifierNode:
		sig = a.Value
		p.notVars[a] = true
		ast.Patch(&n.Arguments[0], &ast.StringNode{Value: sig})
	case *ast.StringNode: // already patched (second compile)
		sig = a.Value
	default:
		fail("%s: first argument must be a signal name", name)
		return
	}
	call := windowCall{signal: sig}
	if len(n.Arguments) == 2 {
		s, ok := n.Arguments[1].(*ast.StringNode)
		if !ok {
			fail("%s(%s, …): window must be a quoted duration such as \"5m\"", name, sig)
			return
		}
		d, err := time.ParseDuration(s.Value)
		if err != nil || d <= 0 {
			fail("%s(%s, %q): window must be a positive duration such as \"5m\"", name, sig, s.Value)
			return
		}
		call.window = d
	}
	if !slices.Contains(p.e.calls, call) {
		p.e.calls = append(p.e.calls, call)
	}
}
