package registry

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file holds Eureka's two wire forms. They differ in more than syntax:
// JSON wraps ports as {"$": 8080, "@enabled": "true"} and names the data
// center's Java class in "@class"; XML writes <port enabled="true">8080</port>
// and the class as an attribute. Eureka's own clients send some numbers and
// booleans as strings, so the decoders take either.

// format is a wire form.
type format int

const (
	formatXML format = iota
	formatJSON
)

// flexInt is a JSON integer that may arrive as a string; it is written as a
// number.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	v, err := parseFlexInt(b)
	*n = flexInt(v)
	return err
}

// strInt is a JSON integer that may arrive as a number; it is written as a
// string, as Eureka writes timestamps outside leaseInfo.
type strInt int64

func (n *strInt) UnmarshalJSON(b []byte) error {
	v, err := parseFlexInt(b)
	*n = strInt(v)
	return err
}

func (n strInt) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(n), 10))
}

func parseFlexInt(b []byte) (int64, error) {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return 0, nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
		if s == "" {
			return 0, nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", b)
	}
	return v, nil
}

// flexBool is a JSON boolean that may arrive as "true"/"false"; it is
// written as a string, as Eureka writes "@enabled".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	switch s {
	case "true":
		*f = true
	case "false", "", "null":
		*f = false
	default:
		return fmt.Errorf("%s is not a boolean", b)
	}
	return nil
}

func (f flexBool) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatBool(bool(f)))
}

// jsonMetadata is a string map. Values that are JSON numbers or booleans
// become strings; Java's "@class" marker of an empty map is dropped.
type jsonMetadata map[string]string

func (m *jsonMetadata) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("must be an object of strings")
	}
	out := jsonMetadata{}
	for k, v := range raw {
		if k == "@class" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		t := string(bytes.TrimSpace(v))
		switch {
		case t == "null":
		case t == "true" || t == "false" || json.Valid(v) && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')):
			out[k] = t
		default:
			return fmt.Errorf("value of %q must be a string", k)
		}
	}
	*m = out
	return nil
}

type jsonPort struct {
	Number  flexInt  `json:"$"`
	Enabled flexBool `json:"@enabled"`
}

type jsonDataCenter struct {
	Class    string       `json:"@class"`
	Name     string       `json:"name"`
	Metadata jsonMetadata `json:"metadata,omitempty"`
}

type jsonLease struct {
	RenewalIntervalInSecs flexInt `json:"renewalIntervalInSecs"`
	DurationInSecs        flexInt `json:"durationInSecs"`
	RegistrationTimestamp flexInt `json:"registrationTimestamp"`
	LastRenewalTimestamp  flexInt `json:"lastRenewalTimestamp"`
	EvictionTimestamp     flexInt `json:"evictionTimestamp"`
	ServiceUpTimestamp    flexInt `json:"serviceUpTimestamp"`
}

// jsonInstance is an instance in Eureka's JSON form. Go's decoder matches
// names case-insensitively, so the older "overriddenstatus" is read too.
type jsonInstance struct {
	InstanceID                    string         `json:"instanceId"`
	HostName                      string         `json:"hostName"`
	App                           string         `json:"app"`
	IPAddr                        string         `json:"ipAddr"`
	Status                        string         `json:"status"`
	OverriddenStatus              string         `json:"overriddenStatus"`
	Port                          jsonPort       `json:"port"`
	SecurePort                    jsonPort       `json:"securePort"`
	CountryID                     flexInt        `json:"countryId"`
	DataCenterInfo                jsonDataCenter `json:"dataCenterInfo"`
	LeaseInfo                     jsonLease      `json:"leaseInfo"`
	Metadata                      jsonMetadata   `json:"metadata"`
	HomePageURL                   string         `json:"homePageUrl"`
	StatusPageURL                 string         `json:"statusPageUrl"`
	HealthCheckURL                string         `json:"healthCheckUrl"`
	VIPAddress                    string         `json:"vipAddress"`
	SecureVIPAddress              string         `json:"secureVipAddress"`
	IsCoordinatingDiscoveryServer flexBool       `json:"isCoordinatingDiscoveryServer"`
	LastUpdatedTimestamp          strInt         `json:"lastUpdatedTimestamp"`
	LastDirtyTimestamp            strInt         `json:"lastDirtyTimestamp"`
	ActionType                    string         `json:"actionType,omitempty"`
}

type jsonApplication struct {
	Name      string         `json:"name"`
	Instances []jsonInstance `json:"instance"`
}

