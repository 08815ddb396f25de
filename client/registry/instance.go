package registry

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Status is an instance's Eureka status.
type Status string

// The statuses Eureka knows. Next and Do send traffic only to UP instances.
const (
	StatusUp           Status = "UP"
	StatusDown         Status = "DOWN"
	StatusStarting     Status = "STARTING"
	StatusOutOfService Status = "OUT_OF_SERVICE"
	StatusUnknown      Status = "UNKNOWN"
)

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

// Data-center names, and the Java classes Eureka names them by in JSON. A
// registration with no data center is sent as DataCenterMyOwn.
const (
	DataCenterMyOwn  = "MyOwn"
	DataCenterAmazon = "Amazon"

	ClassDefaultDataCenterInfo = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
	ClassAmazonInfo            = "com.netflix.appinfo.AmazonInfo"
)

// DataCenterInfo says where an instance runs. Class is the Java class Eureka
// names in JSON ("@class"); the client fills it from Name when empty, as a
// Java Eureka server needs it to read the registration.
type DataCenterInfo struct {
	Class    string
	Name     string
	Metadata map[string]string
}

// LeaseInfo is an instance's lease as the registry reports it; timestamps
// are Unix milliseconds, filled by the registry. A registrant chooses only
// the two durations (0: the registry's default, except that the client
// fills RenewalIntervalInSecs from Options.RenewalInterval).
type LeaseInfo struct {
	RenewalIntervalInSecs int
	DurationInSecs        int
	RegistrationTimestamp int64
	LastRenewalTimestamp  int64
	EvictionTimestamp     int64
	ServiceUpTimestamp    int64
}

// Instance is Eureka's InstanceInfo: what an instance registers, and what
// the registry hands back. Timestamps are Unix milliseconds.
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

// ID is the instance's identity within its app: instanceId, or, as Eureka
// does for registrants that send none, the Amazon instance-id or the host
// name.
func (in Instance) ID() string {
	if in.InstanceID != "" {
		return in.InstanceID
	}
	if in.DataCenterInfo.Name == DataCenterAmazon && in.DataCenterInfo.Metadata["instance-id"] != "" {
		return in.DataCenterInfo.Metadata["instance-id"]
	}
	return in.HostName
}

// BaseURL is where Do sends requests to the instance: http on its port when
// that is enabled, else https on its secure port, at its IP address (its
// host name when it registered none). It is "" when neither port is
// enabled.
func (in Instance) BaseURL() string {
	host := cmp.Or(in.IPAddr, in.HostName)
	switch {
	case in.Port.Enabled:
		return "http://" + net.JoinHostPort(host, strconv.Itoa(in.Port.Number))
	case in.SecurePort.Enabled:
		return "https://" + net.JoinHostPort(host, strconv.Itoa(in.SecurePort.Number))
	}
	return ""
}

// clone returns a deep copy, so the cache never shares maps with callers.
func (in Instance) clone() Instance {
	in.Metadata = maps.Clone(in.Metadata)
	in.DataCenterInfo.Metadata = maps.Clone(in.DataCenterInfo.Metadata)
	return in
}

// Application is one app's instances, sorted by ID.
type Application struct {
	Name      string
	Instances []Instance
}

// Applications is the registry as the client holds it (or a delta): apps
// sorted by name.
type Applications struct {
	// VersionsDelta is the registry's change counter when it was fetched;
	// Eureka clients keep it for logging only.
	VersionsDelta int64
	// AppsHashCode is the registry's reconcile hash code (see HashCode).
	AppsHashCode string
	Apps         []Application
}

// HashCode is Eureka's reconcile hash code of a registry with counts[s]
// instances in status s: for each status present (count above 0), sorted by
// name, the status, "_", its count, "_" — "OUT_OF_SERVICE_1_UP_3_". The
// empty registry's is "". A client compares the hash code a delta carries
// with its copy's, after applying the delta, and fetches the whole registry
// when they differ. ebb's registry server computes its hash code with this
// function, so client and server cannot drift apart.
func HashCode[S ~string](counts map[S]int) string {
	statuses := make([]S, 0, len(counts))
	for s, n := range counts {
		if n > 0 {
			statuses = append(statuses, s)
		}
	}
	slices.Sort(statuses)
	b := make([]byte, 0, 16*len(statuses))
	for _, s := range statuses {
		b = fmt.Appendf(b, "%s_%d_", s, counts[s])
	}
	return string(b)
}

// normalizeApp is how app names compare: Eureka upper-cases them.
func normalizeApp(app string) string { return strings.ToUpper(strings.TrimSpace(app)) }
