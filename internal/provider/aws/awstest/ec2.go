package awstest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	ec2Version = "2016-11-15"
	ec2NS      = "http://ec2.amazonaws.com/doc/2016-11-15/"
	// ec2MaxIDs is the most instance IDs one DescribeInstances names.
	ec2MaxIDs = 1000
)

// SetUnlisted sets whether EC2's DescribeInstances knows instance id of
// the group yet.
func (s *Server) SetUnlisted(group, id string, unlisted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.groups[group].Instances {
		if in.ID == id {
			in.Unlisted = unlisted
		}
	}
}

// flatList reads EC2's flat list parameters: key.1, key.2, …
func flatList(form url.Values, key string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.%d", key, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// serveEC2 answers EC2's query protocol: errors as
// <Response><Errors><Error>…</Error></Errors><RequestID>, throttling as
// HTTP 503 RequestLimitExceeded.
func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request, form url.Values) {
	action := form.Get("Action")
	e, ok := s.fault(r, Call{Action: action, Params: form},
		apiError{status: 503, code: "RequestLimitExceeded", msg: "Request limit exceeded."})
	if !ok && e == nil {
		return // hung up
	}
	var result any
	if e == nil {
		s.mu.Lock()
		result, e = s.ec2Action(action, form)
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if e != nil {
		w.WriteHeader(e.status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`,
			e.code, xmlEscape(e.msg))
		return
	}
	b, err := xml.Marshal(result)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

type ec2Instance struct {
	InstanceID       string `xml:"instanceId"`
	PrivateIPAddress string `xml:"privateIpAddress,omitempty"`
	LaunchTime       string `xml:"launchTime"`
	Placement        struct {
		AvailabilityZone string `xml:"availabilityZone"`
	} `xml:"placement"`
	InstanceState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
}

type ec2Reservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []ec2Instance `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []ec2Reservation `xml:"reservationSet>item"`
}

// ec2Action does one EC2 action; s.mu is held.
func (s *Server) ec2Action(action string, f url.Values) (any, *apiError) {
	if action != "DescribeInstances" {
		return nil, &apiError{status: 400, code: "InvalidAction", msg: "The action " + action + " is not valid for this web service."}
	}
	ids := flatList(f, "InstanceId")
	if len(ids) > ec2MaxIDs {
		return nil, &apiError{status: 400, code: "InvalidParameterValue", msg: fmt.Sprintf("The maximum number of instance IDs is %d.", ec2MaxIDs)}
	}
	known := map[string]*Instance{}
	for _, g := range s.groups {
		for _, in := range g.Instances {
			if !in.Unlisted {
				known[in.ID] = in
			}
		}
	}
	var missing []string
	for _, id := range ids {
		if known[id] == nil {
			missing = append(missing, id)
		}
	}
	switch {
	case len(missing) == 1:
		return nil, &apiError{status: 400, code: "InvalidInstanceID.NotFound", msg: fmt.Sprintf("The instance ID '%s' does not exist", missing[0])}
	case len(missing) > 1:
		return nil, &apiError{status: 400, code: "InvalidInstanceID.NotFound", msg: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
	}
	out := describeInstancesResponse{Xmlns: ec2NS, RequestID: "req-1"}
	// One reservation per instance, as an Auto Scaling group launches them.
	for _, id := range ids {
		in := known[id]
		x := ec2Instance{InstanceID: in.ID, PrivateIPAddress: in.PrivateIP, LaunchTime: in.LaunchedAt.UTC().Format("2006-01-02T15:04:05.000Z")}
		x.Placement.AvailabilityZone = in.Zone
		x.InstanceState.Code, x.InstanceState.Name = 16, "running"
		if strings.HasPrefix(in.State, "Terminat") {
			x.InstanceState.Code, x.InstanceState.Name = 32, "shutting-down"
		}
		out.Reservations = append(out.Reservations, ec2Reservation{ReservationID: "r-" + strings.TrimPrefix(in.ID, "i-"), OwnerID: "123456789012",
			Instances: []ec2Instance{x}})
	}
	return out, nil
}