type jsonApplications struct {
	VersionsDelta string            `json:"versions__delta"`
	AppsHashCode  string            `json:"apps__hashcode"`
	Apps          []jsonApplication `json:"application"`
}

type xmlPort struct {
	Number  int64  `xml:",chardata"`
	Enabled string `xml:"enabled,attr"`
}

// xmlMap writes each entry as an element named by its key, in key order.
type xmlMap map[string]string

func (m xmlMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func (m *xmlMap) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	out := xmlMap{}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var v string
			if err := d.DecodeElement(&v, &t); err != nil {
				return err
			}
			out[t.Name.Local] = v
		case xml.EndElement:
			*m = out
			return nil
		}
	}
}

type xmlDataCenter struct {
	Class    string `xml:"class,attr,omitempty"`
	Name     string `xml:"name"`
	Metadata xmlMap `xml:"metadata"`
}

type xmlLease struct {
	RenewalIntervalInSecs int64 `xml:"renewalIntervalInSecs"`
	DurationInSecs        int64 `xml:"durationInSecs"`
	RegistrationTimestamp int64 `xml:"registrationTimestamp"`
	LastRenewalTimestamp  int64 `xml:"lastRenewalTimestamp"`
	EvictionTimestamp     int64 `xml:"evictionTimestamp"`
	ServiceUpTimestamp    int64 `xml:"serviceUpTimestamp"`
}

// xmlInstance is an instance in Eureka's XML form: <instance>…</instance>.
type xmlInstance struct {
	XMLName                       xml.Name      `xml:"instance"`
	InstanceID                    string        `xml:"instanceId"`
	HostName                      string        `xml:"hostName"`
	App                           string        `xml:"app"`
	IPAddr                        string        `xml:"ipAddr"`
	Status                        string        `xml:"status"`
	OverriddenStatus              string        `xml:"overriddenstatus"`
	OverriddenStatusCamel         string        `xml:"overriddenStatus,omitempty"` // read only
	Port                          xmlPort       `xml:"port"`
	SecurePort                    xmlPort       `xml:"securePort"`
	CountryID                     int64         `xml:"countryId"`
	DataCenterInfo                xmlDataCenter `xml:"dataCenterInfo"`
	LeaseInfo                     xmlLease      `xml:"leaseInfo"`
	Metadata                      xmlMap        `xml:"metadata"`
	HomePageURL                   string        `xml:"homePageUrl"`
	StatusPageURL                 string        `xml:"statusPageUrl"`
	HealthCheckURL                string        `xml:"healthCheckUrl"`
	VIPAddress                    string        `xml:"vipAddress"`
	SecureVIPAddress              string        `xml:"secureVipAddress"`
	IsCoordinatingDiscoveryServer string        `xml:"isCoordinatingDiscoveryServer"`
	LastUpdatedTimestamp          int64         `xml:"lastUpdatedTimestamp"`
	LastDirtyTimestamp            int64         `xml:"lastDirtyTimestamp"`
	ActionType                    string        `xml:"actionType,omitempty"`
}

type xmlApplication struct {
	XMLName   xml.Name      `xml:"application"`
	Name      string        `xml:"name"`
	Instances []xmlInstance `xml:"instance"`
}

type xmlApplications struct {
	XMLName       xml.Name         `xml:"applications"`
	VersionsDelta int64            `xml:"versions__delta"`
	AppsHashCode  string           `xml:"apps__hashcode"`
	Apps          []xmlApplication `xml:"application"`
}

func toJSON(in Instance) jsonInstance {
	md := jsonMetadata(in.Metadata)
	if md == nil {
		md = jsonMetadata{}
	}
	return jsonInstance{
		InstanceID: in.InstanceID, HostName: in.HostName, App: in.App, IPAddr: in.IPAddr,
		Status: string(in.Status), OverriddenStatus: string(in.OverriddenStatus),
		Port:       jsonPort{flexInt(in.Port.Number), flexBool(in.Port.Enabled)},
		SecurePort: jsonPort{flexInt(in.SecurePort.Number), flexBool(in.SecurePort.Enabled)},
		CountryID:  flexInt(in.CountryID),
		DataCenterInfo: jsonDataCenter{Class: in.DataCenterInfo.Class, Name: in.DataCenterInfo.Name,
			Metadata: jsonMetadata(in.DataCenterInfo.Metadata)},
		LeaseInfo: jsonLease{
			RenewalIntervalInSecs: flexInt(in.LeaseInfo.RenewalIntervalInSecs), DurationInSecs: flexInt(in.LeaseInfo.DurationInSecs),
			RegistrationTimestamp: flexInt(in.LeaseInfo.RegistrationTimestamp), LastRenewalTimestamp: flexInt(in.LeaseInfo.LastRenewalTimestamp),
			EvictionTimestamp: flexInt(in.LeaseInfo.EvictionTimestamp), ServiceUpTimestamp: flexInt(in.LeaseInfo.ServiceUpTimestamp),
		},
		Metadata:    md,
		HomePageURL: in.HomePageURL, StatusPageURL: in.StatusPageURL, HealthCheckURL: in.HealthCheckURL,
		VIPAddress: in.VIPAddress, SecureVIPAddress: in.SecureVIPAddress,
		IsCoordinatingDiscoveryServer: flexBool(in.IsCoordinatingDiscoveryServer),
		LastUpdatedTimestamp:          strInt(in.LastUpdatedTimestamp), LastDirtyTimestamp: strInt(in.LastDirtyTimestamp),
		ActionType: string(in.ActionType),
	}
}

