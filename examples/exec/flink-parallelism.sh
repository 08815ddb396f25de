#!/bin/sh
# EXAMPLE for ebb's exec provider (schema version 1): a Flink job's
# parallelism, through the Flink Kubernetes operator's FlinkDeployment.
# Untested against a live cluster: read it, adapt it, try it on staging.
#
#   flink-parallelism.sh NAMESPACE DEPLOYMENT     (op from $EBB_OP)
#
# Assumes native mode with taskmanager.numberOfTaskSlots: "1", so each
# TaskManager pod is one unit of parallelism; the operator labels them
# app=DEPLOYMENT,component=taskmanager. Needs kubectl and POSIX sh only.
#
#   observe      desired = .spec.job.parallelism; instances = TaskManager pods
#   set_desired  kubectl patch --type merge {"spec":{"job":{"parallelism":N}}}
#   remove       lowers the parallelism by the victims still listed: Flink
#                restarts the job (from its last checkpoint or savepoint, per
#                the upgradeMode) and chooses its TaskManagers itself, so use
#                picks: system.
set -eu
ns=$1 name=$2
kc() { kubectl --namespace "$ns" "$@"; }
# ebb writes stdin as one line of compact JSON.
in=$(cat)

parallelism() {
	kc get flinkdeployment "$name" -o jsonpath='{.spec.job.parallelism}'
}

# One pod a line: name|creationTimestamp|Ready status|deletionTimestamp.
# Highest name first: what picks: system drains first.
pods() {
	kc get pods -l "app=$name,component=taskmanager" -o \
		jsonpath='{range .items[*]}{.metadata.name}{"|"}{.metadata.creationTimestamp}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"|"}{.metadata.deletionTimestamp}{"\n"}{end}' |
		sort -r
}

patch() {
	kc patch flinkdeployment "$name" --type merge -p "{\"spec\":{\"job\":{\"parallelism\":$1}}}" >/dev/null
}

case $EBB_OP in
observe)
	p=$(parallelism)
	printf '{"version": 1, "desired": %s, "instances": [' "${p:-0}"
	sep=
	pods | while IFS='|' read -r pod created ready deleting; do
		[ -n "$pod" ] || continue
		r=false l=false
		[ "$ready" = True ] && r=true
		[ -n "$deleting" ] && l=true
		printf '%s\n {"id": "%s", "ready": %s, "leaving": %s, "launched_at": "%s"}' "$sep" "$pod" "$r" "$l" "$created"
		sep=,
	done
	printf ']}\n'
	;;
set_desired)
	n=$(printf '%s' "$in" | sed -n 's/.*"desired":\([0-9][0-9]*\).*/\1/p')
	[ -n "$n" ] || { echo "no desired in stdin" >&2; exit 65; }
	# Flink cannot run a job at parallelism 0: suspend it instead (not done here).
	[ "$n" -ge 1 ] || { echo "parallelism 0: set capacity.min to 1 or more" >&2; exit 65; }
	patch "$n"
	;;
remove)
	victims=" $(printf '%s' "$in" | sed -n 's/.*"victims":\[\([^]]*\)\].*/\1/p' | tr ',"' '  ') "
	k=0
	for pod in $(pods | cut -d'|' -f1); do
		case $victims in *" $pod "*) k=$((k + 1)) ;; esac
	done
	[ "$k" -gt 0 ] || exit 0 # all gone already
	p=$(parallelism)
	[ $((p - k)) -ge 1 ] || { echo "would lower parallelism $p below 1" >&2; exit 65; }
	patch $((p - k))
	;;
esac
