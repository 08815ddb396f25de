package registry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is Eureka's JSON form, as the client reads and writes it. Eureka
// servers differ in what they write, so the decoder takes every variant the
// client has met: numbers and booleans as JSON strings or not, ports as
// {"$": 8080, "@enabled": "true"}, Java's "@class" markers, and a list of
// one ("application", "instance") written as the lone object, as older
// Eureka servers (and fargo's) do.

// oneOrMany is a JSON list that may arrive as its single element.
type oneOrMany[T any] []T

func (l *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		return json.Unmarshal(b, (*[]T)(l))
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = oneOrMany[T]{one}
	return nil
}

// scalar is a JSON number, boolean or string, held as its text: Eureka
// writes some numbers and booleans as strings.
type scalar string

func (s *scalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = scalar(strings.TrimSpace(str))
		return nil
	}
	if len(b) == 0 || b[0] == '{' || b[0] == '[' {
		return fmt.Errorf("%.40s is not a number, boolean or string", b)
	}
	if string(b) == "null" {
		b = nil
	}
	*s = scalar(b)
	return nil
}

func (s scalar) int(path string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", path, string(s))
	}
	return v, nil
}

func (s scalar) bool(path string) (bool, error) {
	switch s {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", path, string(s))
}

// wirePort is {"$": 8080, "@enabled": "true"}.
type wirePort struct {
	Number  scalar `json:"$"`
	Enabled scalar `json:"@enabled"`
}

type wireDataCenter struct {
	Class    string             `json:"@class"`
	Name     string             `json:"name"`
	Metadata map[string]*scalar `json:"metadata,omitempty"`
}

type wireLease struct {
	RenewalIntervalInSecs scalar `json:"renewalIntervalInSecs"`
	DurationInSecs        scalar `json:"durationInSecs"`
	RegistrationTimestamp scalar `json:"registrationTimestamp"`
	LastRenewalTimestamp  scalar `json:"lastRenewalTimestamp"`
	EvictionTimestamp     scalar `json:"evictionTimestamp"`
	ServiceUpTimestamp    scalar `json:"serviceUpTimestamp"`
}

// wireInstance is an instance as it is read. Go's decoder matches names
// without regard to case, so the older "overriddenstatus" is read too.
type wireInstance struct {
	InstanceID                    string             `json:"instanceId"`
	HostName                      string             `json:"hostName"`
	App                           string             `json:"app"`
	IPAddr                        string             `json:"ipAddr"`
	Status                        Status             `json:"status"`
	OverriddenStatus              Status             `json:"overriddenStatus"`
	Port                          wirePort           `json:"port"`
	SecurePort                    wirePort           `json:"securePort"`
	CountryID                     scalar             `json:"countryId"`
	DataCenterInfo                wireDataCenter     `json:"dataCenterInfo"`
	LeaseInfo                     wireLease          `json:"leaseInfo"`
	Metadata                      map[string]*scalar `json:"metadata"`
	HomePageURL                   string             `json:"homePageUrl"`
	StatusPageURL                 string             `json:"statusPageUrl"`
	HealthCheckURL                string             `json:"healthCheckUrl"`
	VIPAddress                    string             `json:"vipAddress"`
	SecureVIPAddress              string             `json:"secureVipAddress"`
	IsCoordinatingDiscoveryServer scalar             `json:"isCoordinatingDiscoveryServer"`
	LastUpdatedTimestamp          scalar             `json:"lastUpdatedTimestamp"`
	LastDirtyTimestamp            scalar             `json:"lastDirtyTimestamp"`
	ActionType                    ActionType         `json:"actionType"`
}

type wireApplications struct {
	Applications *struct {
		VersionsDelta scalar                `json:"versions__delta"`
		AppsHashCode  string                `json:"apps__hashcode"`
		Application   oneOrMany[wireAppDoc] `json:"application"`
	} `json:"applications"`
}

type wireAppDoc struct {
	Name     string                  `json:"name"`
	Instance oneOrMany[wireInstance] `json:"instance"`
}

// stringMap drops Java's "@class" marker of an empty map, and null values.
func stringMap(m map[string]*scalar) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != "@class" && v != nil {
			out[k] = string(*v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// instance converts a decoded instance, naming every bad field at once.
func (w wireInstance) instance() (Instance, error) {
	var errs []error
	num := func(path string, s scalar) int64 {
		v, err := s.int(path)
		errs = append(errs, err)
		return v
	}
	flag := func(path string, s scalar) bool {
		v, err := s.bool(path)
		errs = append(errs, err)
		return v
	}
	in := Instance{
		InstanceID: w.InstanceID, HostName: w.HostName, App: w.App, IPAddr: w.IPAddr,
		Status: w.Status, OverriddenStatus: w.OverriddenStatus,
		Port:       Port{int(num("port.$", w.Port.Number)), flag("port.@enabled", w.Port.Enabled)},
		SecurePort: Port{int(num("securePort.$", w.SecurePort.Number)), flag("securePort.@enabled", w.SecurePort.Enabled)},
		CountryID:  int(num("countryId", w.CountryID)),
		DataCenterInfo: DataCenterInfo{Class: w.DataCenterInfo.Class, Name: w.DataCenterInfo.Name,
			Metadata: stringMap(w.DataCenterInfo.Metadata)},
		LeaseInfo: LeaseInfo{
			RenewalIntervalInSecs: int(num("leaseInfo.renewalIntervalInSecs", w.LeaseInfo.RenewalIntervalInSecs)),
			DurationInSecs:        int(num("leaseInfo.durationInSecs", w.LeaseInfo.DurationInSecs)),
			RegistrationTimestamp: num("leaseInfo.registrationTimestamp", w.LeaseInfo.RegistrationTimestamp),
			LastRenewalTimestamp:  num("leaseInfo.lastRenewalTimestamp", w.LeaseInfo.LastRenewalTimestamp),
			EvictionTimestamp:     num("leaseInfo.evictionTimestamp", w.LeaseInfo.EvictionTimestamp),
			ServiceUpTimestamp:    num("leaseInfo.serviceUpTimestamp", w.LeaseInfo.ServiceUpTimestamp),
		},
		Metadata:    stringMap(w.Metadata),
		HomePageURL: w.HomePageURL, StatusPageURL: w.StatusPageURL, HealthCheckURL: w.HealthCheckURL,
		VIPAddress: w.VIPAddress, SecureVIPAddress: w.SecureVIPAddress,
		IsCoordinatingDiscoveryServer: flag("isCoordinatingDiscoveryServer", w.IsCoordinatingDiscoveryServer),
		LastUpdatedTimestamp:          num("lastUpdatedTimestamp", w.LastUpdatedTimestamp),
		LastDirtyTimestamp:            num("lastDirtyTimestamp", w.LastDirtyTimestamp),
		ActionType:                    w.ActionType,
	}
	if err := errors.Join(errs...); err != nil {
		return Instance{}, fmt.Errorf("instance %s: %w", in.ID(), err)
	}
	return in, nil
}

// decodeApplications reads {"applications": {…}}, the answer of GET /apps
// and GET /apps/delta. Instances come out sorted, apps by name.
func decodeApplications(body []byte) (Applications, error) {
	var w wireApplications
	if err := json.Unmarshal(body, &w); err != nil {
		return Applications{}, fmt.Errorf("decode applications: %w", err)
	}
	if w.Applications == nil {
		return Applications{}, errors.New(`decode applications: want {"applications": {...}}`)
	}
	version, err := w.Applications.VersionsDelta.int("versions__delta")
	if err != nil {
		return Applications{}, fmt.Errorf("decode applications: %w", err)
	}
	out := Applications{VersionsDelta: version, AppsHashCode: w.Applications.AppsHashCode}
	var errs []error
	for _, a := range w.Applications.Application {
		app := Application{Name: normalizeApp(a.Name)}
		for _, wi := range a.Instance {
			in, err := wi.instance()
			if err != nil {
				errs = append(errs, fmt.Errorf("application %s: %w", app.Name, err))
				continue
			}
			in.App = normalizeApp(cmp.Or(in.App, app.Name))
			app.Instances = append(app.Instances, in)
		}
		out.Apps = append(out.Apps, app)
	}
	if err := errors.Join(errs...); err != nil {
		return Applications{}, fmt.Errorf("decode applications: %w", err)
	}
	return out, nil
}

// Writing: the shapes every Eureka server reads. Numbers in ports and
// leases are numbers, "@enabled" and lastDirtyTimestamp strings, as Eureka
// writes them.

type outPort struct {
	Number  int    `json:"$"`
	Enabled string `json:"@enabled"`
}

type outDataCenter struct {
	Class    string            `json:"@class"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type outLease struct {
	RenewalIntervalInSecs int `json:"renewalIntervalInSecs,omitempty"`
	DurationInSecs        int `json:"durationInSecs,omitempty"`
}

type outInstance struct {
	InstanceID         string            `json:"instanceId,omitempty"`
	HostName           string            `json:"hostName"`
	App                string            `json:"app"`
	IPAddr             string            `json:"ipAddr"`
	Status             Status            `json:"status"`
	Port               outPort           `json:"port"`
	SecurePort         outPort           `json:"securePort"`
	CountryID          int               `json:"countryId"`
	DataCenterInfo     outDataCenter     `json:"dataCenterInfo"`
	LeaseInfo          outLease          `json:"leaseInfo"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	HomePageURL        string            `json:"homePageUrl,omitempty"`
	StatusPageURL      string            `json:"statusPageUrl,omitempty"`
	HealthCheckURL     string            `json:"healthCheckUrl,omitempty"`
	VIPAddress         string            `json:"vipAddress,omitempty"`
	SecureVIPAddress   string            `json:"secureVipAddress,omitempty"`
	LastDirtyTimestamp string            `json:"lastDirtyTimestamp"`
}

// encodeInstance writes a registration body: {"instance": {…}}.
func encodeInstance(in Instance) ([]byte, error) {
	dc := in.DataCenterInfo
	dc.Name = cmp.Or(dc.Name, DataCenterMyOwn)
	if dc.Class == "" {
		dc.Class = ClassDefaultDataCenterInfo
		if dc.Name == DataCenterAmazon {
			dc.Class = ClassAmazonInfo
		}
	}
	w := outInstance{
		InstanceID: in.InstanceID, HostName: in.HostName, App: in.App, IPAddr: in.IPAddr,
		Status:         in.Status,
		Port:           outPort{in.Port.Number, strconv.FormatBool(in.Port.Enabled)},
		SecurePort:     outPort{in.SecurePort.Number, strconv.FormatBool(in.SecurePort.Enabled)},
		CountryID:      cmp.Or(in.CountryID, 1),
		DataCenterInfo: outDataCenter{Class: dc.Class, Name: dc.Name, Metadata: dc.Metadata},
		LeaseInfo:      outLease{in.LeaseInfo.RenewalIntervalInSecs, in.LeaseInfo.DurationInSecs},
		Metadata:       in.Metadata,
		HomePageURL:    in.HomePageURL, StatusPageURL: in.StatusPageURL, HealthCheckURL: in.HealthCheckURL,
		VIPAddress: in.VIPAddress, SecureVIPAddress: in.SecureVIPAddress,
		LastDirtyTimestamp: strconv.FormatInt(in.LastDirtyTimestamp, 10),
	}
	return json.Marshal(map[string]outInstance{"instance": w})
}