func fromJSON(j jsonInstance) Instance {
	return Instance{
		InstanceID: j.InstanceID, HostName: j.HostName, App: j.App, IPAddr: j.IPAddr,
		Status: Status(j.Status), OverriddenStatus: Status(j.OverriddenStatus),
		Port:       Port{Number: int(j.Port.Number), Enabled: bool(j.Port.Enabled)},
		SecurePort: Port{Number: int(j.SecurePort.Number), Enabled: bool(j.SecurePort.Enabled)},
		CountryID:  int(j.CountryID),
		DataCenterInfo: DataCenterInfo{Class: j.DataCenterInfo.Class, Name: j.DataCenterInfo.Name,
			Metadata: map[string]string(j.DataCenterInfo.Metadata)},
		LeaseInfo: LeaseInfo{
			RenewalIntervalInSecs: int(j.LeaseInfo.RenewalIntervalInSecs), DurationInSecs: int(j.LeaseInfo.DurationInSecs),
		},
		Metadata:    map[string]string(j.Metadata),
		HomePageURL: j.HomePageURL, StatusPageURL: j.StatusPageURL, HealthCheckURL: j.HealthCheckURL,
		VIPAddress: j.VIPAddress, SecureVIPAddress: j.SecureVIPAddress,
		IsCoordinatingDiscoveryServer: bool(j.IsCoordinatingDiscoveryServer),
		LastDirtyTimestamp:            int64(j.LastDirtyTimestamp),
	}
}

func toXML(in Instance) xmlInstance {
	return xmlInstance{
		InstanceID: in.InstanceID, HostName: in.HostName, App: in.App, IPAddr: in.IPAddr,
		Status: string(in.Status), OverriddenStatus: string(in.OverriddenStatus),
		Port:       xmlPort{int64(in.Port.Number), strconv.FormatBool(in.Port.Enabled)},
		SecurePort: xmlPort{int64(in.SecurePort.Number), strconv.FormatBool(in.SecurePort.Enabled)},
		CountryID:  int64(in.CountryID),
		DataCenterInfo: xmlDataCenter{Class: in.DataCenterInfo.Class, Name: in.DataCenterInfo.Name,
			Metadata: xmlMap(in.DataCenterInfo.Metadata)},
		LeaseInfo: xmlLease{
			RenewalIntervalInSecs: int64(in.LeaseInfo.RenewalIntervalInSecs), DurationInSecs: int64(in.LeaseInfo.DurationInSecs),
			RegistrationTimestamp: in.LeaseInfo.RegistrationTimestamp, LastRenewalTimestamp: in.LeaseInfo.LastRenewalTimestamp,
			EvictionTimestamp: in.LeaseInfo.EvictionTimestamp, ServiceUpTimestamp: in.LeaseInfo.ServiceUpTimestamp,
		},
		Metadata:    xmlMap(in.Metadata),
		HomePageURL: in.HomePageURL, StatusPageURL: in.StatusPageURL, HealthCheckURL: in.HealthCheckURL,
		VIPAddress: in.VIPAddress, SecureVIPAddress: in.SecureVIPAddress,
		IsCoordinatingDiscoveryServer: strconv.FormatBool(in.IsCoordinatingDiscoveryServer),
		LastUpdatedTimestamp:          in.LastUpdatedTimestamp, LastDirtyTimestamp: in.LastDirtyTimestamp,
		ActionType: string(in.ActionType),
	}
}

