package awstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

const ecsTarget = "AmazonEC2ContainerServiceV20141113."

// Cluster is an ECS cluster.
type Cluster struct {
	Name               string
	ContainerInstances []*ContainerInstance
	Services           map[string]*Service
	Tasks              []*Task // in start order
}

// ContainerInstance is an EC2 instance registered with a cluster.
type ContainerInstance struct {
	ARN, EC2InstanceID string
	Status             string // ACTIVE, DRAINING
	Running, Pending   int
}

// Service is an ECS service.
type Service struct {
	Name    string
	Desired int
}

// Task is a task of a service.
type Task struct {
	ID, Service               string
	LastStatus, DesiredStatus string
	Zone, IP                  string
	CreatedAt                 time.Time
	StopReason                string
	// ProtectedUntil is when the task's scale-in protection expires; zero
	// when it has none. The scheduler's scale-in passes over a task
	// protected at the server's clock.
	ProtectedUntil time.Time
}

// protected reports whether t's scale-in protection holds at now.
func (t *Task) protected(now time.Time) bool { return now.Before(t.ProtectedUntil) }

func (c *Cluster) arn() string { return "arn:aws:ecs:us-east-1:123456789012:cluster/" + c.Name }

func (c *Cluster) taskARN(t *Task) string {
	return "arn:aws:ecs:us-east-1:123456789012:task/" + c.Name + "/" + t.ID
}

// AddCluster creates an empty cluster.
func (s *Server) AddCluster(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[name] = &Cluster{Name: name, Services: map[string]*Service{}}
}

// AddContainerInstance registers EC2 instance ec2ID with the cluster,
// with running tasks on it; it returns the container instance's ARN.
func (s *Server) AddContainerInstance(cluster, ec2ID string, running int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[cluster]
	ci := &ContainerInstance{ARN: "arn:aws:ecs:us-east-1:123456789012:container-instance/" + cluster + "/" + s.id("ci"),
		EC2InstanceID: ec2ID, Status: "ACTIVE", Running: running}
	c.ContainerInstances = append(c.ContainerInstances, ci)
	return ci.ARN
}

// SetRunning sets the running task count of the container instance on
// EC2 instance ec2ID (the tasks ECS moved away as it drains).
func (s *Server) SetRunning(cluster, ec2ID string, running, pending int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ci := range s.clusters[cluster].ContainerInstances {
		if ci.EC2InstanceID == ec2ID {
			ci.Running, ci.Pending = running, pending
		}
	}
}

// ContainerInstance returns a copy of the container instance on ec2ID.
func (s *Server) ContainerInstance(cluster, ec2ID string) *ContainerInstance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ci := range s.clusters[cluster].ContainerInstances {
		if ci.EC2InstanceID == ec2ID {
			c := *ci
			return &c
		}
	}
	return nil
}

// AddService creates a service with desired count 0.
func (s *Server) AddService(cluster, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[cluster].Services[name] = &Service{Name: name}
}

// SetServiceDesired changes a service's desired count behind ebb's back.
func (s *Server) SetServiceDesired(cluster, name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[cluster].Services[name].Desired = n
}

// ServiceDesired returns a service's desired count.
func (s *Server) ServiceDesired(cluster, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusters[cluster].Services[name].Desired
}

// Tasks returns copies of the cluster's tasks.
func (s *Server) Tasks(cluster string) []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Task
	for _, t := range s.clusters[cluster].Tasks {
		out = append(out, *t)
	}
	return out
}

// Protected reports whether the task's scale-in protection holds now.
func (s *Server) Protected(cluster, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.clusters[cluster].task(id)
	return t != nil && t.protected(s.now)
}

// Protect sets a task's scale-in protection to last d from now (0: off),
// as the task itself does through the ECS agent's endpoint.
func (s *Server) Protect(cluster, id string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.clusters[cluster].task(id)
	t.ProtectedUntil = time.Time{}
	if d > 0 {
		t.ProtectedUntil = s.now.Add(d)
	}
}

