package registry

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Status is an instance's Eureka status.
type Status string

// The statuses Eureka knows. Clients send traffic only to UP instances.
const (
	StatusUp           Status = "UP"
	StatusDown         Status = "DOWN"
	StatusStarting     Status = "STARTING"
	StatusOutOfService Status = "OUT_OF_SERVICE"
	StatusUnknown      Status = "UNKNOWN"
)

// ParseStatus reads a status as Eureka spells it. The empty string is
// UNKNOWN, which is what Eureka assumes for a missing status.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusUp, StatusDown, StatusStarting, StatusOutOfService, StatusUnknown:
		return st, nil
	case "":
		return StatusUnknown, nil
	}
	return "", fmt.Errorf("status %q: must be one of UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN", s)
}

// ActionType says what last happened to an instance, as deltas report it.
type ActionType string

// The actions a delta carries.
const (
	ActionAdded    ActionType = "ADDED"
	ActionModified ActionType = "MODIFIED"
	ActionDeleted  ActionType = "DELETED"
)

// Port is a port number and whether the instance serves on it.
type Port struct {
	Number  int
	Enabled bool
}

// Data-center names and the Java class names Eureka pairs them with.
const (
	DataCenterMyOwn  = "MyOwn"
	DataCenterAmazon = "Amazon"

	ClassDefaultDataCenterInfo = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
	ClassAmazonInfo            = "com.netflix.appinfo.AmazonInfo"
)

// DataCenterInfo says where an instance runs. Class is the Java class a
// Eureka client names in JSON ("@class"); it is kept as registered.
type DataCenterInfo struct {
	Class    string
	Name     string
	Metadata map[string]string
}

// LeaseInfo is an instance's lease as Eureka reports it. The registry fills
// the timestamps (Unix milliseconds); a registrant only chooses the two
// durations (0 means the registry's default).
type LeaseInfo struct {
	RenewalIntervalInSecs int
	DurationInSecs        int
	RegistrationTimestamp int64
	LastRenewalTimestamp  int64
	EvictionTimestamp     int64
	ServiceUpTimestamp    int64
}

// Instance is Eureka's InstanceInfo: what an instance registers, and what
// clients fetch back. Timestamps are Unix milliseconds.
type Instance struct {
	InstanceID       string
	HostName         string
	App              string
	IPAddr           string
	Status           Status
	OverriddenStatus Status
	Port             Port
	SecurePort       Port
	CountryID        int
	VIPAddress       string
	SecureVIPAddress string
	HomePageURL      string
	StatusPageURL    string
	HealthCheckURL   string
	DataCenterInfo   DataCenterInfo
	LeaseInfo        LeaseInfo
	Metadata         map[string]string

	IsCoordinatingDiscoveryServer bool
	LastUpdatedTimestamp          int64
	LastDirtyTimestamp            int64
	ActionType                    ActionType
}

// ID is the instance's identity in its app: instanceId, or, as Eureka does
// for clients that send none, the Amazon instance-id or the host name.
func (in Instance) ID() string {
	if in.InstanceID != "" {
		return in.InstanceID
	}
	if in.DataCenterInfo.Name == DataCenterAmazon {
		if id := in.DataCenterInfo.Metadata["instance-id"]; id != "" {
			return id
		}
	}
	return in.HostName
}

// clone returns a deep copy: maps are never shared between the registry and
// what it hands out.
func (in Instance) clone() Instance {
	in.Metadata = cloneMap(in.Metadata)
	in.DataCenterInfo.Metadata = cloneMap(in.DataCenterInfo.Metadata)
	return in
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// normalizeApp is how app names compare: Eureka upper-cases them.
func normalizeApp(app string) string { return strings.ToUpper(strings.TrimSpace(app)) }

// validate checks a registration against the app named in its URL and
// returns every problem at once. It fills what Eureka fills: the app name
// from the URL when the body has none, the data-center class.
func (in *Instance) validate(urlApp string) error {
	var errs []error
	app := normalizeApp(urlApp)
	if app == "" {
		errs = append(errs, errors.New("app: missing"))
	}
	if in.App == "" {
		in.App = app
	}
	in.App = normalizeApp(in.App)
	if app != "" && in.App != app {
		errs = append(errs, fmt.Errorf("instance.app: %q does not match the app %q in the path", in.App, app))
	}
	if in.ID() == "" {
		errs = append(errs, errors.New("instance.instanceId: missing (and no hostName to fall back on)"))
	}
	if strings.ContainsAny(in.ID(), "/?#") {
		errs = append(errs, fmt.Errorf("instance.instanceId: %q must not contain '/', '?' or '#'", in.ID()))
	}
	if in.HostName == "" {
		errs = append(errs, errors.New("instance.hostName: missing"))
	}
	if in.IPAddr == "" {
		errs = append(errs, errors.New("instance.ipAddr: missing"))
	}
	if in.DataCenterInfo.Name == "" {
		errs = append(errs, errors.New("instance.dataCenterInfo.name: missing"))
	}
	if in.DataCenterInfo.Class == "" {
		in.DataCenterInfo.Class = ClassDefaultDataCenterInfo
		if in.DataCenterInfo.Name == DataCenterAmazon {
			in.DataCenterInfo.Class = ClassAmazonInfo
		}
	}
	for _, p := range []struct {
		name string
		port Port
	}{{"port", in.Port}, {"securePort", in.SecurePort}} {
		if p.port.Number < 0 || p.port.Number > 65535 {
			errs = append(errs, fmt.Errorf("instance.%s: %d is not a port number", p.name, p.port.Number))
		}
	}
	if in.LeaseInfo.RenewalIntervalInSecs < 0 {
		errs = append(errs, fmt.Errorf("instance.leaseInfo.renewalIntervalInSecs: must be >= 0, got %d", in.LeaseInfo.RenewalIntervalInSecs))
	}
	if in.LeaseInfo.DurationInSecs < 0 {
		errs = append(errs, fmt.Errorf("instance.leaseInfo.durationInSecs: must be >= 0, got %d", in.LeaseInfo.DurationInSecs))
	}
	errs = append(errs, validateMetadataKeys("instance.metadata", in.Metadata)...)
	errs = append(errs, validateMetadataKeys("instance.dataCenterInfo.metadata", in.DataCenterInfo.Metadata)...)
	return errors.Join(errs...)
}

// validateMetadataKeys refuses keys that cannot be XML element names:
// Eureka's XML form writes each metadata entry as an element.
func validateMetadataKeys(path string, m map[string]string) []error {
	var errs []error
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !isXMLName(k) {
			errs = append(errs, fmt.Errorf("%s: key %q is not a valid XML element name", path, k))
		}
	}
	return errs
}

func isXMLName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !letter {
			return false
		}
		if !letter && r != '-' && r != '.' && !(r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
