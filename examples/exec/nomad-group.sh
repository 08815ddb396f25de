#!/bin/sh
# EXAMPLE for ebb's exec provider (schema version 1): the count of a Nomad
# job's task group. Untested against a live cluster: read it, adapt it, try
# it on staging.
#
#   nomad-group.sh JOB GROUP     (op from $EBB_OP; NOMAD_ADDR, NOMAD_TOKEN
#                                 from the environment, e.g. ebb's env: key)
#
# Needs the nomad CLI, POSIX sh, awk, sort and a date that takes -d @SECONDS
# (GNU coreutils or BusyBox).
#
#   observe      desired = the group's count (nomad job inspect -t); min and
#                max from its scaling block; instances = its allocations
#                that are pending or running (nomad job allocs -t)
#   set_desired  nomad job scale -detach JOB GROUP N
#   remove       nomad job scale to the count less the victims still listed.
#                Nomad stops the allocations with the highest name index
#                (JOB.GROUP[i]) itself, so use picks: system: observe lists
#                them highest index first, and ebb drains those.
set -eu
job=$1 group=$2
# ebb writes stdin as one line of compact JSON.
in=$(cat)

# "COUNT MIN MAX" of the group; MIN and MAX are <nil> or absent without a
# scaling block.
counts() {
	nomad job inspect -t '{{range .TaskGroups}}{{.Name}} {{.Count}}{{with .Scaling}} {{.Min}} {{.Max}}{{end}}{{"\n"}}{{end}}' "$job" |
		awk -v g="$group" '$1 == g { print $2, $3, $4 }'
}

# One allocation a line, highest name index first:
# name|id|client status|desired status|create time (ns).
allocs() {
	nomad job allocs -t '{{range .}}{{.TaskGroup}}|{{.Name}}|{{.ID}}|{{.ClientStatus}}|{{.DesiredStatus}}|{{.CreateTime}}{{"\n"}}{{end}}' "$job" |
		awk -F'|' -v g="$group" '$1 == g && ($4 == "pending" || $4 == "running") { print $2 "|" $3 "|" $4 "|" $5 "|" $6 }' |
		sort -t'[' -k2,2nr
}

scale() {
	nomad job scale -detach "$job" "$group" "$1" >/dev/null
}

case $EBB_OP in
observe)
	set -- $(counts)
	[ $# -ge 1 ] || { echo "job $job has no group $group" >&2; exit 65; }
	printf '{"version": 1, "desired": %s' "$1"
	case ${2:-} in '' | *[!0-9]*) ;; *) printf ', "min": %s' "$2" ;; esac
	case ${3:-} in '' | *[!0-9]*) ;; *) printf ', "max": %s' "$3" ;; esac
	printf ', "instances": ['
	sep=
	allocs | while IFS='|' read -r name id client want created; do
		r=false l=false
		[ "$client" = running ] && r=true
		[ "$want" = run ] || l=true
		at=$(date -u -d "@$((created / 1000000000))" +%Y-%m-%dT%H:%M:%SZ)
		printf '%s\n {"id": "%s", "ready": %s, "leaving": %s, "launched_at": "%s"}' "$sep" "$id" "$r" "$l" "$at"
		sep=,
	done
	printf ']}\n'
	;;
set_desired)
	n=$(printf '%s' "$in" | sed -n 's/.*"desired":\([0-9][0-9]*\).*/\1/p')
	[ -n "$n" ] || { echo "no desired in stdin" >&2; exit 65; }
	scale "$n"
	;;
remove)
	victims=" $(printf '%s' "$in" | sed -n 's/.*"victims":\[\([^]]*\)\].*/\1/p' | tr ',"' '  ') "
	k=0
	for id in $(allocs | awk -F'|' '$4 == "run" { print $2 }'); do
		case $victims in *" $id "*) k=$((k + 1)) ;; esac
	done
	[ "$k" -gt 0 ] || exit 0 # all gone already
	set -- $(counts)
	scale $(($1 - k))
	;;
esac