// RefuseProtection makes UpdateTaskProtection answer task id with a
// failure of reason (TASK_NOT_VALID, say) instead of changing it; ""
// clears it.
func (s *Server) RefuseProtection(id, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.refuse, id)
		return
	}
	s.refuse[id] = reason
}

// ScheduleAfter makes the server play the service scheduler
// (ConvergeService) for every service of the call's cluster right after
// each successful call of action: the scheduler acting before ebb's next
// call lands.
func (s *Server) ScheduleAfter(action string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule[action] = on
}

// ConvergeService plays the service scheduler: stopping tasks stop, tasks
// start (RUNNING at once) up to desired, and above desired the newest
// tasks not protected from scale-in are stopped (none if all are).
func (s *Server) ConvergeService(cluster, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.converge(s.clusters[cluster], name)
}

// converge is ConvergeService with s.mu held.
func (s *Server) converge(c *Cluster, name string) {
	svc := c.Services[name]
	c.Tasks = slices.DeleteFunc(c.Tasks, func(t *Task) bool { return t.Service == name && t.DesiredStatus == "STOPPED" })
	n := 0
	for _, t := range c.Tasks {
		if t.Service == name {
			t.LastStatus = "RUNNING"
			n++
		}
	}
	zones := []string{"us-east-1a", "us-east-1b"}
	for ; n < svc.Desired; n++ {
		s.next++
		c.Tasks = append(c.Tasks, &Task{ID: fmt.Sprintf("%032x", s.next), Service: name, LastStatus: "RUNNING",
			DesiredStatus: "RUNNING", Zone: zones[s.next%2], IP: fmt.Sprintf("10.0.%d.%d", s.next/250, s.next%250+1),
			CreatedAt: s.now})
	}
	for i := len(c.Tasks) - 1; i >= 0 && n > svc.Desired; i-- {
		if t := c.Tasks[i]; t.Service == name && t.DesiredStatus == "RUNNING" && !t.protected(s.now) {
			t.DesiredStatus, t.StopReason = "STOPPED", "Scaling activity initiated by deployment"
			n--
		}
	}
}

