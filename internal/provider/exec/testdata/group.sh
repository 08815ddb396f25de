#!/bin/sh
# A stand-in system for the exec provider's tests, in POSIX sh: a group
# whose state is files in $STATE:
#   desired     the desired count
#   instances   one instance a line: ID LAUNCHED_AT READY LEAVING
#   next        the number of the next instance
# Every run appends its op to $STATE/runs and its stdin to
# $STATE/stdin.OP, so tests see what ebb sent.
#
#   group.sh --group G   ebb's operations; the op comes from $EBB_OP
#   group.sh converge    the controller: drops instances that were leaving,
#                        launches or stops instances until as many run as
#                        desired, newest stopped first, and marks them ready
#
# With PICKS=system the group chooses what a remove takes, as Nomad does:
# as many instances as there are victims still listed, first listed first.
set -eu
s=$STATE
[ -f "$s/desired" ] || echo 0 >"$s/desired"
[ -f "$s/instances" ] || : >"$s/instances"
[ -f "$s/next" ] || echo 1 >"$s/next"

if [ "${1:-}" = converge ]; then
	desired=$(cat "$s/desired")
	n=0
	: >"$s/instances.new"
	while read -r id at ready leaving; do
		[ "$leaving" = true ] && continue
		n=$((n + 1))
		[ "$n" -gt "$desired" ] && continue
		echo "$id $at true false" >>"$s/instances.new"
	done <"$s/instances"
	next=$(cat "$s/next")
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	while [ "$n" -lt "$desired" ]; do
		echo "i-$next $now true false" >>"$s/instances.new"
		next=$((next + 1))
		n=$((n + 1))
	done
	echo "$next" >"$s/next"
	mv "$s/instances.new" "$s/instances"
	exit 0
fi

[ "${1:-}" = --group ] && [ "${2:-}" = "$EBB_GROUP" ] || {
	echo "group.sh: want --group $EBB_GROUP, got: $*" >&2
	exit 64
}
op=$EBB_OP
in=$(cat)
echo "$op" >>"$s/runs"
printf '%s\n' "$in" >>"$s/stdin.$op"

case $op in
observe)
	printf '{"version": 1, "desired": %s, "instances": [' "$(cat "$s/desired")"
	sep=
	while read -r id at ready leaving; do
		printf '%s\n  {"id": "%s", "addr": "127.0.0.1:%s", "zone": "z%s", "ready": %s, "leaving": %s, "launched_at": "%s"}' \
			"$sep" "$id" $((20000 + ${id#i-})) $((${id#i-} % 2)) "$ready" "$leaving" "$at"
		sep=,
	done <"$s/instances"
	printf '\n], "min": 0, "max": 50}\n'
	;;
set_desired)
	desired=$(printf '%s' "$in" | sed -n 's/.*"desired":\([0-9][0-9]*\).*/\1/p')
	[ -n "$desired" ] || { echo "group.sh: no desired in $in" >&2; exit 65; }
	echo "$desired" >"$s/desired"
	echo '{"version": 1}'
	;;
remove)
	victims=" $(printf '%s' "$in" | sed -n 's/.*"victims":\[\([^]]*\)\].*/\1/p' | tr ',"' '  ') "
	# How many victims are still counted.
	k=0
	while read -r id at ready leaving; do
		case $victims in *" $id "*) [ "$leaving" = false ] && k=$((k + 1)) ;; esac
	done <"$s/instances"
	: >"$s/instances.new"
	taken=0
	while read -r id at ready leaving; do
		if [ "$leaving" = false ]; then
			if [ "${PICKS:-ebb}" = system ]; then
				[ "$taken" -lt "$k" ] && { taken=$((taken + 1)); continue; }
			else
				case $victims in *" $id "*) continue ;; esac
			fi
		fi
		echo "$id $at $ready $leaving" >>"$s/instances.new"
	done <"$s/instances"
	mv "$s/instances.new" "$s/instances"
	echo $(($(cat "$s/desired") - k)) >"$s/desired"
	;;
*)
	echo "group.sh: unknown op $op" >&2
	exit 64
	;;
esac