func fromXML(x xmlInstance) (Instance, error) {
	var errs []error
	enabled := func(path, s string) bool {
		switch strings.TrimSpace(s) {
		case "true":
			return true
		case "false", "":
			return false
		}
		errs = append(errs, fmt.Errorf("instance.%s@enabled: %q is not true or false", path, s))
		return false
	}
	over := x.OverriddenStatus
	if over == "" {
		over = x.OverriddenStatusCamel
	}
	in := Instance{
		InstanceID: x.InstanceID, HostName: x.HostName, App: x.App, IPAddr: x.IPAddr,
		Status: Status(x.Status), OverriddenStatus: Status(over),
		Port:       Port{Number: int(x.Port.Number), Enabled: enabled("port", x.Port.Enabled)},
		SecurePort: Port{Number: int(x.SecurePort.Number), Enabled: enabled("securePort", x.SecurePort.Enabled)},
		CountryID:  int(x.CountryID),
		DataCenterInfo: DataCenterInfo{Class: x.DataCenterInfo.Class, Name: x.DataCenterInfo.Name,
			Metadata: emptyToNil(x.DataCenterInfo.Metadata)},
		LeaseInfo: LeaseInfo{
			RenewalIntervalInSecs: int(x.LeaseInfo.RenewalIntervalInSecs), DurationInSecs: int(x.LeaseInfo.DurationInSecs),
		},
		Metadata:    emptyToNil(x.Metadata),
		HomePageURL: x.HomePageURL, StatusPageURL: x.StatusPageURL, HealthCheckURL: x.HealthCheckURL,
		VIPAddress: x.VIPAddress, SecureVIPAddress: x.SecureVIPAddress,
		IsCoordinatingDiscoveryServer: strings.TrimSpace(x.IsCoordinatingDiscoveryServer) == "true",
		LastDirtyTimestamp:            x.LastDirtyTimestamp,
	}
	return in, errors.Join(errs...)
}

func emptyToNil(m xmlMap) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return map[string]string(m)
}

// decodeInstance reads a registration body: {"instance": {…}} or
// <instance>…</instance>.
func decodeInstance(body []byte, f format) (Instance, error) {
	if f == formatJSON {
		var wrap struct {
			Instance *jsonInstance `json:"instance"`
		}
		if err := json.Unmarshal(body, &wrap); err != nil {
			return Instance{}, fmt.Errorf("decode JSON body: %w", err)
		}
		if wrap.Instance == nil {
			return Instance{}, errors.New(`decode JSON body: want {"instance": {...}}`)
		}
		return fromJSON(*wrap.Instance), nil
	}
	var x xmlInstance
	if err := xml.Unmarshal(body, &x); err != nil {
		return Instance{}, fmt.Errorf("decode XML body: %w", err)
	}
	in, err := fromXML(x)
	if err != nil {
		return Instance{}, fmt.Errorf("decode XML body: %w", err)
	}
	return in, nil
}

func jsonInstances(ins []Instance) []jsonInstance {
	out := make([]jsonInstance, 0, len(ins))
	for _, in := range ins {
		out = append(out, toJSON(in))
	}
	return out
}

func xmlInstances(ins []Instance) []xmlInstance {
	out := make([]xmlInstance, 0, len(ins))
	for _, in := range ins {
		out = append(out, toXML(in))
	}
	return out
}

func encodeApplications(f format, apps Applications) ([]byte, error) {
	if f == formatJSON {
		j := jsonApplications{VersionsDelta: strconv.FormatInt(apps.VersionsDelta, 10),
			AppsHashCode: apps.AppsHashCode, Apps: []jsonApplication{}}
		for _, a := range apps.Apps {
			j.Apps = append(j.Apps, jsonApplication{Name: a.Name, Instances: jsonInstances(a.Instances)})
		}
		return json.Marshal(map[string]any{"applications": j})
	}
	x := xmlApplications{VersionsDelta: apps.VersionsDelta, AppsHashCode: apps.AppsHashCode}
	for _, a := range apps.Apps {
		x.Apps = append(x.Apps, xmlApplication{Name: a.Name, Instances: xmlInstances(a.Instances)})
	}
	return marshalXML(x)
}

func encodeApplication(f format, app Application) ([]byte, error) {
	if f == formatJSON {
		return json.Marshal(map[string]any{"application": jsonApplication{Name: app.Name, Instances: jsonInstances(app.Instances)}})
	}
	return marshalXML(xmlApplication{Name: app.Name, Instances: xmlInstances(app.Instances)})
}

func encodeInstance(f format, in Instance) ([]byte, error) {
	if f == formatJSON {
		return json.Marshal(map[string]any{"instance": toJSON(in)})
	}
	return marshalXML(toXML(in))
}

func marshalXML(v any) ([]byte, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