func (s *Server) serveECS(w http.ResponseWriter, r *http.Request, action string, body []byte) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	e, ok := s.fault(r, Call{Action: action, JSON: in}, apiError{status: 400, code: "ThrottlingException", msg: "Rate exceeded"})
	if !ok && e == nil {
		return
	}
	var out any
	if e == nil {
		s.mu.Lock()
		out, e = s.ecsAction(action, in)
		if c, ok := s.clusters[last(str(in, "cluster"))]; ok && e == nil && s.schedule[action] {
			for _, name := range slices.Sorted(maps.Keys(c.Services)) {
				s.converge(c, name)
			}
		}
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if e != nil {
		w.Header().Set("X-Amzn-Errortype", e.code)
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

type obj = map[string]any

func str(in obj, key string) string { v, _ := in[key].(string); return v }

func strs(in obj, key string) []string {
	var out []string
	l, _ := in[key].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func clientErr(code, format string, args ...any) *apiError {
	return &apiError{status: 400, code: code, msg: fmt.Sprintf(format, args...)}
}

// last returns the part of an ARN after its last slash (an ID as it is).
func last(s string) string { return s[strings.LastIndex(s, "/")+1:] }

func (c *Cluster) task(ref string) *Task {
	for _, t := range c.Tasks {
		if t.ID == last(ref) {
			return t
		}
	}
	return nil
}

func (c *Cluster) taskJSON(t *Task) obj {
	return obj{
		"taskArn": c.taskARN(t), "clusterArn": c.arn(), "group": "service:" + t.Service,
		"lastStatus": t.LastStatus, "desiredStatus": t.DesiredStatus, "availabilityZone": t.Zone,
		"createdAt": float64(t.CreatedAt.UnixMilli()) / 1000, "stoppedReason": t.StopReason,
		"attachments": []obj{{"id": "eni-att", "type": "ElasticNetworkInterface", "status": "ATTACHED",
			"details": []obj{{"name": "networkInterfaceId", "value": "eni-1"}, {"name": "privateIPv4Address", "value": t.IP}}}},
	}
}

// protectionJSON is a ProtectedTask: expirationDate only while protected.
func (s *Server) protectionJSON(c *Cluster, t *Task) obj {
	out := obj{"taskArn": c.taskARN(t), "protectionEnabled": t.protected(s.now)}
	if t.protected(s.now) {
		out["expirationDate"] = float64(t.ProtectedUntil.UnixMilli()) / 1000
	}
	return out
}

func ciJSON(ci *ContainerInstance) obj {
	return obj{"containerInstanceArn": ci.ARN, "ec2InstanceId": ci.EC2InstanceID, "status": ci.Status,
		"runningTasksCount": ci.Running, "pendingTasksCount": ci.Pending, "agentConnected": true}
}

// ecsAction does one ECS action; s.mu is held.
func (s *Server) ecsAction(action string, in obj) (any, *apiError) {
	c, ok := s.clusters[last(str(in, "cluster"))]
	if !ok {
		return nil, clientErr("ClusterNotFoundException", "Cluster not found.")
	}
	service := func(name string) (*Service, *apiError) {
		svc, ok := c.Services[last(name)]
		if !ok {
			return nil, clientErr("ServiceNotFoundException", "Service not found.")
		}
		return svc, nil
	}
	switch action {
	case "ListContainerInstances":
		var arns []string
		want, filtered := strings.CutPrefix(str(in, "filter"), "ec2InstanceId == ")
		if str(in, "filter") != "" && !filtered {
			return nil, clientErr("InvalidParameterException", "this fake knows only the filter ec2InstanceId == ID")
		}
		for _, ci := range c.ContainerInstances {
			if !filtered || ci.EC2InstanceID == strings.TrimSpace(want) {
				arns = append(arns, ci.ARN)
			}
		}
		return obj{"containerInstanceArns": arns}, nil
	case "DescribeContainerInstances", "UpdateContainerInstancesState":
		status := str(in, "status")
		if action == "UpdateContainerInstancesState" && status != "ACTIVE" && status != "DRAINING" {
			return nil, clientErr("InvalidParameterException", "status must be ACTIVE or DRAINING")
		}
		cis, failures := []obj{}, []obj{}
		for _, ref := range strs(in, "containerInstances") {
			i := slices.IndexFunc(c.ContainerInstances, func(ci *ContainerInstance) bool { return last(ci.ARN) == last(ref) })
			if i < 0 {
				failures = append(failures, obj{"arn": ref, "reason": "MISSING"})
				continue
			}
			ci := c.ContainerInstances[i]
			if status != "" {
				ci.Status = status
			}
			cis = append(cis, ciJSON(ci))
		}
		return obj{"containerInstances": cis, "failures": failures}, nil
	case "DescribeServices":
		svcs, failures := []obj{}, []obj{}
		for _, name := range strs(in, "services") {
			svc, ok := c.Services[last(name)]
			if !ok {
				failures = append(failures, obj{"arn": name, "reason": "MISSING"})
				continue
			}
			running := 0
			for _, t := range c.Tasks {
				if t.Service == svc.Name && t.LastStatus == "RUNNING" {
					running++
				}
			}
			svcs = append(svcs, obj{"serviceName": svc.Name, "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/" + c.Name + "/" + svc.Name,
				"clusterArn": c.arn(), "status": "ACTIVE", "desiredCount": svc.Desired, "runningCount": running, "pendingCount": 0})
		}
		return obj{"services": svcs, "failures": failures}, nil
	case "UpdateService":
		svc, e := service(str(in, "service"))
		if e != nil {
			return nil, e
		}
		if n, ok := in["desiredCount"].(float64); ok {
			svc.Desired = int(n)
		}
		return obj{"service": obj{"serviceName": svc.Name, "desiredCount": svc.Desired, "status": "ACTIVE"}}, nil
	case "ListTasks":
		svc, e := service(str(in, "serviceName"))
		if e != nil {
			return nil, e
		}
		want := str(in, "desiredStatus")
		if want == "" {
			want = "RUNNING"
		}
		var arns []string
		for _, t := range c.Tasks {
			if t.Service == svc.Name && t.DesiredStatus == want {
				arns = append(arns, c.taskARN(t))
			}
		}
		// Pages of 100, as ECS answers without maxResults.
		start := 0
		if tok := str(in, "nextToken"); tok != "" {
			fmt.Sscan(tok, &start)
		}
		end := min(start+100, len(arns))
		out := obj{"taskArns": arns[start:end]}
		if end < len(arns) {
			out["nextToken"] = fmt.Sprint(end)
		}
		return out, nil
	case "DescribeTasks":
		return c.eachTask(in, "tasks", c.taskJSON)
	case "GetTaskProtection":
		return c.eachTask(in, "protectedTasks", func(t *Task) obj { return s.protectionJSON(c, t) })
	case "UpdateTaskProtection":
		refs := strs(in, "tasks")
		if len(refs) == 0 || len(refs) > 10 {
			return nil, clientErr("InvalidParameterException", "Tasks must hold 1 to 10 tasks.")
		}
		on, ok := in["protectionEnabled"].(bool)
		if !ok {
			return nil, clientErr("InvalidParameterException", "protectionEnabled is required.")
		}
		minutes := 120.0
		if m, ok := in["expiresInMinutes"].(float64); ok {
			minutes = m
		}
		if on && (minutes < 1 || minutes > 2880) {
			return nil, clientErr("InvalidParameterException", "expiresInMinutes must be 1 to 2880.")
		}
		tasks, failures := []obj{}, []obj{}
		for _, ref := range refs {
			t := c.task(ref)
			switch {
			case t == nil:
				failures = append(failures, obj{"arn": ref, "reason": "MISSING"})
				continue
			case s.refuse[t.ID] != "":
				failures = append(failures, obj{"arn": c.taskARN(t), "reason": s.refuse[t.ID], "detail": "refused by the test"})
				continue
			case on:
				t.ProtectedUntil = s.now.Add(time.Duration(minutes) * time.Minute)
			default:
				t.ProtectedUntil = time.Time{}
			}
			tasks = append(tasks, s.protectionJSON(c, t))
		}
		return obj{"protectedTasks": tasks, "failures": failures}, nil
	case "StopTask":
		t := c.task(str(in, "task"))
		if t == nil {
			return nil, clientErr("InvalidParameterException", "The referenced task was not found.")
		}
		if t.DesiredStatus != "STOPPED" {
			t.DesiredStatus, t.StopReason = "STOPPED", str(in, "reason")
		}
		return obj{"task": c.taskJSON(t)}, nil
	}
	return nil, clientErr("UnknownOperationException", "unknown action %s", action)
}

// eachTask answers a call naming up to 100 tasks: each one found, shaped
// by shape, under key, and a MISSING failure for each one not.
func (c *Cluster) eachTask(in obj, key string, shape func(*Task) obj) (obj, *apiError) {
	refs := strs(in, "tasks")
	if len(refs) > 100 {
		return nil, clientErr("InvalidParameterException", "Tasks cannot be longer than 100.")
	}
	tasks, failures := []obj{}, []obj{}
	for _, ref := range refs {
		t := c.task(ref)
		if t == nil {
			failures = append(failures, obj{"arn": ref, "reason": "MISSING"})
			continue
		}
		tasks = append(tasks, shape(t))
	}
	return obj{key: tasks, "failures": failures}, nil
}
