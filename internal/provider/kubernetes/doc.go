// Package kubernetes is the kubernetes capacity provider: it drives a
// Kubernetes workload — a Deployment, a StatefulSet, or any resource with
// a scale subresource, such as a FlinkDeployment — through that
// subresource, with client-go.
//
//   - Observe reads the scale (spec.replicas is the desired count,
//     status.selector finds the Pods) and lists the Pods: a Pod's name is
//     the instance ID, its Ready condition says ready, a deletion timestamp
//     says leaving, POD_IP:port is its address, and its Node's zone label
//     its zone.
//   - SetDesired writes spec.replicas through the scale subresource, with
//     the resourceVersion it read, again on a conflict.
//   - Remove marks the victims with controller.kubernetes.io/pod-deletion-cost
//     "-2147483648", so that their ReplicaSet deletes them first, and only
//     then lowers the replicas by as many. For a StatefulSet, which removes
//     its highest ordinals and ignores deletion costs, the provider is a
//     provider.Picker naming those ordinals, and Remove lowers the replicas
//     after checking the victims are them.
//
// Every request is bounded by the config's timeout and retried on
// throttling (429, honouring Retry-After up to 10s), 5xx answers, timeouts
// and lost connections, at most four tries with exponential backoff and
// full jitter; all requests of a group share a client-side rate limit
// (qps, burst).
//
// A group's config, with its defaults spelled out:
//
//	groups:
//	  - name: web
//	    capacity: {max: 20}
//	    provider:
//	      kubernetes:
//	        kubeconfig: ""                # in-cluster, else $KUBECONFIG or ~/.kube/config
//	        context: ""
//	        namespace: shop
//	        resource:
//	          group: apps
//	          resource: deployments
//	          name: "{{.Group}}"         # the Deployment "web"
//	        port: 8080                    # probes and drains reach POD_IP:8080
//	        zone_label: topology.kubernetes.io/zone
//	        qps: 5
//	        burst: 10
//	        timeout: 10s
//
// Elect is leader election over a coordination.k8s.io Lease (client-go's
// leaderelection), for several replicas of ebb of which one acts.
//
// The service account needs get and update on the resource's scale
// subresource (deployments/scale), list and patch on pods, get on the
// resource for a StatefulSet, and get on nodes unless zone_label is "".
package kubernetes
