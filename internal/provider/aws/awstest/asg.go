package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const asgNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

// Group is an Auto Scaling group.
type Group struct {
	Name              string
	Min, Max, Desired int
	Zones             []string
	Instances         []*Instance // in launch order
	Hooks             map[string]*Hook
	ProtectNew        bool // new instances protected from scale-in
	launched          int
}

// Instance is one instance of a group.
type Instance struct {
	ID         string
	Zone       string
	State      string // Pending, InService, Terminating, Terminating:Wait, Terminating:Proceed
	Protected  bool
	LaunchedAt time.Time
	PrivateIP  string
	// Unlisted keeps EC2's DescribeInstances from knowing the instance yet
	// (EC2's reads lag a launch): naming it is InvalidInstanceID.NotFound.
	Unlisted bool
	// Heartbeats and Result are the lifecycle action's: heartbeats
	// recorded, and how it was completed ("" while waiting).
	Heartbeats int
	Result     string
}

// Hook is a lifecycle hook.
type Hook struct {
	Name, Transition, DefaultResult string
	HeartbeatTimeout                int
}

// AddGroup creates an empty group (desired 0) in two zones.
func (s *Server) AddGroup(name string, min, max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[name] = &Group{Name: name, Min: min, Max: max, Desired: min,
		Zones: []string{"us-east-1a", "us-east-1b"}, Hooks: map[string]*Hook{}}
}

// Group returns a copy of the named group, nil when there is none.
func (s *Server) Group(name string) *Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return nil
	}
	c := *g
	c.Instances = nil
	for _, in := range g.Instances {
		i := *in
		c.Instances = append(c.Instances, &i)
	}
	return &c
}

// SetDesired changes a group's desired capacity behind ebb's back.
func (s *Server) SetDesired(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[name].Desired = n
}

// TerminateByGroup has the group itself terminate an instance (an AZ
// rebalance, a user's terminate in the console): it waits in
// Terminating:Wait when a terminate hook exists. Desired is unchanged.
func (s *Server) TerminateByGroup(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	for _, in := range g.Instances {
		if in.ID == id {
			g.terminate(in)
		}
	}
}

func (g *Group) terminate(in *Instance) {
	in.State = "Terminating"
	for _, h := range g.Hooks {
		if h.Transition == "autoscaling:EC2_INSTANCE_TERMINATING" {
			in.State = "Terminating:Wait"
		}
	}
}

// counted reports whether an instance counts toward desired.
func counted(in *Instance) bool { return !strings.HasPrefix(in.State, "Terminat") }

// ConvergeGroup plays the group's controller: terminations without a
// waiting hook end, instances launch (InService at once) up to desired,
// and above desired the newest unprotected ones are terminated.
func (s *Server) ConvergeGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	g.Instances = slices.DeleteFunc(g.Instances, func(in *Instance) bool {
		return in.State == "Terminating" || in.State == "Terminating:Proceed"
	})
	n := 0
	for _, in := range g.Instances {
		if counted(in) {
			n++
			in.State = "InService"
		}
	}
	for ; n < g.Desired; n++ {
		zone := g.Zones[g.launched%len(g.Zones)]
		g.launched++
		id := s.id("i-")
		g.Instances = append(g.Instances, &Instance{ID: id, Zone: zone, State: "InService",
			Protected: g.ProtectNew, LaunchedAt: s.now, PrivateIP: fmt.Sprintf("10.1.%d.%d", s.next/250, s.next%250+1)})
	}
	for i := len(g.Instances) - 1; i >= 0 && n > g.Desired; i-- {
		if in := g.Instances[i]; counted(in) && !in.Protected {
			g.terminate(in)
			n--
		}
	}
}

