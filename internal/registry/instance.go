package registry

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	registryclient "github.com/ebb-autoscaler/ebb/client/registry"
)

// The wire vocabulary (Eureka's InstanceInfo and its parts) is the public
// client's, so that ebb's server and client share one definition of it.
type (
	// Status is an instance's Eureka status.
	Status = registryclient.Status
	// ActionType says what last happened to an instance, as deltas report it.
	ActionType = registryclient.ActionType
	// Port is a port number and whether the instance serves on it.
	Port = registryclient.Port
	// DataCenterInfo says where an instance runs; Class is kept as
	// registered (the registry fills it when empty).
	DataCenterInfo = registryclient.DataCenterInfo
	// LeaseInfo is an instance's lease; the registry fills the timestamps,
	// a registrant chooses the two durations (0: the registry's default).
	LeaseInfo = registryclient.LeaseInfo
	// Instance is Eureka's InstanceInfo. Its ID is instanceId, or, as Eureka
	// does for clients that send none, the Amazon instance-id or the host
	// name.
	Instance = registryclient.Instance
)

// The statuses Eureka knows. Clients send traffic only to UP instances.
const (
	StatusUp           = registryclient.StatusUp
	StatusDown         = registryclient.StatusDown
	StatusStarting     = registryclient.StatusStarting
	StatusOutOfService = registryclient.StatusOutOfService
	StatusUnknown      = registryclient.StatusUnknown
)

// The actions a delta carries.
const (
	ActionAdded    = registryclient.ActionAdded
	ActionModified = registryclient.ActionModified
	ActionDeleted  = registryclient.ActionDeleted
)

// Data-center names and the Java class names Eureka pairs them with.
const (
	DataCenterMyOwn            = registryclient.DataCenterMyOwn
	DataCenterAmazon           = registryclient.DataCenterAmazon
	ClassDefaultDataCenterInfo = registryclient.ClassDefaultDataCenterInfo
	ClassAmazonInfo            = registryclient.ClassAmazonInfo
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

// clone returns a deep copy: maps are never shared between the registry and
// what it hands out.
func clone(in Instance) Instance {
	in.Metadata = maps.Clone(in.Metadata)
	in.DataCenterInfo.Metadata = maps.Clone(in.DataCenterInfo.Metadata)
	return in
}

// normalizeApp is how app names compare: Eureka upper-cases them.
func normalizeApp(app string) string { return strings.ToUpper(strings.TrimSpace(app)) }

// validate checks a registration against the app named in its URL and
// returns every problem at once. It fills what Eureka fills: the app name
// from the URL when the body has none, the data-center class.
func validate(in *Instance, urlApp string) error {
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