func members(form url.Values, key string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.member.%d", key, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) serveASG(w http.ResponseWriter, r *http.Request, form url.Values) {
	action := form.Get("Action")
	e, ok := s.fault(r, Call{Action: action, Params: form}, apiError{status: 400, code: "Throttling", msg: "Rate exceeded"})
	if !ok && e == nil {
		return // hung up
	}
	var result any
	if e == nil {
		s.mu.Lock()
		result, e = s.asgAction(action, form)
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/xml")
	if e != nil {
		w.WriteHeader(e.status)
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`,
			asgNS, typ, e.code, xmlEscape(e.msg))
		return
	}
	var b []byte
	if result != nil {
		var err error
		if b, err = xml.Marshal(result); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`,
		action, asgNS, action, b, action, action)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

type xmlInstance struct {
	InstanceId           string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	ProtectedFromScaleIn bool
}

type xmlGroup struct {
	AutoScalingGroupName string
	MinSize              int
	MaxSize              int
	DesiredCapacity      int
	AvailabilityZones    []string      `xml:"AvailabilityZones>member"`
	Instances            []xmlInstance `xml:"Instances>member"`
}

type xmlHook struct {
	LifecycleHookName    string
	AutoScalingGroupName string
	LifecycleTransition  string
	HeartbeatTimeout     int
	GlobalTimeout        int
	DefaultResult        string
}

// asgAction does one Auto Scaling action; s.mu is held.
func (s *Server) asgAction(action string, f url.Values) (any, *apiError) {
	group := func() (*Group, *apiError) {
		g, ok := s.groups[f.Get("AutoScalingGroupName")]
		if !ok {
			return nil, validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", f.Get("AutoScalingGroupName"))
		}
		return g, nil
	}
	switch action {
	case "DescribeAutoScalingGroups":
		var out struct {
			XMLName xml.Name   `xml:"AutoScalingGroups"`
			Groups  []xmlGroup `xml:"member"`
		}
		for _, name := range members(f, "AutoScalingGroupNames") {
			g, ok := s.groups[name]
			if !ok {
				continue
			}
			xg := xmlGroup{AutoScalingGroupName: g.Name, MinSize: g.Min, MaxSize: g.Max, DesiredCapacity: g.Desired, AvailabilityZones: g.Zones}
			for _, in := range g.Instances {
				xg.Instances = append(xg.Instances, xmlInstance{InstanceId: in.ID, AvailabilityZone: in.Zone,
					LifecycleState: in.State, HealthStatus: "Healthy", ProtectedFromScaleIn: in.Protected})
			}
			out.Groups = append(out.Groups, xg)
		}
		return out, nil
	case "SetDesiredCapacity":
		g, e := group()
		if e != nil {
			return nil, e
		}
		n, _ := strconv.Atoi(f.Get("DesiredCapacity"))
		if n > g.Max {
			return nil, validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.Max)
		}
		if n < g.Min {
			return nil, validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.Min)
		}
		g.Desired = n
		return nil, nil
	case "TerminateInstanceInAutoScalingGroup":
		id := f.Get("InstanceId")
		for _, g := range s.groups {
			for _, in := range g.Instances {
				if in.ID != id {
					continue
				}
				if !counted(in) {
					return nil, validation("The instance %s is already terminating.", id)
				}
				if f.Get("ShouldDecrementDesiredCapacity") == "true" {
					if g.Desired-1 < g.Min {
						return nil, validation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint.", g.Min)
					}
					g.Desired--
				}
				g.terminate(in)
				return struct {
					XMLName     xml.Name `xml:"Activity"`
					ActivityId  string
					Description string
				}{ActivityId: s.id("act-"), Description: "Terminating EC2 instance: " + id}, nil
			}
		}
		return nil, validation("Instance Id not found - No managed instance found for instance ID: %s", id)
	case "SetInstanceProtection":
		g, e := group()
		if e != nil {
			return nil, e
		}
		ids := members(f, "InstanceIds")
		if len(ids) > 50 {
			return nil, validation("The number of instance ids that may be passed in is limited to 50")
		}
		for _, id := range ids {
			if !slices.ContainsFunc(g.Instances, func(in *Instance) bool { return in.ID == id }) {
				return nil, validation("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
			}
		}
		for _, in := range g.Instances {
			if slices.Contains(ids, in.ID) {
				in.Protected = f.Get("ProtectedFromScaleIn") == "true"
			}
		}
		return nil, nil
	case "PutLifecycleHook":
		g, e := group()
		if e != nil {
			return nil, e
		}
		hb, _ := strconv.Atoi(f.Get("HeartbeatTimeout"))
		if hb == 0 {
			hb = 3600
		}
		if hb < 30 || hb > 7200 {
			return nil, validation("HeartbeatTimeout must be between 30 and 7200")
		}
		res := f.Get("DefaultResult")
		if res == "" {
			res = "ABANDON"
		}
		g.Hooks[f.Get("LifecycleHookName")] = &Hook{Name: f.Get("LifecycleHookName"),
			Transition: f.Get("LifecycleTransition"), DefaultResult: res, HeartbeatTimeout: hb}
		return nil, nil
	case "DescribeLifecycleHooks":
		g, e := group()
		if e != nil {
			return nil, e
		}
		var out struct {
			XMLName xml.Name  `xml:"LifecycleHooks"`
			Hooks   []xmlHook `xml:"member"`
		}
		names := members(f, "LifecycleHookNames")
		for _, h := range g.Hooks {
			if len(names) == 0 || slices.Contains(names, h.Name) {
				out.Hooks = append(out.Hooks, xmlHook{LifecycleHookName: h.Name, AutoScalingGroupName: g.Name,
					LifecycleTransition: h.Transition, HeartbeatTimeout: h.HeartbeatTimeout,
					GlobalTimeout: min(172800, 100*h.HeartbeatTimeout), DefaultResult: h.DefaultResult})
			}
		}
		return out, nil
	case "RecordLifecycleActionHeartbeat", "CompleteLifecycleAction":
		g, e := group()
		if e != nil {
			return nil, e
		}
		if _, ok := g.Hooks[f.Get("LifecycleHookName")]; !ok {
			return nil, validation("No Lifecycle Hook found with name %s", f.Get("LifecycleHookName"))
		}
		id := f.Get("InstanceId")
		i := slices.IndexFunc(g.Instances, func(in *Instance) bool { return in.ID == id && in.State == "Terminating:Wait" })
		if i < 0 {
			return nil, validation("No active Lifecycle Action found with instance ID %s", id)
		}
		in := g.Instances[i]
		if action == "RecordLifecycleActionHeartbeat" {
			in.Heartbeats++
			return nil, nil
		}
		res := f.Get("LifecycleActionResult")
		if res != "CONTINUE" && res != "ABANDON" {
			return nil, validation("LifecycleActionResult must be CONTINUE or ABANDON")
		}
		in.Result, in.State = res, "Terminating:Proceed"
		return nil, nil
	}
	return nil, &apiError{status: 400, code: "InvalidAction", msg: "unknown action " + action}
}
